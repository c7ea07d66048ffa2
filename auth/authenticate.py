"""Who is asking: `Authorization: Bearer <access token>` or `X-Api-Key: <secret>`."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from auth.tokens import InvalidToken, digest, verify_access_token
from auth.viewer import ALL_SCOPES, Via, Viewer
from db.enums import ApiScope, Role
from db.users import active_api_key


@dataclass(frozen=True, slots=True)
class Authentication:
    viewer: Viewer | None
    problem: str | None = None  # why credentials that were sent were not accepted


async def authenticate(
    session: AsyncSession,
    secret: str,
    authorization: str | None,
    api_key: str | None,
    now: datetime,
) -> Authentication:
    if api_key:
        found = await active_api_key(session, digest(api_key))
        if found is None:
            return Authentication(None, "The API key is unknown or revoked.")
        key, user = found
        assert user.id is not None
        scopes = frozenset(ApiScope(s) for s in key.scopes)
        return Authentication(Viewer(user.id, Role(user.role), scopes, Via.API_KEY, key.id))
    return authenticate_bearer(secret, authorization, now)


def authenticate_bearer(secret: str, authorization: str | None, now: datetime) -> Authentication:
    """An `Authorization` header alone: no database needed (the token is self-contained)."""
    if not authorization:
        return Authentication(None)
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return Authentication(None, "Use `Authorization: Bearer <access token>`.")
    try:
        claims = verify_access_token(secret, token.strip(), now)
    except InvalidToken as exc:
        return Authentication(None, f"The access token was refused ({exc}).")
    return Authentication(Viewer(claims.user_id, claims.role, ALL_SCOPES, Via.TOKEN))
