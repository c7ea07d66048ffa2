"""Commands on their way to a market's matcher: the `commands` row is written in the caller's
transaction, the Kafka message is produced after commit (key: the market id, so a market's
commands keep their order). A produce that fails is logged, not raised: the row is committed,
and the matcher's sweeper re-sends what it has not applied."""

import asyncio
import functools
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import overload

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from db.orders import queue_command
from workers.commands import Close, Command, Halt, Resolve, Resume, encode, key
from workers.connections import Connections
from workers.kafka import ORDERS
from workers.results import OrderNow, ResultWaiter

logger = logging.getLogger("predmarket.dispatch")

SEND_TIMEOUT = 5.0  # seconds; a broker that is down must not hold the caller longer

MarketCommand = Halt | Resume | Close | Resolve
_PLAIN: dict[type[MarketCommand], tuple[str, Callable[[int, int], MarketCommand]]] = {
    Halt: ("HALT", Halt),
    Resume: ("RESUME", Resume),
    Close: ("CLOSE", Close),
}


@overload
async def queue(
    session: AsyncSession, command: type[Resolve], market_id: int, outcome: str
) -> Resolve: ...
@overload
async def queue(
    session: AsyncSession, command: type[Halt | Resume | Close], market_id: int
) -> Halt | Resume | Close: ...
async def queue(
    session: AsyncSession, command: type[MarketCommand], market_id: int, outcome: str = ""
) -> MarketCommand:
    """Queue a market-level command in the caller's transaction (`outcome`: RESOLVE's YES,
    NO or VOID); the message to send once it commits."""
    if command is Resolve:
        payload = orjson.dumps({"outcome": outcome}).decode()
        command_id = await queue_command(session, "RESOLVE", market_id, None, None, payload)
        return Resolve(command_id, market_id, outcome)
    kind, make = _PLAIN[command]
    return make(await queue_command(session, kind, market_id, None, None), market_id)


async def send(
    connections: Connections, commands: Sequence[Command], *, acked: bool = True
) -> None:
    """Produce committed commands to the `orders` topic, keyed by market. With `acked`
    False, returns once they are handed to the producer (its acknowledgements are not
    awaited; a failure is logged): for a caller that waits for the matcher's answer
    anyway, and may hear it before the acknowledgement."""
    if not commands:
        return
    topic = connections.settings.topic(ORDERS)
    producer = connections.producer
    try:
        async with asyncio.timeout(SEND_TIMEOUT):
            if not acked:
                for command in commands:
                    sent = await producer.send(topic, encode(command), key=key(command.market_id))
                    sent.add_done_callback(functools.partial(_log_failure, command.command_id))
                return
            if len(commands) == 1:
                only = commands[0]
                await producer.send_and_wait(topic, encode(only), key=key(only.market_id))
                return
            sent = [await producer.send(topic, encode(c), key=key(c.market_id)) for c in commands]
            outcomes = await asyncio.gather(*sent, return_exceptions=True)
    except Exception:
        logger.exception("could not produce commands %s", [c.command_id for c in commands])
        return
    failed = [
        c.command_id
        for c, o in zip(commands, outcomes, strict=True)
        if isinstance(o, BaseException)
    ]
    if failed:
        logger.error("could not produce commands %s: %r", failed, outcomes)


def _log_failure(command_id: int, sent: "asyncio.Future[object]") -> None:
    if not sent.cancelled() and sent.exception() is not None:
        logger.error("could not produce command %s: %r", command_id, sent.exception())


async def send_and_wait(
    connections: Connections,
    waiter: ResultWaiter | None,
    commands: Sequence[Command],
) -> set[int]:
    """Send the commands, then wait (at most ORDER_WAIT_MS) until the matcher says it applied
    them; returns the ids it applied in time."""
    if waiter is None:
        await send(connections, commands)
        return set()
    with waiter.expect(c.command_id for c in commands) as expected:
        await send(connections, commands)
        return await expected.wait(connections.settings.order_wait_ms / 1000)


async def send_and_hear(
    connections: Connections,
    waiter: ResultWaiter | None,
    commands: Sequence[Command],
    orders: Iterable[int],
) -> tuple[set[int], dict[int, OrderNow]]:
    """As `send_and_wait`, and the states of `orders` that the matcher's answers carried."""
    if waiter is None:
        await send(connections, commands)
        return set(), {}
    with waiter.expect((c.command_id for c in commands), orders) as expected:
        await send(connections, commands, acked=False)
        applied = await expected.wait(connections.settings.order_wait_ms / 1000)
        return applied, dict(expected.states)


async def send_closes(connections: Connections, market_ids: Iterable[int]) -> None:
    """Send the CLOSE commands queued, and not yet applied, for these markets (the closer
    queues them with the status change; a CLOSE sent twice is applied once)."""
    async with connections.sessions() as session:
        rows = await session.execute(
            text(
                "SELECT id, market_id FROM commands WHERE kind = 'CLOSE'"
                " AND applied_at IS NULL AND market_id = ANY(CAST(:m AS bigint[])) ORDER BY id"
            ),
            {"m": sorted(market_ids)},
        )
        closes = [Close(int(command_id), int(market_id)) for command_id, market_id in rows]
    await send(connections, closes)
