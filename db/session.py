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


def make_engine(database_url: str, *, pool_size: int = 10) -> AsyncEngine:
    return create_async_engine(
        async_url(database_url), pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
    )


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
