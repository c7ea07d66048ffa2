import asyncio
import re
import uuid

import strawberry
from strawberry.types import Info

from auth.passwords import hash_password, verify_password
from auth.tokens import REFRESH_TTL, digest, issue_access_token, new_secret
from auth.viewer import Viewer
from db import users
from db.enums import ApiScope as ScopeRow
from db.enums import Role as RoleRow
from db.models import User as UserRow
from resolvers.access import session_user, signed_in
from resolvers.paging import parse_id
from schema.common import (
    Conflict,
    InvalidCredentials,
    InvalidInput,
    InvalidToken,
    NotAuthenticated,
    NotFound,
)
from schema.context import Context
from schema.identity import (
    ApiKey,
    ApiKeyCreated,
    ApiKeyList,
    ApiKeyRevoked,
    ApiKeysResult,
    AuthPayload,
    CreateApiKeyInput,
    CreateApiKeyResult,
    LoggedOut,
    LogInInput,
    LogInResult,
    LogOutResult,
    MeResult,
    RefreshTokenResult,
    RevokeApiKeyResult,
    SignUpInput,
    SignUpResult,
    User,
)

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")


def _check_sign_up(data: SignUpInput) -> InvalidInput | None:
    if len(data.email) > 254 or not EMAIL.match(data.email):
        return InvalidInput(message="Not an email address.", field="email")
    if not 10 <= len(data.password) <= 128:
        return InvalidInput(message="A password has 10 to 128 characters.", field="password")
    if not 1 <= len(data.display_name.strip()) <= 50:
        return InvalidInput(message="A display name has 1 to 50 characters.", field="displayName")
    return None


async def _issue(
    info: Info[Context, None], user: UserRow, family: str | None = None
) -> AuthPayload:
    """Access and refresh tokens for `user`, stored in the caller's transaction."""
    assert user.id is not None
    now = info.context.now
    access, access_expires = issue_access_token(
        info.context.connections.settings.jwt_secret, user.id, RoleRow(user.role), now
    )
    refresh = new_secret("pmr")
    refresh_expires = now + REFRESH_TTL
    async with info.context.connections.sessions() as session:
        await users.store_refresh_token(
            session, user.id, digest(refresh), family or uuid.uuid4().hex, refresh_expires
        )
        await session.commit()
    return AuthPayload(
        access_token=access,
        access_token_expires_at=access_expires,
        refresh_token=refresh,
        refresh_token_expires_at=refresh_expires,
        user=User.from_model(user),
    )


async def sign_up(info: Info[Context, None], input: SignUpInput) -> SignUpResult:
    problem = _check_sign_up(input)
    if problem:
        return problem
    password_hash = await asyncio.to_thread(hash_password, input.password)
    async with info.context.connections.sessions() as session:
        try:
            user = await users.create_user(
                session, input.email.strip(), input.display_name.strip(), password_hash
            )
        except users.EmailTaken:
            return Conflict(message="An account with this email exists.", field="email")
        await session.commit()
    return await _issue(info, user)


async def log_in(info: Info[Context, None], input: LogInInput) -> LogInResult:
    if len(input.email) > 254 or len(input.password) > 128:
        return InvalidCredentials()
    async with info.context.connections.sessions() as session:
        user = await users.user_by_email(session, input.email.strip())
    stored = user.password_hash if user else None
    if not await asyncio.to_thread(verify_password, stored, input.password) or user is None:
        return InvalidCredentials()
    return await _issue(info, user)


async def refresh_token(info: Info[Context, None], refresh_token: str) -> RefreshTokenResult:
    now = info.context.now
    async with info.context.connections.sessions() as session:
        row = await users.refresh_token_by_hash(session, digest(refresh_token))
        if row is None:
            return InvalidToken(message="Unknown refresh token.", field="refreshToken")
        if row.revoked_at is not None:
            # A rotated-out token came back: it was stolen or replayed. End the whole login.
            await users.revoke_refresh_family(session, row.family, now)
            await session.commit()
            return InvalidToken(
                message="This refresh token was already used; the login is revoked.",
                field="refreshToken",
            )
        if row.expires_at <= now:
            return InvalidToken(message="The refresh token has expired.", field="refreshToken")
        row.revoked_at = now
        user = await users.user_by_id(session, row.user_id)
        await session.commit()
    assert user is not None
    return await _issue(info, user, row.family)


