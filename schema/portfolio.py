"""What a user holds and did: positions, orders and trades, each only ever the viewer's own.

The Order and Trade types are complete here (every kind and status of DESIGN.md), so the
order pipeline adds resolvers and mutations without changing them.
"""

from collections.abc import Awaitable, Callable
from datetime import datetime
from enum import Enum
from typing import Annotated, Protocol, Self

import strawberry
from strawberry.types import Info

from db import models
from db.portfolio import ViewerTrade
from schema.common import Cents, Forbidden, InvalidInput, NotAuthenticated, NotFound, PageInfo
from schema.context import Context
from schema.markets import (
    LIVE_DATA,
    Market,
    Outcome,
    market_of,
    market_stats,
    total_count,
)


@strawberry.enum(description="Whether an order buys or sells shares of its outcome.")
class OrderSide(Enum):
    BUY = strawberry.enum_value("BUY", description="Pays cash for shares.")
    SELL = strawberry.enum_value("SELL", description="Gives shares for cash.")


@strawberry.enum(description="How an order is priced.")
class OrderKind(Enum):
    LIMIT = strawberry.enum_value("LIMIT", description="At `price` or better.")
    MARKET = strawberry.enum_value(
        "MARKET",
        description="At the best prices available, within a `budget` (buys) or `quantity`.",
    )


@strawberry.enum(description="How long an order may rest on the book.")
class TimeInForce(Enum):
    GTC = strawberry.enum_value("GTC", description="Good till cancelled.")
    GTD = strawberry.enum_value("GTD", description="Good till `expiresAt`.")
    IOC = strawberry.enum_value(
        "IOC", description="Immediate or cancel: fills what it can now, cancels the rest."
    )
    FOK = strawberry.enum_value(
        "FOK", description="Fill or kill: fills entirely now, or not at all."
    )


@strawberry.enum(description="What happens when an order would trade with its owner's own.")
class SelfTradePrevention(Enum):
    CANCEL_RESTING = strawberry.enum_value(
        "CANCEL_RESTING", description="The resting order is cancelled (the default)."
    )
    CANCEL_TAKER = strawberry.enum_value(
        "CANCEL_TAKER", description="The incoming order is cancelled."
    )


@strawberry.enum(description="Where an order is in its life.")
class OrderStatus(Enum):
    PENDING = strawberry.enum_value(
        "PENDING", description="Accepted and reserved; not yet seen by the matcher."
    )
    OPEN = strawberry.enum_value("OPEN", description="Resting on the book, nothing filled.")
    PARTIALLY_FILLED = strawberry.enum_value(
        "PARTIALLY_FILLED", description="Resting on the book, partly filled."
    )
    FILLED = strawberry.enum_value("FILLED", description="Entirely filled.")
    CANCELLED = strawberry.enum_value(
        "CANCELLED", description="Cancelled (see `reason`); what was unfilled was released."
    )
    EXPIRED = strawberry.enum_value(
        "EXPIRED", description="Reached `expiresAt` (GTD); what was unfilled was released."
    )
    REJECTED = strawberry.enum_value(
        "REJECTED", description="Refused by the matcher (see `reason`); nothing traded."
    )


@strawberry.enum(description="What a trade did to the shares of its market.")
class TradeKind(Enum):
    TRANSFER_YES = strawberry.enum_value(
        "TRANSFER_YES", description="YES shares moved from a seller to a buyer."
    )
    TRANSFER_NO = strawberry.enum_value(
        "TRANSFER_NO", description="NO shares moved from a seller to a buyer."
    )
    MINT = strawberry.enum_value(
        "MINT", description="A YES buyer and a NO buyer created new pairs (100 cents each)."
    )
    MERGE = strawberry.enum_value(
        "MERGE", description="A YES seller and a NO seller burned pairs (100 cents released)."
    )


@strawberry.enum(description="The viewer's part in a trade.")
class TradeRole(Enum):
    MAKER = strawberry.enum_value("MAKER", description="The viewer's order was resting.")
    TAKER = strawberry.enum_value("TAKER", description="The viewer's order came in and took.")


