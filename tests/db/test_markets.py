"""Markets in the database: the effective status, and the closer that makes it stick."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from db.enums import MarketStatus
from db.markets import create_market, effective_status
from tests.db.factories import make_user
from workers.closer import close_due_markets, run_closer
from workers.connections import Connections

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("stored", "closes_in", "seen"),
    [
        (MarketStatus.OPEN, timedelta(seconds=1), MarketStatus.OPEN),
        (MarketStatus.OPEN, timedelta(0), MarketStatus.CLOSED),
        (MarketStatus.HALTED, timedelta(seconds=1), MarketStatus.HALTED),
        (MarketStatus.HALTED, timedelta(seconds=-1), MarketStatus.CLOSED),
        (MarketStatus.CLOSED, timedelta(days=1), MarketStatus.CLOSED),
        (MarketStatus.RESOLVED, timedelta(days=-1), MarketStatus.RESOLVED),
        (MarketStatus.VOIDED, timedelta(days=-1), MarketStatus.VOIDED),
    ],
)
def test_effective_status(stored: MarketStatus, closes_in: timedelta, seen: MarketStatus) -> None:
    assert effective_status(stored.value, NOW + closes_in, NOW) is seen


async def _markets(session: AsyncSession, creator: int, closes: list[datetime]) -> list[int]:
    ids = []
    for i, closes_at in enumerate(closes):
        row = await create_market(
            session,
            title=f"Market {i}",
            description="",
            rules="",
            image_url=None,
            category="misc",
            closes_at=closes_at,
            created_by=creator,
        )
        assert row.id is not None
        ids.append(row.id)
    await session.commit()
    return ids


async def _statuses(session: AsyncSession) -> dict[int, str]:
    rows = await session.execute(text("SELECT id, status FROM markets"))
    return {int(i): s for i, s in rows}


async def test_the_closer_closes_due_open_and_halted_markets_once(
    connections: Connections, session: AsyncSession
) -> None:
    ada = await make_user(session)
    hour = timedelta(hours=1)
    due, halted_due, exactly_due, later, halted_later = await _markets(
        session, ada, [NOW - hour, NOW - hour, NOW, NOW + hour, NOW + hour]
    )
    await session.execute(
        text("UPDATE markets SET status = 'HALTED' WHERE id IN (:a, :b)"),
        {"a": halted_due, "b": halted_later},
    )
    await session.commit()

    closed = await close_due_markets(connections.sessions, NOW)

    assert closed == [due, halted_due, exactly_due]
    assert await _statuses(session) == {
        due: "CLOSED",
        halted_due: "CLOSED",
        exactly_due: "CLOSED",
        later: "OPEN",
        halted_later: "HALTED",
    }
    assert await close_due_markets(connections.sessions, NOW) == []
    assert await close_due_markets(connections.sessions, NOW + 2 * hour) == [later, halted_later]


async def test_the_closer_loop_closes_markets_as_they_fall_due_and_stops(
    connections: Connections, session: AsyncSession
) -> None:
    ada = await make_user(session)
    now = datetime.now(UTC)
    soon, later = await _markets(
        session, ada, [now + timedelta(milliseconds=200), now + timedelta(days=1)]
    )
    heard: list[list[int]] = []
    closed = asyncio.Event()

    async def on_closed(ids: list[int]) -> None:
        heard.append(ids)
        closed.set()

    stop = asyncio.Event()
    loop = asyncio.create_task(
        run_closer(connections.sessions, 0.05, stop_event=stop, on_closed=on_closed)
    )
    try:
        await asyncio.wait_for(closed.wait(), timeout=5)
    finally:
        stop.set()
        async with asyncio.timeout(2):
            await loop

    assert heard == [[soon]]
    assert await _statuses(session) == {soon: "CLOSED", later: "OPEN"}
