"""The whole exchange for scenario tests: the API served over real HTTP (with its market
closer), and an in-process matcher consuming the API's own Kafka topics.

One matcher and one server serve a whole module: a consumer group takes seconds to join, a
test takes a fraction of one. Between tests the `connections` fixture empties every table
and restarts the ids, so the matcher forgets everything it keeps of them (books, applied
command ids) and the offsets it has consumed are written back: a market or command id seen
again is a new one, and a rebalance resumes where the matcher is instead of replaying the
earlier tests' commands."""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from pyroaring import BitMap64
from sqlalchemy import text

from schema.app import create_app
from settings import Settings
from tests.api.server import serve
from workers.connections import Connections
from workers.kafka import ensure_topics
from workers.matcher import GROUP, Matcher

ORDER_WAIT_MS = 3_000


@dataclass(frozen=True)
class Stack:
    url: str
    connections: Connections
    matcher: Matcher


@pytest.fixture(scope="module")
async def stack(settings: Settings, session_connections: Connections) -> AsyncIterator[Stack]:
    own = settings.model_copy(
        update={
            "kafka_topic_prefix": f"e2e-{uuid.uuid4().hex[:8]}-",
            "order_wait_ms": ORDER_WAIT_MS,
            "rate_limit_per_second": 10_000.0,
            "rate_limit_burst": 10_000,
        }
    )
    await ensure_topics(own)
    shared = session_connections
    connections = Connections(own, shared.engine, shared.sessions, shared.redis, shared.producer)
    matcher = Matcher(connections, tick_seconds=0.1)
    stop, consuming = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(matcher.run(stop, consuming), name="e2e matcher")
    try:
        await asyncio.wait_for(consuming.wait(), 30)
        async with serve(create_app(own, connections, background=True)) as url:
            yield Stack(url, connections, matcher)
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await task


def _forget(matcher: Matcher) -> None:
    matcher.books.clear()
    matcher.partition_of.clear()
    matcher.rebuilt.clear()
    matcher.applied = BitMap64()


async def _store_positions(stack: Stack) -> None:
    """The emptied matcher_offsets, refilled with where the consumer is."""
    consumer = stack.matcher.consumer
    assert consumer is not None, "the matcher stopped"
    positions = [(tp.partition, await consumer.position(tp)) for tp in consumer.assignment()]
    async with stack.connections.sessions() as session:
        for partition, offset in positions:
            await session.execute(
                text(
                    "INSERT INTO matcher_offsets (consumer_group, topic, partition, next_offset)"
                    " VALUES (:g, :t, :p, :o)"
                ),
                {"g": GROUP, "t": stack.matcher.topic, "p": partition, "o": offset},
            )
        await session.commit()


@pytest.fixture
async def clean_stack(stack: Stack, connections: Connections) -> AsyncIterator[Stack]:
    """The module's stack for one test: audited and emptied after it (`connections`)."""
    _forget(stack.matcher)
    await _store_positions(stack)
    yield stack
    _forget(stack.matcher)