@strawberry.type(description="One of the viewer's orders.")
class Order:
    id: strawberry.ID = strawberry.field(description="The order's id.")
    client_order_id: str | None = strawberry.field(
        description="The caller's own id for the order, unique per user, if one was given."
    )
    side: OrderSide = strawberry.field(description="Buy or sell.")
    outcome: Outcome = strawberry.field(description="The outcome whose shares it trades.")
    kind: OrderKind = strawberry.field(description="Limit or market.")
    time_in_force: TimeInForce = strawberry.field(description="How long it may rest.")
    post_only: bool = strawberry.field(
        description="Refused rather than taking liquidity: it may only rest on the book."
    )
    stp: SelfTradePrevention = strawberry.field(description="Self-trade prevention.")
    price: int | None = strawberry.field(
        description="Limit price in cents of the order's own outcome (1..99); null for market"
        " orders."
    )
    quantity: int = strawberry.field(
        description="Shares asked for; for a market buy, the most it may get."
    )
    budget: Cents | None = strawberry.field(
        description="For a market buy: the most cents it may spend."
    )
    filled: int = strawberry.field(description="Shares filled so far.")
    remaining: int = strawberry.field(
        description="Shares not filled: quantity - filled (for a finished order, never filled)."
    )
    filled_cost: Cents = strawberry.field(
        description="Cents paid (buy) or received (sell) for the filled shares."
    )
    average_fill_price: float | None = strawberry.field(
        description="filledCost / filled, cents per share of the order's outcome; null before"
        " any fill."
    )
    reserved_cash: Cents = strawberry.field(description="Cents still reserved by the order.")
    reserved_shares: int = strawberry.field(description="Shares still reserved by the order.")
    status: OrderStatus = strawberry.field(description="Where the order is in its life.")
    reason: str | None = strawberry.field(
        description="Why it was cancelled, expired or rejected, when it was."
    )
    expires_at: datetime | None = strawberry.field(description="When a GTD order expires.")
    created_at: datetime = strawberry.field(description="When it was placed.")
    updated_at: datetime = strawberry.field(description="When it last changed.")
    market: Market = strawberry.field(
        resolver=market_of, description="The market the order trades in."
    )
    market_id: strawberry.Private[int]

    @classmethod
    def from_model(cls, row: models.Order) -> Self:
        assert row.id is not None
        return cls(
            id=strawberry.ID(str(row.id)),
            client_order_id=row.client_order_id,
            side=OrderSide(row.side),
            outcome=Outcome(row.outcome),
            kind=OrderKind(row.kind),
            time_in_force=TimeInForce(row.time_in_force),
            post_only=row.post_only,
            stp=SelfTradePrevention(row.stp),
            price=row.price,
            quantity=row.quantity,
            budget=None if row.budget is None else Cents(row.budget),
            filled=row.filled,
            remaining=row.quantity - row.filled,
            filled_cost=Cents(row.filled_cost),
            average_fill_price=row.filled_cost / row.filled if row.filled else None,
            reserved_cash=Cents(row.reserved_cash),
            reserved_shares=row.reserved_shares,
            status=OrderStatus(row.status),
            reason=row.reason,
            expires_at=row.expires_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
            market_id=row.market_id,
        )


@strawberry.type(description="A trade the viewer took part in, seen from the viewer's side.")
class Trade:
    id: strawberry.ID = strawberry.field(description="The trade's id.")
    seq: int = strawberry.field(description="The market's sequence number of the trade.")
    kind: TradeKind = strawberry.field(description="What it did to the market's shares.")
    yes_price: int = strawberry.field(description="The price on the YES book, cents.")
    price: int = strawberry.field(
        description="Cents per share of the viewer's outcome: yesPrice for YES, 100 - yesPrice"
        " for NO."
    )
    quantity: int = strawberry.field(description="Shares traded.")
    side: OrderSide = strawberry.field(description="Whether the viewer bought or sold.")
    outcome: Outcome = strawberry.field(description="The outcome the viewer traded.")
    role: TradeRole = strawberry.field(description="Maker or taker.")
    order_id: strawberry.ID = strawberry.field(description="The viewer's order that traded.")
    created_at: datetime = strawberry.field(description="When it happened.")
    market: Market = strawberry.field(resolver=market_of, description="The market it happened in.")
    market_id: strawberry.Private[int]

    @classmethod
    def from_model(cls, seen: ViewerTrade) -> Self:
        trade = seen.trade
        assert trade.id is not None
        assert seen.order.id is not None
        return cls(
            id=strawberry.ID(str(trade.id)),
            seq=trade.seq,
            kind=TradeKind(trade.kind),
            yes_price=trade.yes_price,
            price=seen.price,
            quantity=trade.quantity,
            side=OrderSide(seen.side.value),
            outcome=Outcome(seen.outcome.value),
            role=TradeRole.MAKER if seen.is_maker else TradeRole.TAKER,
            order_id=strawberry.ID(str(seen.order.id)),
            created_at=trade.created_at,
            market_id=trade.market_id,
        )


