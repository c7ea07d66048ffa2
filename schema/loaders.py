"""DataLoaders, made per request: a nested query costs a fixed number of SQL statements, and
one Redis round trip for the live figures of all its markets."""

from collections.abc import Sequence

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from strawberry.dataloader import DataLoader

from db.markets import markets_by_ids
from db.models import Market
from workers.books import BookSnapshot, MarketStats, read_books, read_stats


class Loaders:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        # Rows, not schema types: the resolver maps them with the request's clock. The load
        # functions close over what they need, not over self: a loader holding its owner's
        # bound method would make each request's Loaders a cycle for the garbage collector.

        async def markets(ids: Sequence[int]) -> list[Market | None]:
            async with sessions() as session:
                found = await markets_by_ids(session, ids)
            return [found.get(market_id) for market_id in ids]

        self.market: DataLoader[int, Market | None] = DataLoader(load_fn=markets)
        self._stats: DataLoader[int, MarketStats | None] | None = None
        self._books: DataLoader[int, BookSnapshot | None] | None = None

    # The Redis loaders are made on first use, with the client of the request's connections
    # (the context builds Loaders from the session maker alone).

    def stats(self, redis: "aioredis.Redis") -> DataLoader[int, MarketStats | None]:
        """The matcher's market stats: one pipeline of HGETALLs per batch of ids."""
        if self._stats is None:

            async def load(ids: Sequence[int]) -> list[MarketStats | None]:
                found = await read_stats(redis, ids)
                return [found.get(market_id) for market_id in ids]

            self._stats = DataLoader(load_fn=load)
        return self._stats

    def books(self, redis: "aioredis.Redis") -> DataLoader[int, BookSnapshot | None]:
        """The matcher's book snapshots: one MGET per batch of ids."""
        if self._books is None:

            async def load(ids: Sequence[int]) -> list[BookSnapshot | None]:
                found = await read_books(redis, ids)
                return [found.get(market_id) for market_id in ids]

            self._books = DataLoader(load_fn=load)
        return self._books
