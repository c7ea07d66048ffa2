"""The matcher: consumes the `orders` topic for the partitions it owns, runs one engine book
per market, and applies each batch in ONE Postgres transaction together with the consumed
offsets. Only after commit does it tell anyone (Redis, `market-events`).

Exactly once in Postgres: effects and offsets commit together; on start (and on gaining a
partition) it seeks to the stored offsets and rebuilds books from open orders, lazily, per
market. Commands delivered twice (a re-sent PENDING order, a fresh broker log) are skipped
by a Roaring bitmap of applied command ids, rebuilt from Postgres at start.
"""

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field

import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.structs import ConsumerRecord
from pyroaring import BitMap64
from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncSession

from db import settlement
from db.resolution import AlreadyResolved, lock_set, resolve_market
from db.session import driver_connection, driver_of
from engine import Book, MarketState, OrderKind, Outcome, Side, Stp
from engine.events import Event
from engine.snapshot import RestingOrder, Snapshot
from workers import commands
from workers.books import MarketStats, Recount, publish_book
from workers.commands import (
    RESULTS_CHANNEL,
    Amend,
    Cancel,
    CancelAll,
    Close,
    Command,
    Halt,
    Place,
    Resolve,
    Resume,
    place_from_order,
)
from workers.connections import Connections
from workers.delivery import ADVICE, DeliveryWatch, Resumed, Stalled
from workers.feed import publish_users, queue_market
from workers.kafka import MARKET_EVENTS, MATCHER_CONSUMER, ORDERS
from workers.pace import BatchStats

logger = logging.getLogger("predmarket.matcher")

GROUP = "matcher"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def run_command(book: Book, command: Command) -> list[Event]:
    """What the engine says to one command (resolution's payout is settled apart)."""
    if isinstance(command, Place):
        return book.place(
            command.order_id,
            command.user_id,
            command.side,
            command.outcome,
            command.price,
            command.qty,
            kind=command.kind,
            expires_at=command.expires_at,
            budget=command.budget,
            stp=command.stp,
        )
    if isinstance(command, Cancel):
        return book.cancel(command.order_id) if command.order_id in book else []
    if isinstance(command, Amend):
        if command.order_id not in book:
            return []
        return book.amend(command.order_id, command.new_price, command.new_qty)
    if isinstance(command, CancelAll):
        return book.cancel_all(command.user_id)
    if isinstance(command, Halt):
        return book.halt()
    if isinstance(command, Resume):
        return book.resume()
    if isinstance(command, Close | Resolve):
        return book.close_out() if book.state != MarketState.CLOSED else []
    raise TypeError(f"unknown command {command!r}")


def _quote(value: str) -> str:
    """A SQL string literal, whatever standard_conforming_strings says (an escape string)."""
    return "E'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


@contextlib.asynccontextmanager
async def _batch(session: AsyncSession) -> AsyncIterator[Callable[[str], Awaitable[None]]]:
    """A batch's transaction on the session's connection, begun by the caller with its first
    statement in the same round trip (`begin(sql)`: a statement with no parameters), committed
    when the block ends. SQLAlchemy's driver adapter would send BEGIN alone, a round trip of
    its own, so the session's connection is set to autocommit (the adapter then sends neither
    BEGIN nor COMMIT, and its pool's reset-on-return does not roll back) and the transaction
    is begun and ended here, on the driver. After a database error it is rolled back; a
    connection whose state is unknown (cancelled mid-statement, or the rollback failed) is
    invalidated, never pooled."""
    connection = await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    raw = await driver_of(connection)

    async def begin(sql: str) -> None:
        await raw.execute(f"BEGIN; {sql}")

    try:
        yield begin
        await session.flush()
        # Postgres answers the COMMIT of an aborted transaction with ROLLBACK
        if await raw.execute("COMMIT") != "COMMIT":
            raise RuntimeError("the batch's transaction was rolled back at commit")
    except BaseException as failure:
        # a database error arrives with the server's state; a cancellation may not
        known = isinstance(failure, Exception) and not raw.is_closed()
        try:
            if known and raw.is_in_transaction():
                await raw.execute("ROLLBACK")
        except Exception:
            known = False
        if not known:
            await connection.invalidate()
        raise


