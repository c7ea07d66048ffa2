"""Order entry: check, write in one transaction, then tell the matcher through Kafka and wait
briefly for its answer. Postgres is the truth: once the transaction commits the order
exists, whatever happens to the message (the matcher's sweeper re-sends what it missed)."""

import asyncio
import re
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

import strawberry
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from strawberry.types import Info

from auth.viewer import Viewer
from db import orders as repository
from db.enums import ApiScope, Asset, OrderKind, Outcome, SelfTradePrevention, Side, TimeInForce
from db.enums import MarketStatus as StoredMarketStatus
from db.models import Order as OrderRow
from db.session import driver_connection
from resolvers.access import signed_in
from resolvers.paging import parse_id
from schema import portfolio
from schema.common import (
    Cents,
    InsufficientFunds,
    InvalidInput,
    InvalidState,
    NotFound,
)
from schema.context import Context
from schema.markets import MarketStatus
from schema.markets import Outcome as MarketOutcome
from schema.orders import (
    CLIENT_ORDER_ID,
    MAX_BATCH,
    MAX_BUDGET,
    AmendOrderResult,
    CancelAllOrdersResult,
    CancelAllRequested,
    CancelOrderResult,
    MarketClosed,
    OrderAmendRequested,
    OrderCancelRequested,
    OrderPlaced,
    OrdersPlaced,
    PlaceOrderInput,
    PlaceOrderResult,
    PlaceOrdersResult,
)
from schema.portfolio import Order
from schema.portfolio import OrderKind as OrderKindType
from schema.portfolio import TimeInForce as TimeInForceType
from workers import dispatch
from workers.commands import Amend, Cancel, CancelAll, Command, Place, place_from_order
from workers.results import OrderNow

CLIENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _invalid(field: str, message: str) -> InvalidInput:
    return InvalidInput(message=message, field=field)


def _check(data: PlaceOrderInput, now: datetime) -> repository.NewOrder | InvalidInput | NotFound:
    """The order, if the input is valid on its own (the market and funds come later)."""
    market_id = parse_id(data.market_id)
    if market_id is None:
        return NotFound(message="No such market.", field="marketId")
    if not 1 <= data.price <= 99:
        return _invalid("price", "A price is 1 to 99 cents.")
    if data.quantity < 1:
        return _invalid("quantity", "The quantity must be at least 1 share.")
    is_market = data.kind is OrderKindType.MARKET
    if is_market and data.time_in_force not in (None, TimeInForceType.IOC):
        return _invalid("timeInForce", "A MARKET order is immediate: give no timeInForce, or IOC.")
    time_in_force = TimeInForce(data.time_in_force.name if data.time_in_force else "GTC")
    if is_market:
        time_in_force = TimeInForce.IOC
    if data.post_only and (is_market or time_in_force is not TimeInForce.GTC):
        return _invalid("postOnly", "Only a LIMIT GTC order can be post-only.")
    expires_at = data.expires_at
    if expires_at is not None and expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=UTC)
    if time_in_force is TimeInForce.GTD and expires_at is None:
        return _invalid("expiresAt", "A GTD order needs expiresAt.")
    if time_in_force is not TimeInForce.GTD and expires_at is not None:
        return _invalid("expiresAt", "Only a GTD order has expiresAt.")
    if expires_at is not None and expires_at <= now:
        return _invalid("expiresAt", "expiresAt must be in the future.")
    side = Side(data.side.name)
    if is_market and side is Side.BUY:
        if data.budget is None:
            return _invalid("budget", "A MARKET buy needs a budget in cents.")
        if not 1 <= data.budget <= MAX_BUDGET:
            return _invalid("budget", f"A budget is 1 to {MAX_BUDGET} cents.")
    elif data.budget is not None:
        return _invalid("budget", "Only a MARKET buy has a budget.")
    client = data.client_order_id
    if client is not None and not CLIENT_ID.match(client):
        return _invalid("clientOrderId", f"A clientOrderId is {CLIENT_ORDER_ID}.")
    return repository.NewOrder(
        market_id=market_id,
        side=side,
        outcome=Outcome(data.outcome.name),
        kind=OrderKind(data.kind.name),
        time_in_force=time_in_force,
        post_only=data.post_only,
        stp=SelfTradePrevention(data.self_trade_prevention.name),
        price=data.price,
        quantity=data.quantity,
        budget=data.budget,
        expires_at=expires_at,
        client_order_id=client,
    )


