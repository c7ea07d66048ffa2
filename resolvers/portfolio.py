"""The viewer's positions, orders and trades. Nothing here ever reads another user's rows:
every repository call is scoped by the signed-in viewer's id."""

from typing import Annotated

import strawberry
from strawberry.types import Info

from auth.viewer import Viewer
from db import portfolio as repository
from db.enums import OrderStatus as StoredOrderStatus
from resolvers.access import signed_in
from resolvers.markets import PAGE_DEFAULT
from resolvers.paging import PAGE_MAX, id_cursor, page_start, parse_id
from schema.common import InvalidInput, NotFound, PageInfo
from schema.context import Context
from schema.portfolio import (
    Order,
    OrderConnection,
    OrderEdge,
    OrderResult,
    OrdersResult,
    OrderStatus,
    Position,
    PositionList,
    PositionsResult,
    Trade,
    TradeConnection,
    TradeEdge,
    TradesResult,
)

MarketIdArgument = Annotated[
    strawberry.ID | None, strawberry.argument(description="Only this market.")
]
FirstArgument = Annotated[int, strawberry.argument(description=f"How many items, 1 to {PAGE_MAX}.")]
AfterArgument = Annotated[
    str | None, strawberry.argument(description="The cursor of the item to continue after.")
]


def _market_filter(market_id: strawberry.ID | None) -> int | InvalidInput | None:
    if market_id is None:
        return None
    parsed = parse_id(market_id)
    if parsed is None:
        return InvalidInput(message=f"No market has the id {market_id!r}.", field="marketId")
    return parsed


async def positions(
    info: Info[Context, None], market_id: MarketIdArgument = None
) -> PositionsResult:
    viewer = signed_in(info)
    if not isinstance(viewer, Viewer):
        return viewer
    market = _market_filter(market_id)
    if isinstance(market, InvalidInput):
        return market
    async with info.context.connections.sessions() as session:
        rows = await repository.positions_of(session, viewer.user_id, market)
    return PositionList(positions=[Position.from_model(row) for row in rows])


async def orders(
    info: Info[Context, None],
    status: Annotated[
        list[OrderStatus] | None,
        strawberry.argument(description="Only orders in one of these statuses."),
    ] = None,
    market_id: MarketIdArgument = None,
    first: FirstArgument = PAGE_DEFAULT,
    after: AfterArgument = None,
) -> OrdersResult:
    viewer = signed_in(info)
    if not isinstance(viewer, Viewer):
        return viewer
    market = _market_filter(market_id)
    if isinstance(market, InvalidInput):
        return market
    before_id = page_start(first, after, "order")
    if isinstance(before_id, InvalidInput):
        return before_id
    statuses = None if status is None else [StoredOrderStatus(s.name) for s in status]
    async with info.context.connections.sessions() as session:
        rows = await repository.orders_of(
            session,
            viewer.user_id,
            statuses=statuses,
            market_id=market,
            before_id=before_id,
            limit=first + 1,
        )
    nodes = [Order.from_model(row) for row in rows[:first]]
    edges = [OrderEdge(cursor=id_cursor("order", int(node.id)), node=node) for node in nodes]

    async def count() -> int:
        async with info.context.connections.sessions() as session:
            return await repository.count_orders_of(
                session, viewer.user_id, statuses=statuses, market_id=market
            )

    return OrderConnection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=len(rows) > first, end_cursor=edges[-1].cursor if edges else None
        ),
        count=count,
    )


async def order(
    info: Info[Context, None],
    id: Annotated[strawberry.ID, strawberry.argument(description="The order's id.")],
) -> OrderResult:
    viewer = signed_in(info)
    if not isinstance(viewer, Viewer):
        return viewer
    order_id = parse_id(id)
    row = None
    if order_id is not None:
        async with info.context.connections.sessions() as session:
            row = await repository.order_of(session, viewer.user_id, order_id)
    if row is None:
        return NotFound(message=f"You have no order with the id {id!r}.", field="id")
    return Order.from_model(row)


async def trades(
    info: Info[Context, None],
    market_id: MarketIdArgument = None,
    first: FirstArgument = PAGE_DEFAULT,
    after: AfterArgument = None,
) -> TradesResult:
    viewer = signed_in(info)
    if not isinstance(viewer, Viewer):
        return viewer
    market = _market_filter(market_id)
    if isinstance(market, InvalidInput):
        return market
    before_id = page_start(first, after, "trade")
    if isinstance(before_id, InvalidInput):
        return before_id
    async with info.context.connections.sessions() as session:
        rows = await repository.trades_of(
            session, viewer.user_id, market_id=market, before_id=before_id, limit=first + 1
        )
    nodes = [Trade.from_model(seen) for seen in rows[:first]]
    edges = [TradeEdge(cursor=id_cursor("trade", int(node.id)), node=node) for node in nodes]

    async def count() -> int:
        async with info.context.connections.sessions() as session:
            return await repository.count_trades_of(session, viewer.user_id, market_id=market)

    return TradeConnection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=len(rows) > first, end_cursor=edges[-1].cursor if edges else None
        ),
        count=count,
    )


@strawberry.type(description="The viewer's own portfolio.")
class PortfolioQuery:
    positions: PositionsResult = strawberry.field(
        resolver=positions, description="The viewer's positions (signed in)."
    )
    orders: OrdersResult = strawberry.field(
        resolver=orders, description="The viewer's orders, newest first (signed in)."
    )
    order: OrderResult = strawberry.field(
        resolver=order,
        description="One of the viewer's orders; another user's order is NotFound (signed in).",
    )
    trades: TradesResult = strawberry.field(
        resolver=trades,
        description="The viewer's trades as maker or taker, newest first (signed in).",
    )