async def rebuild_book(session: AsyncSession, market_id: int) -> Book:
    """The book as Postgres knows it: open orders in priority order, the stored sequence."""
    seq, status = (
        await session.execute(
            text(
                "SELECT s.seq, m.status FROM markets m JOIN market_sequences s"
                " ON s.market_id = m.id WHERE m.id = :m"
            ),
            {"m": market_id},
        )
    ).one()
    last = await session.scalar(
        text("SELECT yes_price FROM trades WHERE market_id = :m ORDER BY seq DESC LIMIT 1"),
        {"m": market_id},
    )
    rows = await session.execute(
        text(
            "SELECT id, user_id, side, outcome, price, quantity, quantity - filled, time_in_force,"
            " post_only, (extract(epoch FROM expires_at) * 1000)::bigint, stp, queue_seq"
            " FROM orders WHERE market_id = :m AND status IN ('OPEN', 'PARTIALLY_FILLED')"
            " AND queue_seq IS NOT NULL"
        ),
        {"m": market_id},
    )
    bids: list[tuple[int, int, RestingOrder]] = []
    asks: list[tuple[int, int, RestingOrder]] = []
    for oid, user, side, outcome, price, qty, rem, tif, post, expires, stp, queue in rows:
        kind = OrderKind.GTD if tif == "GTD" else OrderKind.POST_ONLY if post else OrderKind.GTC
        resting = RestingOrder(
            oid,
            user,
            Side[side],
            Outcome[outcome],
            price,
            qty,
            rem,
            kind,
            expires if tif == "GTD" else None,
            Stp[stp],
        )
        yes_price = price if outcome == "YES" else 100 - price
        is_bid = (side == "BUY") == (outcome == "YES")
        if is_bid:
            bids.append((-yes_price, queue, resting))
        else:
            asks.append((yes_price, queue, resting))
    ordered = [r for *_, r in sorted(bids)] + [r for *_, r in sorted(asks)]
    # A market stored CLOSED may still hold orders (its CLOSE command not applied yet): it
    # comes back halted, so that the CLOSE (or RESOLVE) still cancels them.
    state = MarketState.OPEN if status == "OPEN" else MarketState.HALTED
    if status in ("RESOLVED", "VOIDED"):
        state = MarketState.CLOSED
    return Book.restore(Snapshot(market_id, seq, state, 0, last, tuple(ordered)))


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, matcher: "Matcher") -> None:
        self.matcher = matcher

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        # the feeds of what it applied go out before another matcher may apply more
        await self.matcher.feeds_sent()
        self.matcher.forget([tp.partition for tp in revoked])

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        await self.matcher.seek_to_stored(list(assigned))


@dataclass
class _Run:
    """One market's commands of a batch, run through its book."""

    market_id: int
    commands: list[Command]
    outputs: list[tuple[Command, list[Event]]]
    events: list[Event] = field(init=False)
    orders: set[int] = field(init=False)
    users: set[int] = field(init=False)

    def __post_init__(self) -> None:
        self.events = [e for _, events in self.outputs for e in events]
        self.orders, self.users = settlement.touched_by(self.events)