def _place_command(user_id: int, order_id: int, command_id: int, o: repository.NewOrder) -> Place:
    return place_from_order(
        command_id,
        order_id,
        market_id=o.market_id,
        user_id=user_id,
        side=o.side.value,
        outcome=o.outcome.value,
        kind=o.kind.value,
        time_in_force=o.time_in_force.value,
        post_only=o.post_only,
        price=o.price,
        quantity=o.quantity,
        expires_ms=None
        if o.expires_at is None
        else (o.expires_at - EPOCH) // timedelta(milliseconds=1),
        budget=o.budget,
        stp=o.stp.value,
    )


def _market_closed(status: StoredMarketStatus) -> MarketClosed:
    return MarketClosed(
        message=f"The market is {status.value.lower()}: it does not trade now.",
        field="marketId",
        status=MarketStatus(status.value),
    )


def _short(shortfall: repository.Shortfall, field: str) -> InsufficientFunds:
    what = "cash" if shortfall.asset is Asset.CASH else f"{shortfall.asset.value} shares"
    return InsufficientFunds(
        message=f"Not enough available {what}.",
        field=field,
        available=shortfall.available,
        required=shortfall.required,
    )


def _refused(placement: repository.Placement, wanted: repository.NewOrder) -> PlaceOrderResult:
    match placement:
        case repository.MarketMissing():
            return NotFound(message="No such market.", field="marketId")
        case repository.MarketNotOpen(status):
            return _market_closed(status)
        case repository.TooLarge(limit):
            return _invalid("quantity", f"This market takes at most {limit} shares an order.")
        case repository.Shortfall():
            is_market_buy = wanted.kind is OrderKind.MARKET and wanted.side is Side.BUY
            return _short(placement, "budget" if is_market_buy else "quantity")
        case repository.RepeatedClientId():
            return _invalid("clientOrderId", "This clientOrderId is used earlier in the batch.")
    raise AssertionError(placement)


async def _send_and_wait(info: Info[Context, None], commands: Sequence[Command]) -> set[int]:
    """Send the commands, then wait (at most ORDER_WAIT_MS) until the matcher says it applied
    them; returns the ids it applied in time."""
    return await dispatch.send_and_wait(info.context.connections, info.context.results, commands)


async def _orders(info: Info[Context, None], user_id: int, ids: Sequence[int]) -> list[OrderRow]:
    if not ids:
        return []
    async with info.context.connections.sessions() as session:
        return await repository.orders_by_ids(session, user_id, ids)


def _order_of(
    user_id: int, wanted: repository.NewOrder, placed: repository.Placed, now: OrderNow
) -> Order:
    """The GraphQL order, from what order entry wrote and the matcher's committed answer:
    the same as `Order.from_model` of the row read back."""
    return Order(
        id=strawberry.ID(str(placed.order_id)),
        client_order_id=wanted.client_order_id,
        side=portfolio.OrderSide(wanted.side.value),
        outcome=MarketOutcome(wanted.outcome.value),
        kind=portfolio.OrderKind(wanted.kind.value),
        time_in_force=portfolio.TimeInForce(wanted.time_in_force.value),
        post_only=wanted.post_only,
        stp=portfolio.SelfTradePrevention(wanted.stp.value),
        price=wanted.price,
        quantity=wanted.quantity,
        budget=None if wanted.budget is None else Cents(wanted.budget),
        filled=now.filled,
        remaining=wanted.quantity - now.filled,
        filled_cost=Cents(now.filled_cost),
        average_fill_price=now.filled_cost / now.filled if now.filled else None,
        reserved_cash=Cents(now.reserved_cash),
        reserved_shares=now.reserved_shares,
        status=portfolio.OrderStatus(now.status),
        reason=now.reason,
        expires_at=placed.expires_at,
        created_at=placed.created_at,
        updated_at=now.updated_at,
        market_id=wanted.market_id,
    )


