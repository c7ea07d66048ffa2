"""Redis stopped and started again under a live order-book subscription: the matcher goes on
committing to Postgres while its publishes fail, and a client resuming with `afterSeq` ends
with the same book as a fresh snapshot (the restarted Redis is empty: a resync).

The sockets that subscribed before the stop stay open across the restart and must not go
silent: the book subscriber is told ResyncRequired and ends with the fresh snapshot (the
batches published before the hub subscribed again are caught up from the stream), and a
private subscriber, whose channel has no stream, is told ResyncRequired and goes on hearing
its orders. A client that reconnects with `afterSeq` ends with the same book.

The session's Redis is shared by every test, so this one runs its own stack on a private
Valkey: the session's Postgres and Kafka producer, topics of its own, an in-process matcher
and the API served over HTTP."""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from sqlalchemy import text

from db import orders as repository
from db.enums import OrderKind, Outcome, SelfTradePrevention, Side, TimeInForce
from resolvers.orders import _place_command
from schema.app import create_app
from servers.process import ServerProcess
from servers.valkey import start_valkey
from settings import Settings
from tests.api.factories import Member
from tests.api.server import serve
from tests.e2e.conftest import ORDER_WAIT_MS, Stack
from tests.e2e.test_live import BOOK_SUB, ORDERS_SUB, Live, apply_updates, bearer, socket
from workers import dispatch
from workers.connections import Connections
from workers.kafka import ensure_topics
from workers.matcher import Matcher


@dataclass
class Private:
    """The stack on its own Valkey, which the test stops and starts again."""

    live: Live
    data_dir: Path
    port: int
    valkey: ServerProcess

    def stop_valkey(self) -> None:
        self.valkey.stop()

    def start_valkey(self) -> None:
        self.valkey, _ = start_valkey(self.data_dir, port=self.port)


@pytest.fixture
async def private(
    settings: Settings, session_connections: Connections, connections: Connections, tmp_path: Path
) -> AsyncIterator[Private]:
    valkey, url = start_valkey(tmp_path)
    own = settings.model_copy(
        update={
            "redis_url": url,
            "kafka_topic_prefix": f"e2e-redis-{uuid.uuid4().hex[:8]}-",
            "order_wait_ms": ORDER_WAIT_MS,
            "rate_limit_per_second": 10_000.0,
            "rate_limit_burst": 10_000,
        }
    )
    redis = aioredis.from_url(url)
    shared = session_connections
    mine = Connections(own, shared.engine, shared.sessions, redis, shared.producer)
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    holder = Private(None, tmp_path, port, valkey)  # type: ignore[arg-type]
    try:
        await ensure_topics(own)
        matcher = Matcher(mine, tick_seconds=0.1)
        stop, consuming = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(matcher.run(stop, consuming), name="redis-restart matcher")
        try:
            await asyncio.wait_for(consuming.wait(), 30)
            async with (
                serve(create_app(own, mine, background=True)) as api,
                httpx.AsyncClient(base_url=api, timeout=10) as http,
            ):
                holder.live = Live(Stack(api, mine, matcher), http)
                yield holder
        finally:
            stop.set()
            with contextlib.suppress(Exception):
                await task
    finally:
        await redis.aclose()
        holder.valkey.stop()


async def place_while_down(
    live: Live, who: Member, market: str, side: str, outcome: str, price: int, qty: int
) -> int:
    """An order placed as the API places one, without it: while Redis is down the API
    answers no request (its rate limiter needs Redis), but Postgres and Kafka are up."""
    wanted = repository.NewOrder(
        market_id=int(market),
        side=Side(side),
        outcome=Outcome(outcome),
        kind=OrderKind.LIMIT,
        time_in_force=TimeInForce.GTC,
        post_only=False,
        stp=SelfTradePrevention.CANCEL_RESTING,
        price=price,
        quantity=qty,
    )
    connections = live.stack.connections
    [placed] = await repository.in_transaction(
        connections.sessions,
        lambda session: repository.place_orders(session, who.id, [wanted], datetime.now(UTC)),
    )
    assert isinstance(placed, repository.Accepted), placed
    assert placed.command_id is not None
    command = _place_command(who.id, placed.order_id, placed.command_id, wanted)
    await dispatch.send(connections, [command])
    return placed.order_id


async def stored_orders(live: Live) -> dict[int, str]:
    async with live.stack.connections.sessions() as session:
        rows = await session.execute(text("SELECT id, status FROM orders"))
        return {int(i): str(s) for i, s in rows}


async def until_applied(live: Live, ids: set[int], seconds: float = 15) -> None:
    """Until the matcher has committed every order (none PENDING in Postgres)."""
    async with asyncio.timeout(seconds):
        while True:
            stored = await stored_orders(live)
            if all(stored.get(i, "PENDING") != "PENDING" for i in ids):
                return
            await asyncio.sleep(0.05)


async def postgres_book(live: Live, market: str, depth: int) -> dict[str, Any]:
    """The YES book of the resting orders in Postgres: what every snapshot must show."""
    bids: dict[int, int] = {}
    asks: dict[int, int] = {}
    async with live.stack.connections.sessions() as session:
        rows = await session.execute(
            text(
                "SELECT side, outcome, price, quantity - filled FROM orders"
                " WHERE market_id = :m AND status IN ('OPEN', 'PARTIALLY_FILLED')"
            ),
            {"m": int(market)},
        )
        for side, outcome, price, remaining in rows:
            yes_bid = (side == "BUY") == (outcome == "YES")
            level, at = (bids, price) if yes_bid else (asks, 100 - price)
            level[at] = level.get(at, 0) + int(remaining)
    return {
        "bids": [{"price": p, "quantity": q} for p, q in sorted(bids.items(), reverse=True)][
            :depth
        ],
        "asks": [{"price": p, "quantity": q} for p, q in sorted(asks.items())][:depth],
    }


def client_book(events: list[dict[str, Any]], depth: int) -> dict[str, Any] | None:
    """A client's book after its events: a snapshot starts over, updates apply to it, and
    a ResyncRequired means none until the next snapshot."""
    book: dict[str, Any] | None = None
    for event in events:
        kind = event["__typename"]
        if kind == "OrderBookSnapshot":
            book = {k: event[k] for k in ("seq", "bids", "asks")}
        elif kind == "ResyncRequired":
            book = None
        elif kind == "BookUpdate":
            assert book is not None, f"an update without a snapshot: {events}"
            book = apply_updates(book, [event], depth)
        else:
            raise AssertionError(event)
    return book


def caught_up(seq: int, depth: int) -> Any:
    def done(events: list[dict[str, Any]]) -> bool:
        book = client_book(events, depth)
        return book is not None and book["seq"] >= seq

    return done


async def test_a_client_resumes_after_redis_restarts(private: Private) -> None:
    live, depth = private.live, 5
    market = await live.market()
    ada, bob = await live.trader("ada"), await live.trader("bob")
    placed: set[int] = set()
    async with (
        socket(live.stack.url) as ws,  # both left open across the restart
        socket(live.stack.url, bearer(ada)) as mine,
    ):
        op = await ws.subscribe(BOOK_SUB, {"m": market, "depth": depth})
        orders = await mine.subscribe(ORDERS_SUB)
        placed.add(int(await live.place(ada, market, "BUY", "YES", 40, 10)))
        placed.add(int(await live.place(ada, market, "BUY", "YES", 41, 5)))
        first = await live.book(market, depth)
        await ws.until(op, caught_up(first["seq"], depth))
        client = client_book(ws.events(op), depth)
        assert client == first

        before = len(ws.events(op))
        private.stop_valkey()
        # while Redis is down: the matcher commits, its publishes fail (and are logged)
        down = {
            await place_while_down(live, bob, market, "BUY", "NO", 59, 5),  # takes the 41 level
            await place_while_down(live, ada, market, "BUY", "YES", 38, 2),
            await place_while_down(live, bob, market, "BUY", "NO", 55, 3),  # a YES ask at 45
        }
        await until_applied(live, down)
        placed |= down

        private.start_valkey()  # same port, empty: no book, no stream
        after = int(await live.place(ada, market, "BUY", "YES", 39, 4))  # a new batch
        placed.add(after)
        fresh = await live.book(market, depth)
        assert {k: fresh[k] for k in ("bids", "asks")} == await postgres_book(live, market, depth)

        # the open book subscriber: told to resync, then the fresh book
        seen = await ws.until(op, caught_up(fresh["seq"], depth))
        assert "ResyncRequired" in [e["__typename"] for e in seen[before:]]
        assert client_book(seen, depth) == fresh

        # the open private subscriber: told to resync (its channel has no stream: what was
        # published before the hub subscribed again is gone), then hears new orders
        def resynced(events: list[dict[str, Any]]) -> bool:
            return any(e["__typename"] == "ResyncRequired" for e in events)

        await mine.until(orders, resynced)
        later = int(await live.place(ada, market, "BUY", "YES", 37, 1))
        placed.add(later)
        heard = await mine.until(orders, lambda es: any(e.get("orderId") == str(later) for e in es))
        assert [e["status"] for e in heard if e.get("orderId") == str(later)][-1] == "OPEN"
        fresh = await live.book(market, depth)

    # the client that reconnects with the last seq it saw
    async with socket(live.stack.url) as again:
        op = await again.subscribe(BOOK_SUB, {"m": market, "depth": depth, "after": client["seq"]})
        resumed = await again.until(op, caught_up(fresh["seq"], depth))
    kinds = [e["__typename"] for e in resumed]
    if kinds[0] == "ResyncRequired":
        assert kinds == ["ResyncRequired", "OrderBookSnapshot"]
        assert resumed[1] == {"__typename": "OrderBookSnapshot", **fresh}
    else:
        assert set(kinds) == {"BookUpdate"}
        assert apply_updates(client, resumed, depth) == fresh

    stored = await stored_orders(live)
    assert set(stored) == placed  # nothing lost while Redis was down
    assert "PENDING" not in stored.values()
