"""Order entry as the schema shows it: the input of a new order, what each order mutation
answers, and the one error only trading has (MarketClosed)."""

from datetime import datetime
from typing import Annotated

import strawberry

from schema.common import (
    Cents,
    Error,
    ErrorCode,
    Forbidden,
    InsufficientFunds,
    InvalidInput,
    InvalidState,
    NotAuthenticated,
    NotFound,
    flat_input,
)
from schema.markets import MarketStatus, Outcome
from schema.portfolio import Order, OrderKind, OrderSide, SelfTradePrevention, TimeInForce

MAX_BATCH = 100
MAX_BUDGET = 10**12
CLIENT_ORDER_ID = "1 to 64 characters of A-Z, a-z, 0-9, `_`, `.`, `:` and `-`"


def _after_wait(meanwhile: str) -> str:
    return (
        "The order as it stands after a short wait for the matcher: "
        + meanwhile
        + " if the matcher has not answered yet (it will; read it again with `order(id:)`)."
    )


@strawberry.type(description="The market does not trade now (halted, closed or resolved).")
class MarketClosed(Error):
    code: ErrorCode = strawberry.field(
        default=ErrorCode.MARKET_CLOSED, description="Machine-readable reason."
    )
    status: MarketStatus = strawberry.field(description="The market's status now.")


@flat_input
@strawberry.input(description="A new order.")
class PlaceOrderInput:
    market_id: strawberry.ID = strawberry.field(description="The market to trade in.")
    side: OrderSide = strawberry.field(description="Buy or sell shares of `outcome`.")
    outcome: Outcome = strawberry.field(description="The outcome whose shares are traded.")
    kind: OrderKind = strawberry.field(
        default=OrderKind.LIMIT, description="LIMIT (the default) or MARKET."
    )
    price: int = strawberry.field(
        description="Cents per share of `outcome`, 1 to 99: the limit, or for a MARKET order"
        " the worst price it may trade at."
    )
    quantity: int = strawberry.field(
        description="Shares, 1 to the market's maximum order size; for a MARKET buy, the most"
        " it may get."
    )
    time_in_force: TimeInForce | None = strawberry.field(
        default=None,
        description="How long a LIMIT order may rest: GTC (the default), GTD, IOC or FOK."
        " MARKET orders are immediate: null or IOC.",
    )
    post_only: bool = strawberry.field(
        default=False,
        description="Refuse the order rather than let it take liquidity: it may only rest on the"
        " book (LIMIT GTC orders only).",
    )
    expires_at: datetime | None = strawberry.field(
        default=None, description="When a GTD order expires: required for GTD, in the future."
    )
    budget: Cents | None = strawberry.field(
        default=None,
        description=f"The most cents a MARKET buy may spend, 1 to {MAX_BUDGET}: required for"
        " MARKET buys, refused otherwise. It is what the order reserves.",
    )
    self_trade_prevention: SelfTradePrevention = strawberry.field(
        default=SelfTradePrevention.CANCEL_RESTING,
        description="What happens if it would trade with the caller's own resting order.",
    )
    client_order_id: str | None = strawberry.field(
        default=None,
        description=f"The caller's own id, {CLIENT_ORDER_ID}, unique per user: placing again"
        " with a used one returns that earlier order unchanged (safe retries).",
    )


@strawberry.type(description="The order was accepted: its cash or shares are reserved.")
class OrderPlaced:
    order: Order = strawberry.field(description=_after_wait("PENDING"))
    duplicate: bool = strawberry.field(
        description="True when `clientOrderId` named an earlier order, returned unchanged:"
        " nothing new was placed or reserved."
    )


PlaceOrderResult = Annotated[
    OrderPlaced
    | InvalidInput
    | InsufficientFunds
    | MarketClosed
    | NotFound
    | NotAuthenticated
    | Forbidden,
    strawberry.union("PlaceOrderResult", description="The placed order, or why not."),
]


@strawberry.type(description="A batch of orders, each accepted or refused on its own.")
class OrdersPlaced:
    results: list[PlaceOrderResult] = strawberry.field(
        description="One result per input, in the inputs' order. Funds are checked in that"
        " order too: an input refused for funds leaves them to the next ones."
    )


PlaceOrdersResult = Annotated[
    OrdersPlaced | InvalidInput | NotAuthenticated | Forbidden,
    strawberry.union(
        "PlaceOrdersResult",
        description="A result per order, or why the whole batch was refused.",
    ),
]


@strawberry.type(description="A cancel was sent to the matcher, which releases the rest.")
class OrderCancelRequested:
    order: Order = strawberry.field(description=_after_wait("unchanged"))


CancelOrderResult = Annotated[
    OrderCancelRequested | NotFound | InvalidState | NotAuthenticated | Forbidden,
    strawberry.union(
        "CancelOrderResult",
        description="The cancel request, or why not (a finished order is InvalidState).",
    ),
]


@strawberry.type(description="An amend was sent to the matcher; any extra need is reserved.")
class OrderAmendRequested:
    order: Order = strawberry.field(description=_after_wait("unchanged"))


AmendOrderResult = Annotated[
    OrderAmendRequested
    | InvalidInput
    | InsufficientFunds
    | InvalidState
    | MarketClosed
    | NotFound
    | NotAuthenticated
    | Forbidden,
    strawberry.union("AmendOrderResult", description="The amend request, or why not."),
]


@strawberry.type(description="Cancel-all was sent to the matcher of each market concerned.")
class CancelAllRequested:
    requested: int = strawberry.field(
        description="How many markets a cancel-all was sent to (those with live orders)."
    )
    orders: list[Order] = strawberry.field(
        description="The orders that were live when asked, as they stand after a short wait"
        " for the matcher."
    )


CancelAllOrdersResult = Annotated[
    CancelAllRequested | NotFound | NotAuthenticated | Forbidden,
    strawberry.union("CancelAllOrdersResult", description="The cancel-all, or why not."),
]
