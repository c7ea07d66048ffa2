"""DataLoaders, made per request: a nested query costs a fixed number of SQL statements."""

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from strawberry.dataloader import DataLoader

from db.markets import markets_by_ids
from db.models import Market


class Loaders:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions
        # Rows, not schema types: the resolver maps them with the request's clock.
        self.market: DataLoader[int, Market | None] = DataLoader(load_fn=self._markets)

    async def _markets(self, ids: Sequence[int]) -> list[Market | None]:
        async with self.sessions() as session:
            found = await markets_by_ids(session, ids)
        return [found.get(market_id) for market_id in ids]
