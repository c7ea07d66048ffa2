"""Real servers for the whole test session: embedded ones, or those whose URLs are set in the
environment (DATABASE_URL, REDIS_URL, KAFKA_BOOTSTRAP, CLICKHOUSE_DSN)."""

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from db import migrate as migrations
from db.audit import run_audit
from servers import EmbeddedStack
from settings import Environment, Settings
from workers.connections import Connections, open_connections
from workers.kafka import ensure_topics

TABLES = (
    "ledger_entries, trades, commands, positions, orders, market_sequences, markets, "
    "refresh_tokens, api_keys, accounts, users, matcher_offsets"
)


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    base = Settings(
        environment=Environment.TEST,
        data_dir=Path(tmp_path_factory.mktemp("data")),
        embedded_durable=False,
        kafka_topic_prefix=f"test-{uuid.uuid4().hex[:8]}-",
        order_wait_ms=100,  # no matcher listens to the shared test topics
    )
    with EmbeddedStack(base) as filled:
        migrations.upgrade(filled.database_url)
        yield filled


@pytest.fixture(scope="session")
async def session_connections(settings: Settings) -> AsyncIterator[Connections]:
    await ensure_topics(settings)
    async with open_connections(settings) as connections:
        yield connections


@pytest.fixture
async def connections(session_connections: Connections) -> AsyncIterator[Connections]:
    """The servers, for one test. After it: the money audit must be exact, then every
    table and the Redis database are emptied for the next test."""
    yield session_connections
    async with session_connections.sessions() as session:
        report = await run_audit(session)
        await session.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
        await session.commit()
    await session_connections.redis.flushdb()
    assert report.ok, "conservation audit failed:\n" + "\n".join(report.discrepancies)
