"""The connections a process holds to the four servers, opened and closed together."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import redis.asyncio as aioredis
from aiokafka import AIOKafkaProducer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from db.session import make_engine, make_sessionmaker
from settings import Settings
from workers import analytics
from workers.kafka import PRODUCER


@dataclass(slots=True)
class Connections:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    redis: "aioredis.Redis"
    producer: AIOKafkaProducer

    async def probe(self) -> dict[str, str]:
        """Reach every server once; the value is 'ok' or why not."""
        results: dict[str, str] = {}
        probes = {
            "postgres": self._postgres,
            "redis": self._redis,
            "kafka": self._kafka,
            "clickhouse": self._clickhouse,
        }
        for name, probe in probes.items():
            try:
                await probe()
                results[name] = "ok"
            except Exception as exc:
                results[name] = f"{type(exc).__name__}: {exc}"[:300]
        return results

    async def _postgres(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def _redis(self) -> None:
        await self.redis.ping()

    async def _kafka(self) -> None:
        await self.producer.client.fetch_all_metadata()

    async def _clickhouse(self) -> None:
        await analytics.command(self.settings.clickhouse_dsn, "SELECT 1")


@asynccontextmanager
async def open_connections(settings: Settings) -> AsyncIterator[Connections]:
    engine = make_engine(settings.database_url)
    redis = aioredis.from_url(settings.redis_url)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, **PRODUCER)
    await producer.start()
    try:
        yield Connections(settings, engine, make_sessionmaker(engine), redis, producer)
    finally:
        await producer.stop()
        await redis.aclose()
        await engine.dispose()
