from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def async_url(database_url: str) -> str:
    """SQLAlchemy's asyncpg URL for a plain postgresql:// URL."""
    scheme, _, rest = database_url.partition("://")
    if scheme not in ("postgres", "postgresql", "postgresql+asyncpg"):
        raise ValueError(f"DATABASE_URL must be a postgresql:// URL, not {scheme}://")
    return f"postgresql+asyncpg://{rest}"


def make_engine(database_url: str, *, pool_size: int = 64) -> AsyncEngine:
    """No pre-ping: it costs a round trip per checkout, and a connection the server dropped
    is invalidated on its first error anyway (that request fails, the next one reconnects).
    The pool is sized for a busy API process, so connections are not opened and closed."""
    return create_async_engine(
        async_url(database_url),
        pool_size=pool_size,
        max_overflow=pool_size // 2,
        pool_recycle=1800,
    )


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


async def driver_of(connection: AsyncConnection) -> Any:
    """The asyncpg connection under a SQLAlchemy one (for statements SQLAlchemy would slow
    down). SQLAlchemy begins its transaction with its own first statement, not before."""
    raw = (await connection.get_raw_connection()).driver_connection
    assert raw is not None
    return raw


@asynccontextmanager
async def driver_connection(engine: AsyncEngine) -> AsyncIterator[Any]:
    """An asyncpg connection from the engine's pool, outside any transaction: each statement
    on it commits on its own."""
    async with engine.connect() as connection:
        yield await driver_of(connection)