class Matcher:
    def __init__(
        self,
        connections: Connections,
        *,
        tick_seconds: float = 0.5,
        report: Callable[[str], None] | None = None,
    ) -> None:
        self.connections = connections
        # every few seconds, a line on the batches (their time in Kafka, settling, publishing)
        self.report = report
        self.stats = BatchStats()
        self.settings = connections.settings
        self.topic = self.settings.topic(ORDERS)
        self.events_topic = self.settings.topic(MARKET_EVENTS)
        self.books: dict[int, Book] = {}
        self.partition_of: dict[int, int] = {}
        self.applied = BitMap64()
        # books rebuilt since their last snapshot: that one carries the volumes recounted
        self.rebuilt: set[int] = set()
        self.tick_seconds = tick_seconds
        self.consumer: AIOKafkaConsumer | None = None
        self.batches = 0
        self.feeds: asyncio.Task[None] | None = None  # the last batch's user feeds and events
        self.delivery = DeliveryWatch()
        self.positions: dict[int, int] = {}  # partition -> the next offset it will read

    # ------------------------------------------------------------------ lifecycle

    async def run(self, stop: asyncio.Event, ready: asyncio.Event | None = None) -> None:
        await self._load_applied()
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap,
            group_id=self.settings.topic(GROUP),
            **MATCHER_CONSUMER,
            session_timeout_ms=6_000,
            heartbeat_interval_ms=1_000,
        )
        consumer.subscribe([self.topic], listener=_Rebalance(self))
        await consumer.start()
        self.consumer = consumer
        next_tick = time.monotonic()
        try:
            while not stop.is_set():
                batch = await consumer.getmany(timeout_ms=20, max_records=2_000)
                if ready is not None and consumer.assignment():
                    ready.set()
                fetched_ms = now_ms()
                for tp, records in batch.items():
                    await self._apply(tp, records, fetched_ms)
                # the period's figures end every few seconds, reported or not (bounded)
                if (line := self.stats.report(time.monotonic())) and self.report is not None:
                    self.report(line)
                if time.monotonic() >= next_tick:
                    next_tick = time.monotonic() + self.tick_seconds
                    await self._expire_due()
                    self._watch_delivery(consumer)
        finally:
            self.consumer = None
            with contextlib.suppress(Exception):
                await consumer.stop()
            await self.feeds_sent()

    def forget(self, partitions: list[int]) -> None:
        gone = {m for m, p in self.partition_of.items() if p in partitions}
        for market in gone:
            self.books.pop(market, None)
            self.partition_of.pop(market, None)
        self.delivery.forget(partitions)

    def _watch_delivery(self, consumer: AIOKafkaConsumer) -> None:
        """A partition whose commands the broker holds but no longer delivers is an error in
        the log (workers.delivery); its recovery a warning."""
        now = time.monotonic()
        for tp in consumer.assignment():
            position = self.positions.get(tp.partition)
            if position is None:
                continue
            match self.delivery.observe(tp.partition, position, consumer.highwater(tp), now):
                case Stalled() as stalled:
                    logger.error("topic %s, %s. %s", self.topic, stalled, ADVICE)
                case Resumed() as resumed:
                    logger.warning("topic %s, %s", self.topic, resumed)

    async def seek_to_stored(self, assigned: list[TopicPartition]) -> None:
        consumer = self.consumer
        if consumer is None or not assigned:
            return
        async with self.connections.sessions() as session:
            rows = await session.execute(
                text(
                    "SELECT partition, next_offset FROM matcher_offsets"
                    " WHERE consumer_group = :g AND topic = :t"
                ),
                {"g": GROUP, "t": self.topic},
            )
            stored = {int(p): int(o) for p, o in rows}
        ends = await consumer.end_offsets(assigned)
        for tp in assigned:
            offset = stored.get(tp.partition)
            if offset is None or offset > ends[tp]:
                # A fresh broker log (the embedded one keeps none): replay it all; the
                # applied-ids bitmap skips what Postgres already has.
                offset = 0
            consumer.seek(tp, offset)
            self.positions[tp.partition] = offset
        self.forget([tp.partition for tp in assigned])

    async def _load_applied(self) -> None:
        async with self.connections.sessions() as session:
            ids = (
                await session.execute(text("SELECT id FROM commands WHERE applied_at IS NOT NULL"))
            ).scalars()
            self.applied = BitMap64(ids)

    # ------------------------------------------------------------------ batches

    async def _book(self, session: AsyncSession, market_id: int, partition: int) -> Book:
        book = self.books.get(market_id)
        if book is None:
            book = self.books[market_id] = await rebuild_book(session, market_id)
            self.partition_of[market_id] = partition
            self.rebuilt.add(market_id)
        return book

    async def _apply(
        self,
        tp: TopicPartition,
        records: list[ConsumerRecord[bytes, bytes]],
        fetched_ms: int,
    ) -> None:
        began = time.perf_counter()
        fresh: list[Command] = []
        seen: list[int] = []
        for record in records:
            if record.value is None:
                continue
            command = commands.decode(record.value)
            seen.append(command.command_id)
            if command.command_id in self.applied or command.command_id in seen[:-1]:
                continue
            fresh.append(command)
        by_market: dict[int, list[Command]] = defaultdict(list)
        for command in fresh:
            by_market[command.market_id].append(command)
        next_offset = records[-1].offset + 1
        try:
            effects = await self._settle(by_market, tp.partition, next_offset)
        except Exception:
            logger.exception("batch on partition %s failed; rebuilding and retrying", tp)
            self.forget([tp.partition])
            await self.seek_to_stored([tp])
            await asyncio.sleep(0.2)
            return
        self.applied.update(seen)
        self.positions[tp.partition] = next_offset
        self.batches += 1
        settled = time.perf_counter()
        await self._announce(seen, effects)
        self.stats.add(
            [fetched_ms - r.timestamp for r in records],  # the producers' clocks, not ours
            (settled - began) * 1000,
            (time.perf_counter() - settled) * 1000,
        )

    async def _settle(
        self, by_market: dict[int, list[Command]], partition: int, next_offset: int
    ) -> list[tuple[settlement.BatchEffects, list[Event]]]:
        results = []
        async with self.connections.sessions() as session, _batch(session) as begin:
            # the transaction begins with the offsets it stores: one round trip
            await begin(
                "INSERT INTO matcher_offsets (consumer_group, topic, partition, next_offset)"
                f" VALUES ({_quote(GROUP)}, {_quote(self.topic)}, {int(partition)},"
                f" {int(next_offset)}) ON CONFLICT (consumer_group, topic, partition)"
                " DO UPDATE SET next_offset = EXCLUDED.next_offset"
            )
            runs: list[_Run] = []
            for market_id, market_commands in sorted(by_market.items()):
                book = await self._book(session, market_id, partition)
                outputs = [(c, run_command(book, c)) for c in market_commands]
                runs.append(_Run(market_id, market_commands, outputs))
            resolving = [r for r in runs if any(isinstance(c, Resolve) for c in r.commands)]
            if len(runs) > 1 or resolving:  # every lock the batch needs first, in key order
                orders = {order for run in runs for order in run.orders}
                users = {user for run in runs for user in run.users}
                for run in resolving:
                    pending, holders = await lock_set(session, run.market_id)
                    orders |= pending
                    users |= holders
                await settlement.lock(session, {run.market_id for run in runs}, orders, users)
            for run in runs:
                batch = await settlement.load(session, run.market_id, run.orders, run.users)
                for command, events in run.outputs:
                    batch.apply(events, command.command_id)
                effects = await batch.write(session, [c.command_id for c in run.commands])
                for command in run.commands:
                    if isinstance(command, Resolve):
                        await _resolve_once(session, run.market_id, command)
                        effects.final = False  # payouts changed orders and cash after write
                results.append((effects, run.events))
        return results

    async def _expire_due(self) -> None:
        """GTD orders whose time has come, settled like any batch."""
        now = now_ms()
        for market_id, book in list(self.books.items()):
            events = book.expire(now)
            if not events:
                continue
            try:
                async with self.connections.sessions() as session:
                    orders, users = settlement.touched_by(events)
                    batch = await settlement.load(session, market_id, orders, users)
                    batch.apply(events)
                    effects = await batch.write(session, [])
                    await session.commit()
            except Exception:
                logger.exception("expiring orders of market %s failed; rebuilding", market_id)
                self.books.pop(market_id, None)
                continue
            await self._announce([], [(effects, events)])

    async def _announce(
        self, command_ids: list[int], results: list[tuple[settlement.BatchEffects, list[Event]]]
    ) -> None:
        """After commit: each market's book snapshot, then its feed (the stream that resumes a
        subscription, so never behind the snapshot by more than a round trip) and, in the
        same round trip, the answer to whoever waits for these commands; then the users'
        feeds and the engine events go out in the background while the next batch is
        matched, one batch's at a time, in batch order. At least once: a failure here loses
        nothing in Postgres."""
        try:
            redis = self.connections.redis
            stats: dict[int, MarketStats | None] = {}
            for effects, _ in results:
                market = effects.market_id
                book = self.books.get(market)
                if book is not None:
                    recount = None
                    if market in self.rebuilt:
                        recount = await _recount(self.connections, market)
                        self.rebuilt.discard(market)
                    stats[market] = await publish_book(
                        redis,
                        book,
                        traded_qty=effects.traded_qty,
                        now_ms=now_ms(),
                        recount=recount,
                    )
            # one round trip: the market feeds, then (whoever waits then reads books and
            # feeds that include their commands) the answer, which carries the committed
            # state of the orders the batch changed, so that order entry need not read them
            async with redis.pipeline(transaction=False) as pipe:
                for effects, events in results:
                    queue_market(pipe, effects, events, now_ms(), stats.get(effects.market_id))
                if command_ids:
                    states = await _order_states(self.connections, [e for e, _ in results])
                    pipe.publish(
                        RESULTS_CHANNEL, orjson.dumps({"ids": command_ids, "orders": states})
                    )
                await pipe.execute()
        except Exception:
            logger.exception("announcing a committed batch failed (Postgres has it)")
        await self.feeds_sent()
        self.feeds = asyncio.create_task(self._send_feeds(results))

    async def feeds_sent(self) -> None:
        """Wait until the users' feeds and events of every announced batch have gone out
        (shielded: a cancelled waiter leaves them going)."""
        if self.feeds is not None:
            await asyncio.shield(self.feeds)

    async def _send_feeds(self, results: list[tuple[settlement.BatchEffects, list[Event]]]) -> None:
        try:
            for effects, events in results:
                if events:
                    await self.connections.producer.send(
                        self.events_topic,
                        orjson.dumps({"market": effects.market_id, "events": events}),
                        key=commands.key(effects.market_id),
                    )
                await publish_users(
                    self.connections.redis, effects, now_ms(), sessions=self.connections.sessions
                )
        except Exception:
            logger.exception("publishing the feeds of a committed batch failed (Postgres has it)")