_GROUP_ORDERS = 1000  # at most this many orders in one statement (one call may be bigger)


@dataclass(slots=True, eq=False)
class _Call:
    user_id: int
    wanted: Sequence[repository.NewOrder]
    now: datetime
    placed: "asyncio.Future[list[repository.Placed] | None]"


class _GroupCommit:
    """Order entry for the calls that arrive together, in one statement: one statement is
    under way at a time, and the calls that arrive meanwhile go together in the next. A user
    has one call in a statement: another call of theirs waits for the next one. (Several
    statements under way at once cost more: most carried a single order; see the README.)"""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.waiting: list[_Call] = []
        self.flusher: asyncio.Task[None] | None = None

    async def place(
        self, user_id: int, wanted: Sequence[repository.NewOrder], now: datetime
    ) -> list[repository.Placed] | None:
        call = _Call(user_id, wanted, now, asyncio.get_running_loop().create_future())
        self.waiting.append(call)
        if self.flusher is None:
            self.flusher = asyncio.create_task(self._flush())
        return await call.placed

    async def _flush(self) -> None:
        try:
            while self.waiting:
                taken: list[_Call] = []
                left: list[_Call] = []
                users: set[int] = set()
                orders = 0
                for call in self.waiting:
                    if call.placed.done():  # its caller is gone: nothing to write
                        continue
                    if call.user_id in users or (
                        taken and orders + len(call.wanted) > _GROUP_ORDERS
                    ):
                        left.append(call)
                        continue
                    taken.append(call)
                    users.add(call.user_id)
                    orders += len(call.wanted)
                self.waiting = left
                if taken:
                    await self._place(taken)
        finally:
            self.flusher = None

    async def _place(self, calls: list[_Call]) -> None:
        try:
            async with driver_connection(self.engine) as raw:
                placed = await repository.place_groups_at_once(
                    raw, [(c.user_id, c.wanted, c.now) for c in calls]
                )
                # answered before the connection goes back to the pool (a round trip)
                for call, result in zip(calls, placed, strict=True):
                    if not call.placed.done():
                        call.placed.set_result(result)
        except BaseException as exc:
            for call in calls:
                if not call.placed.done():
                    if isinstance(exc, Exception):
                        call.placed.set_exception(exc)
                    else:
                        call.placed.cancel()
            if not isinstance(exc, Exception):
                raise


_group_commits: "weakref.WeakKeyDictionary[AsyncEngine, _GroupCommit]" = weakref.WeakKeyDictionary()


async def _place_at_once(
    info: Info[Context, None], user_id: int, wanted: Sequence[repository.NewOrder]
) -> list[repository.Placed] | None:
    """Every order placed (with other calls' that arrive together), or None (nothing written)
    if any is refused."""
    engine = info.context.connections.engine
    group = _group_commits.get(engine)
    if group is None:
        group = _group_commits[engine] = _GroupCommit(engine)
    return await group.place(user_id, wanted, info.context.now)


