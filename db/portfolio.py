"""A user's own positions, orders and trades, read newest first with keyset pages.

Every query here is scoped by the user id it is given: there is no way to read another
user's rows through this module.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from db.enums import OrderStatus, Outcome, Side
from db.models import Order, Position, Trade


@dataclass(frozen=True, slots=True)
class ViewerTrade:
    """A trade as one of its two parties saw it: the trade and that party's own order."""

    trade: Trade
    order: Order
    is_maker: bool

    @property
    def side(self) -> Side:
        return Side(self.order.side)

    @property
    def outcome(self) -> Outcome:
        return Outcome(self.order.outcome)

    @property
    def price(self) -> int:
        """Cents per share of the party's own outcome."""
        yes_price = self.trade.yes_price
        return yes_price if self.outcome is Outcome.YES else 100 - yes_price


async def positions_of(
    session: AsyncSession, user_id: int, market_id: int | None = None
) -> list[Position]:
    """Positions holding shares or with realized PnL, by market then outcome."""
    query = select(Position).where(
        col(Position.user_id) == user_id,
        or_(
            col(Position.shares_available) + col(Position.shares_reserved) > 0,
            col(Position.realized_pnl) != 0,
        ),
    )
    if market_id is not None:
        query = query.where(col(Position.market_id) == market_id)
    query = query.order_by(col(Position.market_id), col(Position.outcome).desc())
    return list(await session.scalars(query))


def _orders_where(
    user_id: int, statuses: Sequence[OrderStatus] | None, market_id: int | None
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [col(Order.user_id) == user_id]
    if statuses is not None:
        conditions.append(col(Order.status).in_([s.value for s in statuses]))
    if market_id is not None:
        conditions.append(col(Order.market_id) == market_id)
    return conditions


async def orders_of(
    session: AsyncSession,
    user_id: int,
    *,
    statuses: Sequence[OrderStatus] | None,
    market_id: int | None,
    before_id: int | None,
    limit: int,
) -> list[Order]:
    """The user's orders, newest first, strictly older than `before_id`."""
    query = select(Order).where(*_orders_where(user_id, statuses, market_id))
    if before_id is not None:
        query = query.where(col(Order.id) < before_id)
    return list(await session.scalars(query.order_by(col(Order.id).desc()).limit(limit)))


async def count_orders_of(
    session: AsyncSession,
    user_id: int,
    *,
    statuses: Sequence[OrderStatus] | None,
    market_id: int | None,
) -> int:
    total = await session.scalar(
        select(func.count()).select_from(Order).where(*_orders_where(user_id, statuses, market_id))
    )
    return int(total or 0)


async def order_of(session: AsyncSession, user_id: int, order_id: int) -> Order | None:
    """The user's own order; None for another user's order exactly as for a missing one."""
    found: Order | None = await session.scalar(
        select(Order).where(col(Order.id) == order_id, col(Order.user_id) == user_id)
    )
    return found


def _trades_where(user_id: int, market_id: int | None) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [
        or_(col(Trade.maker_user_id) == user_id, col(Trade.taker_user_id) == user_id)
    ]
    if market_id is not None:
        conditions.append(col(Trade.market_id) == market_id)
    return conditions


async def trades_of(
    session: AsyncSession,
    user_id: int,
    *,
    market_id: int | None,
    before_id: int | None,
    limit: int,
) -> list[ViewerTrade]:
    """The user's trades as maker or taker, newest first, each with the user's own order
    (the taker's side when a user was somehow both)."""
    own_order_id = case(
        (col(Trade.taker_user_id) == user_id, col(Trade.taker_order_id)),
        else_=col(Trade.maker_order_id),
    )
    query = (
        select(Trade, Order)
        .join(Order, col(Order.id) == own_order_id)
        .where(*_trades_where(user_id, market_id))
    )
    if before_id is not None:
        query = query.where(col(Trade.id) < before_id)
    rows = await session.execute(query.order_by(col(Trade.id).desc()).limit(limit))
    return [
        ViewerTrade(trade, order, is_maker=trade.taker_user_id != user_id) for trade, order in rows
    ]


async def count_trades_of(session: AsyncSession, user_id: int, *, market_id: int | None) -> int:
    total = await session.scalar(
        select(func.count()).select_from(Trade).where(*_trades_where(user_id, market_id))
    )
    return int(total or 0)
