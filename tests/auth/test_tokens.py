"""Access tokens: a verified token is remembered, but never past its expiry."""

from datetime import UTC, datetime, timedelta

import pytest

from auth import tokens
from auth.tokens import ACCESS_TTL, InvalidToken, issue_access_token, verify_access_token
from db.enums import Role

SECRET = "test-secret-that-is-long-enough-for-hs256-keys"


def test_a_remembered_token_is_refused_once_it_expires() -> None:
    issued = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    token, expires = issue_access_token(SECRET, 7, Role.ADMIN, issued)
    first = verify_access_token(SECRET, token, issued)
    assert (first.user_id, first.role, first.expires_at) == (7, Role.ADMIN, expires)
    assert (SECRET, token) in tokens._verified  # the second call is the cached path
    assert verify_access_token(SECRET, token, expires - timedelta(seconds=1)) == first
    with pytest.raises(InvalidToken, match="exp"):
        verify_access_token(SECRET, token, issued + ACCESS_TTL)
    assert (SECRET, token) not in tokens._verified
    with pytest.raises(InvalidToken, match="exp"):  # and verified afresh: still expired
        verify_access_token(SECRET, token, issued + ACCESS_TTL)


def test_a_remembered_token_is_not_valid_under_another_secret() -> None:
    now = datetime.now(UTC)
    token, _ = issue_access_token(SECRET, 8, Role.USER, now)
    verify_access_token(SECRET, token, now)
    with pytest.raises(InvalidToken):
        verify_access_token(SECRET + "-rotated", token, now)


def test_the_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens, "VERIFIED_CACHE", 3)
    tokens._verified.clear()
    now = datetime.now(UTC)
    issued = [issue_access_token(SECRET, user, Role.USER, now)[0] for user in range(1, 6)]
    for token in issued:
        verify_access_token(SECRET, token, now)
    assert list(tokens._verified) == [(SECRET, t) for t in issued[-3:]]
