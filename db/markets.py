"""Markets: creation, listing with keyset pages, halting, resuming and asking for resolution.

A market whose `closes_at` has passed is CLOSED even before the closer worker has written it:
every read here computes the effective status against the caller's clock, so what a reader
sees never depends on when the worker last ticked.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, text, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from db.enums import MarketStatus
from db.models import Market, MarketSequence

LIVE = (MarketStatus.OPEN, MarketStatus.HALTED)  # the statuses that end at closes_at


class MarketOrder(StrEnum):
    """The keys a list of markets can be sorted by (then by id, which breaks ties)."""

    CREATED_AT = "CREATED_AT"
    CLOSES_AT = "CLOSES_AT"
    TITLE = "TITLE"


SORT_COLUMNS: dict[MarketOrder, Any] = {
    MarketOrder.CREATED_AT: col(Market.created_at),
    MarketOrder.CLOSES_AT: col(Market.closes_at),
    MarketOrder.TITLE: col(Market.title),
}


def effective_status(status: str, closes_at: datetime, now: datetime) -> MarketStatus:
    """The status a reader sees: OPEN or HALTED past `closes_at` is CLOSED."""
    if status in LIVE and closes_at <= now:
        return MarketStatus.CLOSED
    return MarketStatus(status)


def _status_is(status: MarketStatus, now: datetime) -> ColumnElement[bool]:
    """The SQL twin of `effective_status(...) == status`."""
    stored = col(Market.status)
    if status in LIVE:
        return and_(stored == status.value, col(Market.closes_at) > now)
    if status is MarketStatus.CLOSED:
        return or_(
            stored == status.value,
            and_(stored.in_([s.value for s in LIVE]), col(Market.closes_at) <= now),
        )
    return stored == status.value


@dataclass(frozen=True, slots=True)
class MarketFilter:
    status: MarketStatus | None = None
    category: str | None = None
    search: str | None = None

    def conditions(self, now: datetime) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        if self.status is not None:
            found.append(_status_is(self.status, now))
        if self.category is not None:
            found.append(col(Market.category) == self.category)
        if self.search:
            pattern = "%" + _escape_like(self.search) + "%"
            found.append(
                or_(
                    col(Market.title).ilike(pattern, escape="\\"),
                    col(Market.description).ilike(pattern, escape="\\"),
                )
            )
        return found


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def create_market(
    session: AsyncSession,
    *,
    title: str,
    description: str,
    rules: str,
    image_url: str | None,
    category: str,
    closes_at: datetime,
    created_by: int,
) -> Market:
    """A new OPEN market and its sequence row (seq 0), in the caller's transaction."""
    market = Market(
        title=title,
        description=description,
        rules=rules,
        image_url=image_url,
        category=category,
        closes_at=closes_at,
        created_by=created_by,
    )
    session.add(market)
    await session.flush()
    assert market.id is not None
    session.add(MarketSequence(market_id=market.id, seq=0))
    await session.flush()
    await session.refresh(market)
    return market


async def market_by_id(session: AsyncSession, market_id: int) -> Market | None:
    found: Market | None = await session.scalar(select(Market).where(col(Market.id) == market_id))
    return found


async def markets_by_ids(session: AsyncSession, ids: Sequence[int]) -> dict[int, Market]:
    rows = await session.scalars(select(Market).where(col(Market.id).in_(list(ids))))
    return {row.id: row for row in rows if row.id is not None}


async def list_markets(
    session: AsyncSession,
    where: MarketFilter,
    now: datetime,
    *,
    order: MarketOrder,
    descending: bool,
    after: tuple[Any, int] | None,
    limit: int,
) -> list[Market]:
    """One keyset page: rows strictly after `after` = (sort value, id) in the given order."""
    key = SORT_COLUMNS[order]
    identity = col(Market.id)
    query = select(Market).where(*where.conditions(now))
    if after is not None:
        position = tuple_(key, identity)
        query = query.where(position < tuple_(*after) if descending else position > tuple_(*after))
    if descending:
        query = query.order_by(key.desc(), identity.desc())
    else:
        query = query.order_by(key.asc(), identity.asc())
    return list(await session.scalars(query.limit(limit)))


async def count_markets(session: AsyncSession, where: MarketFilter, now: datetime) -> int:
    total = await session.scalar(
        select(func.count()).select_from(Market).where(*where.conditions(now))
    )
    return int(total or 0)


async def _move(
    session: AsyncSession, market_id: int, now: datetime, source: MarketStatus, to: MarketStatus
) -> Market | None:
    moved: Market | None = await session.scalar(
        update(Market)
        .where(
            col(Market.id) == market_id,
            col(Market.status) == source.value,
            col(Market.closes_at) > now,
        )
        .values(status=to.value)
        .returning(Market)
        .execution_options(populate_existing=True)
    )
    return moved


async def halt_market(session: AsyncSession, market_id: int, now: datetime) -> Market | None:
    """OPEN -> HALTED; None when the market is missing or not (effectively) OPEN."""
    return await _move(session, market_id, now, MarketStatus.OPEN, MarketStatus.HALTED)


async def resume_market(session: AsyncSession, market_id: int, now: datetime) -> Market | None:
    """HALTED -> OPEN before closes_at; None when missing or not (effectively) HALTED."""
    return await _move(session, market_id, now, MarketStatus.HALTED, MarketStatus.OPEN)


async def close_due(session: AsyncSession, now: datetime) -> list[int]:
    """Write CLOSED on every OPEN or HALTED market whose closes_at has come; their ids."""
    closed = await session.scalars(
        update(Market)
        .where(col(Market.status).in_([s.value for s in LIVE]), col(Market.closes_at) <= now)
        .values(status=MarketStatus.CLOSED.value)
        .returning(col(Market.id))
    )
    return sorted(i for i in closed if i is not None)


RESOLVABLE = (MarketStatus.CLOSED, MarketStatus.HALTED)  # effective statuses resolution needs


@dataclass(frozen=True, slots=True)
class ResolutionCheck:
    market: Market
    status: MarketStatus  # effective, at `now`
    queued: bool  # a RESOLVE of it waits for its matcher
    pending: bool  # orders of it the matcher has not seen yet

    @property
    def allowed(self) -> bool:
        return self.status in RESOLVABLE and not self.queued and not self.pending


async def check_resolution(
    session: AsyncSession, market_id: int, now: datetime
) -> ResolutionCheck | None:
    """Whether `market_id` may be resolved now, with its row locked until the caller's
    transaction ends: two requests to resolve one market queue one after the other, so at
    most one RESOLVE is ever waiting. None when the market is missing.

    Not while an order of it is PENDING: its PLACE may reach the matcher after the RESOLVE
    (its message lost, re-sent later by the sweeper), and a sell's reserved shares could not
    be paid out."""
    market: Market | None = await session.scalar(
        select(Market)
        .where(col(Market.id) == market_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if market is None:
        return None
    queued, pending = (
        await session.execute(
            text(
                "SELECT EXISTS (SELECT FROM commands WHERE market_id = :m AND kind = 'RESOLVE'"
                " AND applied_at IS NULL),"
                " EXISTS (SELECT FROM orders WHERE market_id = :m AND status = 'PENDING')"
            ),
            {"m": market_id},
        )
    ).one()
    status = effective_status(market.status, market.closes_at, now)
    return ResolutionCheck(market, status, bool(queued), bool(pending))