async def _order_states(
    connections: Connections, batches: list[settlement.BatchEffects]
) -> list[list[object]]:
    """[id, status, filled, filled_cost, reserved_cash, reserved_shares, reason, updated_at]
    of every order the batches changed, as committed: from the settlement itself, or read
    again when a resolution changed them after (or, failing that, none: whoever waits then
    reads the orders itself)."""
    if all(effects.final for effects in batches):
        return [
            [
                o.id,
                o.status.value,
                o.filled,
                o.filled_cost,
                o.reserved_cash,
                o.reserved_shares,
                o.reason,
                effects.updated_at[o.id].isoformat(),
            ]
            for effects in batches
            for o in effects.orders.values()
            if o.id in effects.updated_at
        ]
    changed = sorted({o for effects in batches for o in effects.orders})
    try:
        async with driver_connection(connections.engine) as raw:
            found = await raw.fetch(
                "SELECT id, status, filled, filled_cost, reserved_cash,"
                " reserved_shares, reason, updated_at FROM orders"
                " WHERE id = ANY(CAST($1 AS bigint[]))",
                changed,
            )
        return [[*r[:7], r[7].isoformat()] for r in found]
    except Exception:
        logger.exception("reading the orders of a committed batch failed")
        return []


async def _resolve_once(session: AsyncSession, market_id: int, command: Resolve) -> None:
    """Pay out, unless the market was already resolved (a second RESOLVE, or one sent
    twice): that one is applied as a no-op, never as a failure that would stall the
    partition. resolve_market raises before it writes anything, so the batch goes on."""
    try:
        await resolve_market(session, market_id, command.outcome)
    except AlreadyResolved as already:
        logger.warning("RESOLVE %s skipped: %s", command.command_id, already)


async def _recount(connections: Connections, market_id: int) -> Recount:
    """The market's volumes from its trades in Postgres: in all, and by minute over the last
    24 hours."""
    async with connections.sessions() as session:
        total = await session.scalar(
            text("SELECT coalesce(sum(quantity), 0) FROM trades WHERE market_id = :m"),
            {"m": market_id},
        )
        minutes = await session.execute(
            text(
                "SELECT floor(extract(epoch FROM created_at) / 60)::bigint, sum(quantity)"
                " FROM trades WHERE market_id = :m AND created_at > now() - interval '1 day'"
                " GROUP BY 1 ORDER BY 1"
            ),
            {"m": market_id},
        )
        return Recount(int(total or 0), [(int(m), int(q)) for m, q in minutes])


async def resend_pending(connections: Connections, older_than_seconds: float = 5.0) -> int:
    """Re-send commands that never reached a matcher (the API died between commit and
    produce, or the broker lost them); the bitmap makes a duplicate harmless."""
    async with connections.sessions() as session:
        rows = (
            (
                await session.execute(
                    text(
                        "SELECT c.id, c.market_id, c.kind AS command, c.order_id, c.user_id,"
                        " c.payload, o.user_id AS owner, o.side, o.outcome, o.price, o.quantity,"
                        " o.kind, o.time_in_force, o.post_only, o.budget, o.stp,"
                        " (extract(epoch FROM o.expires_at) * 1000)::bigint AS expires"
                        " FROM commands c LEFT JOIN orders o ON o.id = c.order_id"
                        " WHERE c.applied_at IS NULL"
                        " AND c.created_at < now() - make_interval(secs => :age) ORDER BY c.id"
                    ),
                    {"age": older_than_seconds},
                )
            )
            .mappings()
            .all()
        )
    topic = connections.settings.topic(ORDERS)
    for row in rows:
        command = command_from_row(row)
        if command is not None:
            await connections.producer.send(
                topic, commands.encode(command), key=commands.key(command.market_id)
            )
    if rows:
        await connections.producer.flush()
    return len(rows)