class _Held(Protocol):
    outcome: Outcome
    shares: int
    cost_basis: Cents
    market_id: int


async def _mark_value(root: _Held, info: Info[Context, None]) -> Cents | None:
    stats = await market_stats(info, root.market_id)
    if stats is None or stats.last is None:
        return None
    price = stats.last if root.outcome is Outcome.YES else 100 - stats.last
    return Cents(root.shares * price)


async def _unrealized_pnl(root: _Held, info: Info[Context, None]) -> Cents | None:
    value = await _mark_value(root, info)
    return None if value is None else Cents(value - root.cost_basis)


@strawberry.type(description="The viewer's shares of one outcome of one market.")
class Position:
    outcome: Outcome = strawberry.field(description="The outcome held.")
    shares: int = strawberry.field(description="All shares held: available + reserved.")
    shares_available: int = strawberry.field(description="Shares free to sell.")
    shares_reserved: int = strawberry.field(description="Shares reserved by open sell orders.")
    cost_basis: Cents = strawberry.field(description="What the shares held cost, in cents.")
    average_cost: float | None = strawberry.field(
        description="costBasis / shares, cents per share; null when no shares are held."
    )
    realized_pnl: Cents = strawberry.field(
        description="Profit or loss already realized by selling or payout, in cents."
    )
    market: Market = strawberry.field(resolver=market_of, description="The market of the position.")
    mark_value: Cents | None = strawberry.field(
        resolver=_mark_value,
        description="What the shares are worth at the market's last price, in cents: shares x"
        " lastPrice for YES, shares x (100 - lastPrice) for NO. " + LIVE_DATA,
    )
    unrealized_pnl: Cents | None = strawberry.field(
        resolver=_unrealized_pnl, description="markValue - costBasis, in cents. " + LIVE_DATA
    )
    market_id: strawberry.Private[int]

    @classmethod
    def from_model(cls, row: models.Position) -> Self:
        shares = row.shares_available + row.shares_reserved
        return cls(
            outcome=Outcome(row.outcome),
            shares=shares,
            shares_available=row.shares_available,
            shares_reserved=row.shares_reserved,
            cost_basis=Cents(row.cost_basis),
            average_cost=row.cost_basis / shares if shares else None,
            realized_pnl=Cents(row.realized_pnl),
            market_id=row.market_id,
        )


@strawberry.type(description="The viewer's positions.")
class PositionList:
    positions: list[Position] = strawberry.field(
        description="Positions holding shares or with realized PnL, by market then outcome."
    )


@strawberry.type(description="An order in a page, with its cursor.")
class OrderEdge:
    cursor: str = strawberry.field(description="Opaque; pass as `after` to continue after it.")
    node: Order = strawberry.field(description="The order.")


@strawberry.type(description="A page of the viewer's orders, newest first.")
class OrderConnection:
    edges: list[OrderEdge] = strawberry.field(description="The orders of this page, in order.")
    page_info: PageInfo = strawberry.field(description="Where this page ends.")
    total_count: int = strawberry.field(
        resolver=total_count, description="How many orders match, across all pages."
    )
    count: strawberry.Private[Callable[[], Awaitable[int]]]


@strawberry.type(description="A trade in a page, with its cursor.")
class TradeEdge:
    cursor: str = strawberry.field(description="Opaque; pass as `after` to continue after it.")
    node: Trade = strawberry.field(description="The trade.")


@strawberry.type(description="A page of the viewer's trades, newest first.")
class TradeConnection:
    edges: list[TradeEdge] = strawberry.field(description="The trades of this page, in order.")
    page_info: PageInfo = strawberry.field(description="Where this page ends.")
    total_count: int = strawberry.field(
        resolver=total_count, description="How many trades match, across all pages."
    )
    count: strawberry.Private[Callable[[], Awaitable[int]]]


PositionsResult = Annotated[
    PositionList | InvalidInput | NotAuthenticated | Forbidden,
    strawberry.union("PositionsResult", description="The viewer's positions, or why not."),
]
OrdersResult = Annotated[
    OrderConnection | InvalidInput | NotAuthenticated | Forbidden,
    strawberry.union("OrdersResult", description="A page of the viewer's orders, or why not."),
]
OrderResult = Annotated[
    Order | NotFound | NotAuthenticated | Forbidden,
    strawberry.union(
        "OrderResult",
        description="One of the viewer's orders; another user's order is NotFound.",
    ),
]
TradesResult = Annotated[
    TradeConnection | InvalidInput | NotAuthenticated | Forbidden,
    strawberry.union("TradesResult", description="A page of the viewer's trades, or why not."),
]
