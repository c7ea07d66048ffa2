from sqlalchemy.ext.asyncio import (
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