async def _place(
    info: Info[Context, None], user_id: int, inputs: Sequence[PlaceOrderInput]
) -> list[PlaceOrderResult]:
    now = info.context.now
    checked = [_check(data, now) for data in inputs]
    wanted = [c for c in checked if isinstance(c, repository.NewOrder)]
    placements: list[repository.Placement] = []
    placed: dict[int, repository.Placed] = {}
    if wanted:
        at_once = await _place_at_once(info, user_id, wanted)
        if at_once is not None:
            placements = [repository.Accepted(p.order_id, p.command_id) for p in at_once]
            placed = {p.order_id: p for p in at_once}
        else:
            placements = await repository.in_transaction(
                info.context.connections.sessions,
                lambda session: repository.place_orders(session, user_id, wanted, now),
            )
    accepted = [p for p in placements if isinstance(p, repository.Accepted)]
    commands = [
        _place_command(user_id, p.order_id, p.command_id, o)
        for p, o in zip(placements, wanted, strict=True)
        if isinstance(p, repository.Accepted) and p.command_id is not None
    ]
    _, states = await dispatch.send_and_hear(
        info.context.connections, info.context.results, commands, placed
    )
    orders: dict[int, Order] = {}
    for p, o in zip(placements, wanted, strict=True):
        if isinstance(p, repository.Accepted) and p.order_id in states:
            orders[p.order_id] = _order_of(user_id, o, placed[p.order_id], states[p.order_id])
    unknown = [p.order_id for p in accepted if p.order_id not in orders]
    for row in await _orders(info, user_id, unknown):
        read = Order.from_model(row)
        orders[int(read.id)] = read

    answers = iter(zip(placements, wanted, strict=True))
    results: list[PlaceOrderResult] = []
    for item in checked:
        if not isinstance(item, repository.NewOrder):
            results.append(item)
            continue
        placement, order = next(answers)
        if isinstance(placement, repository.Accepted):
            results.append(
                OrderPlaced(
                    order=orders[placement.order_id], duplicate=placement.command_id is None
                )
            )
        else:
            results.append(_refused(placement, order))
    return results


async def place_order(
    info: Info[Context, None],
    input: Annotated[PlaceOrderInput, strawberry.argument(description="The order.")],
) -> PlaceOrderResult:
    viewer = signed_in(info, ApiScope.TRADE)
    if not isinstance(viewer, Viewer):
        return viewer
    [result] = await _place(info, viewer.user_id, [input])
    return result


async def place_orders(
    info: Info[Context, None],
    inputs: Annotated[
        list[PlaceOrderInput],
        strawberry.argument(description=f"1 to {MAX_BATCH} orders, placed in this order."),
    ],
) -> PlaceOrdersResult:
    viewer = signed_in(info, ApiScope.TRADE)
    if not isinstance(viewer, Viewer):
        return viewer
    if not 1 <= len(inputs) <= MAX_BATCH:
        return _invalid("inputs", f"A batch has 1 to {MAX_BATCH} orders.")
    return OrdersPlaced(results=await _place(info, viewer.user_id, inputs))


OrderIdArgument = Annotated[strawberry.ID, strawberry.argument(description="The order's id.")]


async def cancel_order(info: Info[Context, None], id: OrderIdArgument) -> CancelOrderResult:
    viewer = signed_in(info, ApiScope.TRADE)
    if not isinstance(viewer, Viewer):
        return viewer
    order_id = parse_id(id)
    if order_id is None:
        return NotFound(message="No such order.", field="id")
    user_id = viewer.user_id
    outcome = await repository.in_transaction(
        info.context.connections.sessions,
        lambda session: repository.cancel_order(session, user_id, order_id),
    )
    match outcome:
        case repository.NoSuchOrder():
            return NotFound(message="No such order.", field="id")
        case repository.OrderOver(status):
            return InvalidState(message=f"The order is {status.value}: it cannot be cancelled.")
    command = Cancel(outcome.command_id, outcome.market_id, order_id, user_id)
    await _send_and_wait(info, [command])
    [row] = await _orders(info, user_id, [order_id])
    return OrderCancelRequested(order=Order.from_model(row))


