"""Closes markets on time: every tick, one UPDATE flips each OPEN or HALTED market whose
`closes_at` has come to CLOSED, and queues a CLOSE command for its matcher in the same
transaction (the matcher cancels the resting orders and releases what they hold).

Readers never wait for this worker: db.markets computes the effective status against the
request's clock, so a market reads CLOSED from the instant it closes. The worker makes the
stored status catch up, so that writers (the matcher, resolution) see it too.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.markets import close_due
from workers import dispatch
from workers.commands import Close

logger = logging.getLogger("predmarket.closer")


async def close_due_markets(sessions: async_sessionmaker[AsyncSession], now: datetime) -> list[int]:
    """Close every market due at `now` and queue its CLOSE, in one transaction; their ids,
    ascending. Only the replica whose UPDATE flips a market queues its CLOSE."""
    async with sessions() as session:
        closed = await close_due(session, now)
        for market_id in closed:
            await dispatch.queue(session, Close, market_id)
        await session.commit()
    return closed


async def run_closer(
    sessions: async_sessionmaker[AsyncSession],
    interval: float = 1.0,
    *,
    stop_event: asyncio.Event,
    on_closed: Callable[[list[int]], Awaitable[None]] | None = None,
) -> None:
    """Tick every `interval` seconds until `stop_event` is set. A failing tick is logged and
    retried at the next one. `on_closed` hears of markets closed, after the commit (the
    app sends their CLOSE commands from it: `dispatch.send_closes`)."""
    while not stop_event.is_set():
        try:
            closed = await close_due_markets(sessions, datetime.now(UTC))
            if closed:
                logger.info("closed markets %s", closed)
                if on_closed is not None:
                    await on_closed(closed)
        except Exception:
            logger.exception("closing due markets failed; retrying in %s s", interval)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop_event.wait(), timeout=interval)