async def log_out(info: Info[Context, None], refresh_token: str) -> LogOutResult:
    async with info.context.connections.sessions() as session:
        row = await users.refresh_token_by_hash(session, digest(refresh_token))
        if row is None or row.revoked_at is not None or row.expires_at <= info.context.now:
            return InvalidToken(message="Unknown or spent refresh token.", field="refreshToken")
        await users.revoke_refresh_family(session, row.family, info.context.now)
        await session.commit()
    return LoggedOut()


async def me(info: Info[Context, None]) -> MeResult:
    viewer = signed_in(info)
    if not isinstance(viewer, Viewer):
        return viewer
    async with info.context.connections.sessions() as session:
        user = await users.user_by_id(session, viewer.user_id)
    if user is None:  # a valid token of a deleted user
        return NotAuthenticated(message="This account no longer exists.")
    return User.from_model(user)


async def create_api_key(info: Info[Context, None], input: CreateApiKeyInput) -> CreateApiKeyResult:
    viewer = session_user(info)
    if not isinstance(viewer, Viewer):
        return viewer
    if not 1 <= len(input.name.strip()) <= 50:
        return InvalidInput(message="A key name has 1 to 50 characters.", field="name")
    if not input.scopes:
        return InvalidInput(message="Give the key at least one scope.", field="scopes")
    secret = new_secret("pmk")
    async with info.context.connections.sessions() as session:
        if len(await users.api_keys_of(session, viewer.user_id)) >= 50:
            return InvalidInput(message="At most 50 API keys per user.", field="name")
        key = await users.create_api_key(
            session,
            viewer.user_id,
            input.name.strip(),
            secret[:12],
            digest(secret),
            [ScopeRow(s.name) for s in input.scopes],
        )
        await session.commit()
    return ApiKeyCreated(api_key=ApiKey.from_model(key), secret=secret)


async def api_keys(info: Info[Context, None]) -> ApiKeysResult:
    viewer = session_user(info)
    if not isinstance(viewer, Viewer):
        return viewer
    async with info.context.connections.sessions() as session:
        rows = await users.api_keys_of(session, viewer.user_id)
    return ApiKeyList(items=[ApiKey.from_model(row) for row in rows])


async def revoke_api_key(info: Info[Context, None], id: strawberry.ID) -> RevokeApiKeyResult:
    viewer = session_user(info)
    if not isinstance(viewer, Viewer):
        return viewer
    key_id = parse_id(id)
    async with info.context.connections.sessions() as session:
        if key_id is None or not await users.revoke_api_key(
            session, viewer.user_id, key_id, info.context.now
        ):
            return NotFound(message="No such API key.", field="id")
        await session.commit()
        rows = await users.api_keys_of(session, viewer.user_id)
    revoked = next(row for row in rows if row.id == key_id)
    return ApiKeyRevoked(api_key=ApiKey.from_model(revoked))


@strawberry.type
class IdentityQuery:
    me: MeResult = strawberry.field(resolver=me, description="The signed-in user.")
    api_keys: ApiKeysResult = strawberry.field(
        resolver=api_keys, description="The signed-in user's API keys (session only)."
    )


@strawberry.type
class IdentityMutation:
    sign_up: SignUpResult = strawberry.mutation(
        resolver=sign_up, description="Open an account; returns tokens."
    )
    log_in: LogInResult = strawberry.mutation(
        resolver=log_in, description="Sign in with email and password; returns tokens."
    )
    refresh_token: RefreshTokenResult = strawberry.mutation(
        resolver=refresh_token,
        description="Trade a refresh token for new tokens. Each refresh token works once; a"
        " reused one revokes the whole login.",
    )
    log_out: LogOutResult = strawberry.mutation(
        resolver=log_out, description="Revoke a refresh token and every token rotated from it."
    )
    create_api_key: CreateApiKeyResult = strawberry.mutation(
        resolver=create_api_key,
        description="A partner API key; the secret is returned once (session only).",
    )
    revoke_api_key: RevokeApiKeyResult = strawberry.mutation(
        resolver=revoke_api_key, description="Revoke one of your API keys (session only)."
    )
