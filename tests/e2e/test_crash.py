"""Kill the matcher process with SIGKILL at random points of a stream of orders from several
users, restart it each time, and prove: no order lost, no trade duplicated, the book equals a
replay from scratch through a fresh engine, and the money audit is exact."""

import asyncio
import os
import random
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from sqlalchemy import text

from db.audit import run_audit
from db.money import add_cash
from engine import Book, OrderKind, Outcome, Side, Stp, decode
from engine.events import Trade
from tests.db.factories import insert_order, make_market, make_user
from workers import commands
from workers.commands import Place
from workers.connections import Connections
from workers.kafka import ORDERS, ensure_topics

ORDERS_TOTAL = 2_000
KILLS = 3
USERS = 6


def _matcher(connections: Connections, prefix: str, log: Path) -> subprocess.Popen[bytes]:
    settings = connections.settings
    env = (
        dict(os.environ)
        | settings.servers_env()
        | {
            "KAFKA_TOPIC_PREFIX": prefix,
        }
    )
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "cli", "matcher"], env=env, stdout=out, stderr=subprocess.STDOUT
        )


async def test_sigkilled_matcher_loses_and_duplicates_nothing(
    connections: Connections, tmp_path: Path
) -> None:
    prefix = f"crash-{uuid.uuid4().hex[:8]}-"
    settings = connections.settings.model_copy(update={"kafka_topic_prefix": prefix})
    await ensure_topics(settings)
    rng = random.Random(7)
    async with connections.sessions() as session:
        admin = await make_user(session, "admin")
        market = await make_market(session, admin)
        await session.execute(
            text("INSERT INTO market_sequences (market_id, seq) VALUES (:m, 0)"), {"m": market}
        )
        users = []
        for n in range(USERS):
            user = await make_user(session, f"trader{n}")
            await add_cash(session, user, 10_000_000)
            users.append(user)
        await session.commit()

    log = tmp_path / "matcher.log"
    sent: list[Place] = []

    async def produce() -> None:
        for n in range(ORDERS_TOTAL):
            user = rng.choice(users)
            outcome = rng.choice(("YES", "NO"))
            price = rng.randint(35, 65)
            qty = rng.randint(1, 20)
            async with connections.sessions() as session:
                order_id = await insert_order(session, market, user, "BUY", outcome, price, qty)
                command_id = (
                    await session.execute(
                        text(
                            "INSERT INTO commands (market_id, kind, order_id, user_id, payload)"
                            " VALUES (:m, 'PLACE', :o, :u, '{}') RETURNING id"
                        ),
                        {"m": market, "o": order_id, "u": user},
                    )
                ).scalar_one()
                await session.commit()
            place = Place(
                command_id,
                market,
                order_id,
                user,
                int(Side.BUY),
                int(Outcome[outcome]),
                price,
                qty,
                int(OrderKind.GTC),
                None,
                None,
                int(Stp.CANCEL_RESTING),
            )
            await connections.producer.send(
                settings.topic(ORDERS), commands.encode(place), key=commands.key(market)
            )
            sent.append(place)
            if n % 20 == 0:
                await asyncio.sleep(0.05)  # a steady stream, so kills land mid-flow
        await connections.producer.flush()

    async def consuming(times: int) -> None:
        while log.read_text().count("matcher consuming") < times:  # noqa: ASYNC110
            await asyncio.sleep(0.05)

    matcher = _matcher(connections, prefix, log)
    stream = asyncio.create_task(produce())
    kills = 0
    try:
        while kills < KILLS:
            await asyncio.wait_for(consuming(kills + 1), 60)
            await asyncio.sleep(rng.uniform(0.1, 1.5))  # let it apply some batches
            matcher.send_signal(signal.SIGKILL)
            matcher.wait(10)
            kills += 1
            matcher = _matcher(connections, prefix, log)
        await stream
        await asyncio.wait_for(consuming(KILLS + 1), 60)
        deadline = asyncio.get_running_loop().time() + 120
        while True:
            async with connections.sessions() as session:
                pending = await session.scalar(
                    text("SELECT count(*) FROM commands WHERE applied_at IS NULL")
                )
            if pending == 0:
                break
            assert asyncio.get_running_loop().time() < deadline, f"{pending} never applied"
            await asyncio.sleep(0.2)
    finally:
        stream.cancel()
        matcher.send_signal(signal.SIGTERM)
        try:
            matcher.wait(20)
        except subprocess.TimeoutExpired:
            matcher.kill()
            matcher.wait(5)
    assert len(sent) == ORDERS_TOTAL
    applied_before_last_start = log.read_text().count("matcher consuming")
    assert applied_before_last_start == KILLS + 1

    replay = Book(market)
    expected_trades = []
    for place in sent:
        events = replay.place(
            place.order_id,
            place.user_id,
            place.side,
            place.outcome,
            place.price,
            place.qty,
            kind=place.kind,
            stp=place.stp,
        )
        expected_trades += [
            (t.seq, t.maker_id, t.taker_id, t.yes_price, t.qty)
            for t in map(decode, events)
            if isinstance(t, Trade)
        ]
    async with connections.sessions() as session:
        trades = (
            await session.execute(
                text(
                    "SELECT seq, maker_order_id, taker_order_id, yes_price, quantity FROM trades"
                    " WHERE market_id = :m ORDER BY seq"
                ),
                {"m": market},
            )
        ).all()
        pending_orders = await session.scalar(
            text("SELECT count(*) FROM orders WHERE status = 'PENDING'")
        )
        resting = (
            await session.execute(
                text(
                    "SELECT id, quantity - filled FROM orders WHERE market_id = :m"
                    " AND status IN ('OPEN', 'PARTIALLY_FILLED') ORDER BY id"
                ),
                {"m": market},
            )
        ).all()
        seq = await session.scalar(
            text("SELECT seq FROM market_sequences WHERE market_id = :m"), {"m": market}
        )
        report = await run_audit(session)

    assert pending_orders == 0  # no order lost
    assert [tuple(t) for t in trades] == expected_trades  # none duplicated, none missing
    in_book = sorted((o.order_id, o.remaining) for o in replay.snapshot().orders)
    assert [tuple(r) for r in resting] == in_book
    assert seq == replay.seq
    assert report.ok, report.discrepancies
