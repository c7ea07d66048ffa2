"""DataLoaders, made per request: a nested query costs a fixed number of SQL statements."""

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


class Loaders:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions
