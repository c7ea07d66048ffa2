"""The matcher against real Kafka and Postgres: commands in, settled effects out, exactly once
across duplicates and restarts. Each test has topics of its own (no stale commands)."""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from db import settlement
from db.audit import run_audit
from db.money import add_cash
from db.session import driver_of
from engine import OrderKind, Outcome, Side, Stp
from tests.db.factories import insert_order, make_market, make_user
from workers import commands
from workers.books import read_stats, stats_key, volume_key
from workers.commands import Command, Place, Resolve
from workers.connections import Connections
from workers.kafka import ORDERS, ensure_topics
from workers.matcher import Matcher, _batch, _quote, resend_pending


@dataclass
class Exchange:
    connections: Connections
    market: int
    matcher: Matcher | None = None
    task: "asyncio.Task[None] | None" = None
    stop: asyncio.Event | None = None

    async def start(self) -> None:
        self.matcher = Matcher(self.connections, tick_seconds=0.1)
        self.stop = asyncio.Event()
        ready = asyncio.Event()
        self.task = asyncio.create_task(self.matcher.run(self.stop, ready))
        await asyncio.wait_for(ready.wait(), 30)

    async def halt(self) -> None:
        if self.task is not None and self.stop is not None:
            self.stop.set()
            await self.task
            self.task = None

    async def user(self, name: str, cash: int = 10_000) -> int:
        async with self.connections.sessions() as session:
            user = await make_user(session, name)
            await add_cash(session, user, cash)
            await session.commit()
        return user

    async def order(
        self,
        user: int,
        side: str,
        outcome: str,
        price: int,
        qty: int,
        *,
        send: bool = True,
        market: int | None = None,
    ) -> Place:
        market = self.market if market is None else market
        async with self.connections.sessions() as session:
            order_id = await insert_order(session, market, user, side, outcome, price, qty)
            command_id = await _command_row(session, market, "PLACE", order_id, user)
            await session.commit()
        place = Place(
            command_id,
            market,
            order_id,
            user,
            int(Side[side]),
            int(Outcome[outcome]),
            price,
            qty,
            int(OrderKind.GTC),
            None,
            None,
            int(Stp.CANCEL_RESTING),
        )
        if send:
            await self.send(place)
        return place

    async def send(self, command: Command) -> None:
        await self.connections.producer.send_and_wait(
            self.connections.settings.topic(ORDERS),
            commands.encode(command),
            key=commands.key(command.market_id),
        )

    async def until_applied(self, *command_ids: int) -> None:
        deadline = asyncio.get_running_loop().time() + 15
        while True:
            async with self.connections.sessions() as session:
                done = await session.scalar(
                    text(
                        "SELECT count(*) FROM commands"
                        " WHERE id = ANY(:i) AND applied_at IS NOT NULL"
                    ),
                    {"i": list(command_ids)},
                )
            if done == len(command_ids):
                return
            assert asyncio.get_running_loop().time() < deadline, "the matcher did not apply it"
            await asyncio.sleep(0.05)

    async def scalar(self, sql: str, **params: object) -> object:
        async with self.connections.sessions() as session:
            return await session.scalar(text(sql), params)


async def _command_row(
    session: AsyncSession,
    market: int,
    kind: str,
    order: int | None,
    user: int | None,
    payload: str = "{}",
) -> int:
    result = await session.execute(
        text(
            "INSERT INTO commands (market_id, kind, order_id, user_id, payload)"
            " VALUES (:m, :k, :o, :u, :p)"
            " RETURNING id"
        ),
        {"m": market, "k": kind, "o": order, "u": user, "p": payload},
    )
    return int(result.scalar_one())


@pytest.fixture
async def exchange(connections: Connections) -> AsyncIterator[Exchange]:
    settings = connections.settings.model_copy(
        update={"kafka_topic_prefix": f"matcher-{uuid.uuid4().hex[:8]}-"}
    )
    await ensure_topics(settings)
    own = Connections(
        settings, connections.engine, connections.sessions, connections.redis, connections.producer
    )
    async with connections.sessions() as session:
        admin = await make_user(session, "admin")
        market = await make_market(session, admin)
        await session.execute(
            text("INSERT INTO market_sequences (market_id, seq) VALUES (:m, 0)"), {"m": market}
        )
        await session.commit()
    ex = Exchange(own, market)
    await ex.start()
    try:
        yield ex
    finally:
        with contextlib.suppress(Exception):
            await ex.halt()


async def test_orders_are_matched_settled_and_offsets_stored(exchange: Exchange) -> None:
    ada = await exchange.user("ada")
    bob = await exchange.user("bob")
    first = await exchange.order(ada, "BUY", "YES", 60, 10)
    second = await exchange.order(bob, "BUY", "NO", 40, 10)
    await exchange.until_applied(first.command_id, second.command_id)
    assert await exchange.scalar("SELECT count(*) FROM trades") == 1
    assert (
        await exchange.scalar("SELECT collateral FROM markets WHERE id = :m", m=exchange.market)
        == 1_000
    )
    assert (
        await exchange.scalar("SELECT status FROM orders WHERE id = :o", o=second.order_id)
        == "FILLED"
    )
    stored = await exchange.scalar("SELECT sum(next_offset) FROM matcher_offsets")
    assert stored == 2
    seq = await exchange.scalar(
        "SELECT seq FROM market_sequences WHERE market_id = :m", m=exchange.market
    )
    assert seq == exchange.matcher.books[exchange.market].seq  # type: ignore[union-attr]


async def test_the_matcher_reports_its_batches(exchange: Exchange) -> None:
    """Every few seconds (here: at once) a line on its batches: time in Kafka, settling,
    publishing."""
    await exchange.halt()
    lines: list[str] = []
    matcher = Matcher(exchange.connections, tick_seconds=0.1, report=lines.append)
    matcher.stats.every = 0.0
    exchange.matcher, exchange.stop = matcher, asyncio.Event()
    ready = asyncio.Event()
    exchange.task = asyncio.create_task(matcher.run(exchange.stop, ready))
    await asyncio.wait_for(ready.wait(), 30)
    ada = await exchange.user("ada")
    placed = await exchange.order(ada, "BUY", "YES", 30, 2)
    await exchange.until_applied(placed.command_id)
    for _ in range(100):
        if lines:
            break
        await asyncio.sleep(0.05)
    [line] = lines
    assert " 1 batch, 1.0 commands each; p50/p99 ms: in Kafka " in line
    assert ", settling " in line
    assert ", publishing " in line


async def test_unreported_batch_figures_are_dropped_each_period(exchange: Exchange) -> None:
    """A matcher nobody reads the figures of (no `report`) still ends each period: what it
    keeps stays bounded."""
    assert exchange.matcher is not None
    assert exchange.matcher.report is None
    exchange.matcher.stats.every = 0.0
    ada = await exchange.user("ada")
    placed = await exchange.order(ada, "BUY", "YES", 30, 2)
    await exchange.until_applied(placed.command_id)
    for _ in range(100):
        if not exchange.matcher.stats.settled:
            break
        await asyncio.sleep(0.01)
    assert exchange.matcher.stats.settled == []
    assert exchange.matcher.stats.waited == []


async def test_a_command_delivered_twice_is_applied_once(exchange: Exchange) -> None:
    ada = await exchange.user("ada")
    bob = await exchange.user("bob")
    await exchange.order(ada, "BUY", "YES", 50, 5)
    taker = await exchange.order(bob, "BUY", "NO", 50, 5)
    await exchange.send(taker)  # again, as a re-sent PENDING order would arrive
    await exchange.send(taker)
    marker = await exchange.order(bob, "BUY", "NO", 10, 1)  # after the duplicates
    await exchange.until_applied(marker.command_id)
    assert await exchange.scalar("SELECT count(*) FROM trades") == 1
    assert await exchange.scalar(
        "SELECT cash_available FROM accounts WHERE user_id = :u", u=bob
    ) == (10_000 - 250 - 10)


async def test_a_restarted_matcher_rebuilds_its_book_from_postgres(exchange: Exchange) -> None:
    ada = await exchange.user("ada")
    bob = await exchange.user("bob")
    resting = [await exchange.order(ada, "BUY", "YES", p, 3) for p in (40, 45, 45)]
    await exchange.until_applied(*(r.command_id for r in resting))
    await exchange.halt()
    await exchange.start()  # a new process: no book in memory
    taker = await exchange.order(bob, "BUY", "NO", 60, 7)  # takes 45, 45 (time order), 40
    await exchange.until_applied(taker.command_id)
    async with exchange.connections.sessions() as session:
        fills = (
            await session.execute(
                text("SELECT maker_order_id, yes_price, quantity FROM trades ORDER BY seq")
            )
        ).all()
    assert [tuple(f) for f in fills] == [
        (resting[1].order_id, 45, 3),
        (resting[2].order_id, 45, 3),
        (resting[0].order_id, 40, 1),
    ]


async def test_a_restarted_matcher_counts_the_volumes_again_from_postgres(
    exchange: Exchange,
) -> None:
    ada = await exchange.user("ada")
    bob = await exchange.user("bob")
    await exchange.order(ada, "BUY", "YES", 40, 5)
    minted = await exchange.order(bob, "BUY", "NO", 60, 5)  # 5 shares minted
    await exchange.until_applied(minted.command_id)
    await exchange.halt()
    # That trade was two days ago, and Redis lost what was counted (as when a matcher dies
    # between commit and publish).
    async with exchange.connections.sessions() as session:
        await session.execute(
            text("UPDATE trades SET created_at = now() - interval '2 days' WHERE market_id = :m"),
            {"m": exchange.market},
        )
        await session.commit()
    redis = exchange.connections.redis
    await redis.delete(stats_key(exchange.market), volume_key(exchange.market))
    await exchange.start()
    await exchange.order(ada, "BUY", "YES", 40, 2)
    taker = await exchange.order(bob, "BUY", "NO", 60, 2)  # 2 more
    await exchange.until_applied(taker.command_id)
    stats = (await read_stats(redis, [exchange.market]))[exchange.market]
    assert (stats.volume, stats.volume_24h) == (7, 2)


async def test_a_batch_of_two_markets_is_one_transaction_locked_up_front(
    exchange: Exchange, monkeypatch: pytest.MonkeyPatch
) -> None:
    ada = await exchange.user("ada")
    bob = await exchange.user("bob")
    async with exchange.connections.sessions() as session:
        second = await make_market(session, ada)
        await session.execute(
            text("INSERT INTO market_sequences (market_id, seq) VALUES (:m, 0)"), {"m": second}
        )
        await session.commit()
    by_market: dict[int, list[Command]] = {}
    for market in (exchange.market, second):
        by_market[market] = [
            await exchange.order(ada, "BUY", "YES", 60, 5, send=False, market=market),
            await exchange.order(bob, "BUY", "NO", 40, 5, send=False, market=market),
        ]
    locked: list[set[int]] = []
    lock, write = settlement.lock, settlement.Settlement.write
    failing = {"writes": 0, "fail at": 2}

    async def spied_lock(session: AsyncSession, markets: set[int], *rest: set[int]) -> None:
        locked.append(markets)
        await lock(session, markets, *rest)

    async def second_write_fails(
        self: settlement.Settlement, session: AsyncSession, ids: list[int]
    ) -> settlement.BatchEffects:
        failing["writes"] += 1
        if failing["writes"] == failing["fail at"]:
            raise RuntimeError("the second market's write fails")
        return await write(self, session, ids)

    monkeypatch.setattr(settlement, "lock", spied_lock)
    monkeypatch.setattr(settlement.Settlement, "write", second_write_fails)
    trades = "SELECT count(*) FROM trades WHERE market_id IN (:a, :b)"
    offset = "SELECT next_offset FROM matcher_offsets WHERE partition = 99"

    with pytest.raises(RuntimeError, match="second market"):
        await Matcher(exchange.connections)._settle(by_market, 99, 7)
    assert locked == [{exchange.market, second}]
    # the first market's settlement went with the second's: nothing stayed
    assert await exchange.scalar(trades, a=exchange.market, b=second) == 0
    assert await exchange.scalar(offset) is None
    assert (
        await exchange.scalar(
            "SELECT count(*) FROM orders WHERE user_id IN (:a, :b) AND status <> 'PENDING'",
            a=ada,
            b=bob,
        )
        == 0
    )

    failing["fail at"] = 0
    await Matcher(exchange.connections)._settle(by_market, 99, 7)  # a fresh matcher, again
    assert await exchange.scalar(trades, a=exchange.market, b=second) == 2  # one mint each
    assert await exchange.scalar(offset) == 7
    async with exchange.connections.sessions() as session:
        assert (await run_audit(session)).ok


async def test_a_batch_transaction_begins_with_its_first_statement_and_ends_whole(
    exchange: Exchange,
) -> None:
    """`_batch` begins the transaction in the round trip of its first statement, commits
    everything at the end, or rolls everything back and leaves the connection out of any
    transaction (it goes back to the pool); a connection whose state it cannot know (the
    batch cancelled) is invalidated, not pooled."""
    offset = "SELECT next_offset FROM matcher_offsets WHERE partition = 98"
    group = "it's a \\ group"
    insert = (
        "INSERT INTO matcher_offsets (consumer_group, topic, partition, next_offset)"
        f" VALUES ({_quote(group)}, 't', 98, 5)"
    )
    raws = []

    async def failing_batch(failure: BaseException) -> None:
        async with exchange.connections.sessions() as session, _batch(session) as begin:
            raw = await driver_of(await session.connection())
            raws.append(raw)
            queries = raw._protocol.queries_count
            await begin(insert)
            assert raw._protocol.queries_count == queries + 1  # one round trip
            assert raw.is_in_transaction()
            await session.execute(text("UPDATE matcher_offsets SET next_offset = 6"))
            raise failure

    with pytest.raises(RuntimeError, match="in the middle"):
        await failing_batch(RuntimeError("a failure in the middle"))
    assert not raws[0].is_in_transaction()
    assert not raws[0].is_closed()
    assert await exchange.scalar(offset) is None
    with pytest.raises(asyncio.CancelledError):
        await failing_batch(asyncio.CancelledError())
    assert raws[1].is_closed()
    assert await exchange.scalar(offset) is None

    async def swallowed_error() -> None:  # an error caught inside the block aborts it still
        async with exchange.connections.sessions() as session, _batch(session) as begin:
            await begin(insert)
            raw = await driver_of(await session.connection())
            with contextlib.suppress(Exception):
                await raw.execute("SELECT 1 / 0")

    with pytest.raises(RuntimeError, match="rolled back at commit"):
        await swallowed_error()
    assert await exchange.scalar(offset) is None
    async with exchange.connections.sessions() as session, _batch(session) as begin:
        await begin(insert)
        await session.execute(text("UPDATE matcher_offsets SET next_offset = 6"))
    assert await exchange.scalar(offset) == 6
    assert (
        await exchange.scalar("SELECT consumer_group FROM matcher_offsets WHERE partition = 98")
        == group
    )


async def test_pending_orders_that_never_reached_kafka_are_resent(exchange: Exchange) -> None:
    ada = await exchange.user("ada")
    lost = await exchange.order(ada, "BUY", "YES", 30, 2, send=False)
    assert await resend_pending(exchange.connections, older_than_seconds=0) == 1
    await exchange.until_applied(lost.command_id)
    assert (
        await exchange.scalar("SELECT status FROM orders WHERE id = :o", o=lost.order_id) == "OPEN"
    )


async def test_resolution_pays_winners_and_releases_everything(exchange: Exchange) -> None:
    ada = await exchange.user("ada")
    bob = await exchange.user("bob")
    await exchange.order(ada, "BUY", "YES", 70, 10)
    await exchange.order(bob, "BUY", "NO", 30, 10)  # mint 10 at YES 70
    open_bid = await exchange.order(bob, "BUY", "YES", 20, 5)  # rests, 100 reserved
    async with exchange.connections.sessions() as session:
        cid = await _command_row(
            session, exchange.market, "RESOLVE", None, None, '{"outcome": "YES"}'
        )
        await session.commit()
    await exchange.send(Resolve(cid, exchange.market, "YES"))
    await exchange.until_applied(cid)
    assert await exchange.scalar(
        "SELECT cash_available FROM accounts WHERE user_id = :u", u=ada
    ) == (10_000 - 700 + 1_000)
    assert await exchange.scalar(
        "SELECT cash_available FROM accounts WHERE user_id = :u", u=bob
    ) == (10_000 - 300)
    assert await exchange.scalar(
        "SELECT status FROM orders WHERE id = :o", o=open_bid.order_id
    ) == ("CANCELLED")
    assert (
        await exchange.scalar("SELECT collateral FROM markets WHERE id = :m", m=exchange.market)
        == 0
    )
    assert (
        await exchange.scalar("SELECT resolution FROM markets WHERE id = :m", m=exchange.market)
        == "YES"
    )
    assert (
        await exchange.scalar(
            "SELECT realized_pnl FROM positions WHERE user_id = :u AND outcome = 'YES'", u=ada
        )
        == 300
    )
    async with exchange.connections.sessions() as session:
        assert (await run_audit(session)).ok
