"""GTD orders and expire(now): the engine has no clock; time comes in as a command."""

import pytest

from engine import RejectReason, TradeKind
from tests.engine.engine_helpers import (
    ASK,
    BID,
    BUY,
    GTD,
    SELL,
    YES,
    Command,
    acc,
    amend,
    cancel,
    events_after,
    expd,
    expire,
    lvl,
    place,
    rej,
    rested,
)

TY, TN = TradeKind.TRANSFER_YES, TradeKind.TRANSFER_NO
MINT, MERGE = TradeKind.MINT, TradeKind.MERGE

CASES = [
    pytest.param(
        [],
        place(1, 10, BUY, YES, 40, 5, kind=GTD, expires_at=5),
        [acc(1), rested(1, BID, 40, 5), lvl(BID, 40, 5)],
        id="rests-like-gtc",
    ),
    pytest.param(
        [place(1, 10, BUY, YES, 40, 5, kind=GTD, expires_at=5)], expire(4), [], id="not-yet"
    ),
    pytest.param(
        [place(1, 10, BUY, YES, 40, 5, kind=GTD, expires_at=5)],
        expire(5),
        [expd(1, 5), lvl(BID, 40, 0)],
        id="at-its-time",
    ),
    pytest.param(
        [
            place(1, 10, BUY, YES, 40, 5, kind=GTD, expires_at=5),
            place(2, 10, BUY, YES, 40, 1, kind=GTD, expires_at=5),
            place(3, 10, SELL, YES, 60, 2, kind=GTD, expires_at=3),
            place(4, 10, SELL, YES, 61, 2),
        ],
        expire(10),
        [expd(3, 2), lvl(ASK, 60, 0), expd(1, 5), lvl(BID, 40, 1), expd(2, 1), lvl(BID, 40, 0)],
        id="by-expiry-then-id-gtc-stays",
    ),
    pytest.param(
        [place(1, 10, BUY, YES, 40, 5, kind=GTD, expires_at=5), place(2, 11, SELL, YES, 40, 2)],
        expire(6),
        [expd(1, 3), lvl(BID, 40, 0)],
        id="expires-what-is-left",
    ),
    pytest.param(
        [place(1, 10, BUY, YES, 40, 5, kind=GTD, expires_at=5), expire(5)],
        cancel(1),
        [rej(1, RejectReason.UNKNOWN_ORDER)],
        id="expired-is-gone",
    ),
    pytest.param(
        [],
        place(1, 10, BUY, YES, 40, 5, kind=GTD),
        [rej(1, RejectReason.INVALID_EXPIRY)],
        id="gtd-needs-expiry",
    ),
    pytest.param(
        [],
        place(1, 10, BUY, YES, 40, 5, expires_at=9),
        [rej(1, RejectReason.INVALID_EXPIRY)],
        id="gtc-takes-no-expiry",
    ),
    pytest.param(
        [expire(7)],
        place(1, 10, BUY, YES, 40, 5, kind=GTD, expires_at=7),
        [rej(1, RejectReason.INVALID_EXPIRY)],
        id="already-past",
    ),
    pytest.param(
        [place(1, 10, BUY, YES, 40, 5, kind=GTD, expires_at=5), amend(1, new_price=41)],
        expire(5),
        [expd(1, 5), lvl(BID, 41, 0)],
        id="amended-keeps-its-expiry",
    ),
]


@pytest.mark.parametrize(("setup", "command", "expected"), CASES)
def test_gtd_expiry(setup: list[Command], command: Command, expected: list[object]) -> None:
    assert events_after(setup, command) == expected