async def amend_order(
    info: Info[Context, None],
    id: OrderIdArgument,
    price: Annotated[
        int | None, strawberry.argument(description="The new limit price, 1 to 99 cents.")
    ] = None,
    quantity: Annotated[
        int | None,
        strawberry.argument(
            description="The new total size, filled shares included: more than is filled, at"
            " most the market's maximum order size."
        ),
    ] = None,
) -> AmendOrderResult:
    viewer = signed_in(info, ApiScope.TRADE)
    if not isinstance(viewer, Viewer):
        return viewer
    order_id = parse_id(id)
    if order_id is None:
        return NotFound(message="No such order.", field="id")
    if price is None and quantity is None:
        return _invalid("price", "Give a new price, a new quantity, or both.")
    if price is not None and not 1 <= price <= 99:
        return _invalid("price", "A price is 1 to 99 cents.")
    if quantity is not None and quantity < 1:
        return _invalid("quantity", "The quantity must be at least 1 share.")
    user_id, now = viewer.user_id, info.context.now
    outcome = await repository.in_transaction(
        info.context.connections.sessions,
        lambda session: repository.amend_order(session, user_id, order_id, price, quantity, now),
    )
    match outcome:
        case repository.NoSuchOrder():
            return NotFound(message="No such order.", field="id")
        case repository.OrderOver(status):
            return InvalidState(message=f"The order is {status.value}: it cannot be amended.")
        case repository.NotLimit():
            return InvalidState(message="Only LIMIT orders can be amended.")
        case repository.MarketNotOpen(status):
            return _market_closed(status)
        case repository.TooLarge(limit):
            return _invalid("quantity", f"This market takes at most {limit} shares an order.")
        case repository.NotAboveFilled(filled):
            return _invalid("quantity", f"The new quantity must be more than the {filled} filled.")
        case repository.Shortfall():
            return _short(outcome, "price" if quantity is None else "quantity")
    command = Amend(outcome.command_id, outcome.market_id, order_id, user_id, price, quantity)
    await _send_and_wait(info, [command])
    [row] = await _orders(info, user_id, [order_id])
    return OrderAmendRequested(order=Order.from_model(row))


async def cancel_all_orders(
    info: Info[Context, None],
    market_id: Annotated[
        strawberry.ID | None,
        strawberry.argument(description="Only this market's orders; all markets when null."),
    ] = None,
) -> CancelAllOrdersResult:
    viewer = signed_in(info, ApiScope.TRADE)
    if not isinstance(viewer, Viewer):
        return viewer
    market = None
    if market_id is not None:
        market = parse_id(market_id)
        if market is None:
            return NotFound(message="No such market.", field="marketId")
    user_id = viewer.user_id

    async def cancel_all(session: AsyncSession) -> repository.CancelAllRequested | None:
        if market is not None and not await repository.market_exists(session, market):
            return None
        return await repository.cancel_all_orders(session, user_id, market)

    requested = await repository.in_transaction(info.context.connections.sessions, cancel_all)
    if requested is None:
        return NotFound(message="No such market.", field="marketId")
    commands = [CancelAll(c, m, user_id) for m, c in sorted(requested.commands.items())]
    await _send_and_wait(info, commands)
    rows = await _orders(info, user_id, requested.order_ids)
    return CancelAllRequested(
        requested=len(commands), orders=[Order.from_model(row) for row in rows]
    )


@strawberry.type
class OrderMutation:
    place_order: PlaceOrderResult = strawberry.mutation(
        resolver=place_order,
        description="Place an order (a session, or an API key with TRADE): its cash or shares"
        " are reserved at once, then the matcher trades it.",
    )
    place_orders: PlaceOrdersResult = strawberry.mutation(
        resolver=place_orders,
        description=f"Place up to {MAX_BATCH} orders at once, each with its own result.",
    )
    cancel_order: CancelOrderResult = strawberry.mutation(
        resolver=cancel_order,
        description="Cancel one of the caller's live orders; the matcher releases what it holds.",
    )
    amend_order: AmendOrderResult = strawberry.mutation(
        resolver=amend_order,
        description="Change a live LIMIT order's price and/or total size. A price change or a"
        " size increase loses the order's queue priority; a size decrease keeps it.",
    )
    cancel_all_orders: CancelAllOrdersResult = strawberry.mutation(
        resolver=cancel_all_orders,
        description="Cancel all the caller's live orders, in one market or in all.",
    )
