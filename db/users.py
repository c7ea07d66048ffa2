"""Users, their refresh tokens and API keys. Secrets are stored only as hashes."""

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from db.enums import ApiScope, Role
from db.models import Account, ApiKey, RefreshToken, User


class EmailTaken(ValueError):
    pass


async def create_user(
    session: AsyncSession,
    email: str,
    display_name: str,
    password_hash: str | None,
    role: Role = Role.USER,
) -> User:
    """A user and their (empty) cash account, in the caller's transaction."""
    user = User(email=email, display_name=display_name, password_hash=password_hash, role=role)
    session.add(user)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise EmailTaken(email) from exc
    assert user.id is not None
    session.add(Account(user_id=user.id))
    await session.flush()
    return user


async def user_by_email(session: AsyncSession, email: str) -> User | None:
    found: User | None = await session.scalar(
        select(User).where(func.lower(col(User.email)) == email.lower())
    )
    return found


async def user_by_id(session: AsyncSession, user_id: int) -> User | None:
    return await session.get(User, user_id)


async def store_refresh_token(
    session: AsyncSession, user_id: int, token_hash: str, family: str, expires_at: datetime
) -> None:
    session.add(
        RefreshToken(user_id=user_id, token_hash=token_hash, family=family, expires_at=expires_at)
    )
    await session.flush()


async def refresh_token_by_hash(session: AsyncSession, token_hash: str) -> RefreshToken | None:
    found: RefreshToken | None = await session.scalar(
        select(RefreshToken).where(col(RefreshToken.token_hash) == token_hash).with_for_update()
    )
    return found


async def revoke_refresh_family(session: AsyncSession, family: str, now: datetime) -> None:
    await session.execute(
        update(RefreshToken)
        .where(col(RefreshToken.family) == family, col(RefreshToken.revoked_at).is_(None))
        .values(revoked_at=now)
    )


async def create_api_key(
    session: AsyncSession,
    user_id: int,
    name: str,
    prefix: str,
    key_hash: str,
    scopes: list[ApiScope],
) -> ApiKey:
    key = ApiKey(
        user_id=user_id,
        name=name,
        prefix=prefix,
        key_hash=key_hash,
        scopes=sorted(s.value for s in scopes),
    )
    session.add(key)
    await session.flush()
    return key


async def api_keys_of(session: AsyncSession, user_id: int) -> list[ApiKey]:
    rows = await session.scalars(
        select(ApiKey).where(col(ApiKey.user_id) == user_id).order_by(col(ApiKey.id))
    )
    return list(rows)


async def active_api_key(session: AsyncSession, key_hash: str) -> tuple[ApiKey, User] | None:
    row = (
        await session.execute(
            select(ApiKey, User)
            .join(User, col(User.id) == col(ApiKey.user_id))
            .where(col(ApiKey.key_hash) == key_hash, col(ApiKey.revoked_at).is_(None))
        )
    ).first()
    return None if row is None else (row[0], row[1])


async def revoke_api_key(session: AsyncSession, user_id: int, key_id: int, now: datetime) -> bool:
    """Revoke one of the user's own keys; False if they have no such active key."""
    result = await session.execute(
        update(ApiKey)
        .where(
            col(ApiKey.id) == key_id,
            col(ApiKey.user_id) == user_id,
            col(ApiKey.revoked_at).is_(None),
        )
        .values(revoked_at=now)
        .returning(col(ApiKey.id))
    )
    return result.first() is not None