def command_from_row(row: RowMapping) -> Command | None:
    """A `commands` row (joined with its order) as the message the API sent."""
    cid, market, kind = row["id"], row["market_id"], row["command"]
    data = orjson.loads(row["payload"] or "{}")
    if kind == "PLACE":
        return place_from_order(
            cid,
            row["order_id"],
            market_id=market,
            user_id=row["owner"],
            side=row["side"],
            outcome=row["outcome"],
            kind=row["kind"],
            time_in_force=row["time_in_force"],
            post_only=row["post_only"],
            price=row["price"],
            quantity=row["quantity"],
            expires_ms=row["expires"],
            budget=row["budget"],
            stp=row["stp"],
        )
    if kind == "CANCEL":
        return Cancel(cid, market, row["order_id"], row["user_id"])
    if kind == "AMEND":
        return Amend(
            cid, market, row["order_id"], row["user_id"], data.get("new_price"), data.get("new_qty")
        )
    if kind == "CANCEL_ALL":
        return CancelAll(cid, market, row["user_id"])
    if kind == "RESOLVE":
        return Resolve(cid, market, data["outcome"])
    simple: dict[str, type[Halt | Resume | Close]] = {
        "HALT": Halt,
        "RESUME": Resume,
        "CLOSE": Close,
    }
    return simple[kind](cid, market) if kind in simple else None


async def run_sweeper(
    connections: Connections,
    stop: asyncio.Event,
    consuming: asyncio.Event,
    interval: float = 10.0,
) -> None:
    """Every `interval` seconds, re-send commands older than it that no matcher applied. Not
    before this matcher consumes: until then it would re-send what it is about to read."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
        if stop.is_set():
            return
        if not consuming.is_set():
            continue
        try:
            resent = await resend_pending(connections, older_than_seconds=interval)
            if resent:
                logger.warning("re-sent %s commands no matcher had applied", resent)
        except Exception:
            logger.exception("re-sending pending commands failed; retrying")


async def run_matcher(
    connections: Connections,
    stop: asyncio.Event,
    ready: asyncio.Event | None = None,
    report: Callable[[str], None] | None = None,
) -> None:
    """The matcher role: the consumer loop and the sweeper, until `stop` is set; `report`
    gets a line on its batches every few seconds while they come."""
    matcher = Matcher(connections, report=report)
    consuming = ready or asyncio.Event()
    sweeper = asyncio.create_task(run_sweeper(connections, stop, consuming), name="sweeper")
    try:
        await matcher.run(stop, consuming)
    finally:
        stop.set()
        await sweeper
