"""The events of live subscriptions: each carries the market's sequence number and the
engine time, so a client can order them, see a gap, and tell a quiet feed from a dead one."""

from datetime import UTC, datetime
from enum import Enum
from typing import Annotated

import strawberry

from schema.books import BookLevel, BookView
from schema.common import Cents, Forbidden, InvalidInput, NotAuthenticated, NotFound
from schema.markets import MarketStatus, Outcome
from schema.portfolio import OrderKind, OrderSide, OrderStatus, TradeKind, TradeRole


def engine_time(ts_ms: int) -> datetime:
    return datetime.fromtimestamp(ts_ms / 1000, UTC)


@strawberry.enum(description="A side of a book, in the view's prices.")
class BookSide(Enum):
    BID = strawberry.enum_value("BID", description="Offers to buy.")
    ASK = strawberry.enum_value("ASK", description="Offers to sell.")


@strawberry.type(description="One price level of a book now holds `quantity` shares.")
class BookLevelChange:
    seq: int = strawberry.field(description="The market's sequence number of the change.")
    side: BookSide = strawberry.field(description="Bid or ask, in the view's prices.")
    price: int = strawberry.field(description="Cents of the view's outcome, 1..99.")
    quantity: int = strawberry.field(
        description="Shares now resting at this price; 0: the level is gone from the view."
    )


@strawberry.type(
    description="The book as it stands at `seq`: the first event of an `orderBook`"
    " subscription (and again after a ResyncRequired)."
)
class OrderBookSnapshot:
    market_id: strawberry.ID = strawberry.field(description="The market's id.")
    view: BookView = strawberry.field(description="The outcome whose prices are shown.")
    seq: int = strawberry.field(description="The market's sequence number the book reflects.")
    time: datetime | None = strawberry.field(
        description="Engine time of the book; null before the matcher published any."
    )
    bids: list[BookLevel] = strawberry.field(description="Best bids first, at most `depth`.")
    asks: list[BookLevel] = strawberry.field(description="Best asks first, at most `depth`.")
    last_price: int | None = strawberry.field(
        description="The last traded price in the view's cents; null before any trade."
    )


@strawberry.type(
    description="What one matcher batch changed in the best `depth` levels of the book."
    " Apply the changes in order (quantity 0 removes a level), then keep the best `depth`"
    " levels a side: the book then equals a fresh snapshot at `seq`."
)
class BookUpdate:
    market_id: strawberry.ID = strawberry.field(description="The market's id.")
    prev_seq: int = strawberry.field(
        description="The sequence number this update follows: the previous event's `seq`"
        " (a different value means something was missed: resubscribe with `afterSeq`)."
    )
    seq: int = strawberry.field(description="The market's sequence number after the batch.")
    time: datetime = strawberry.field(description="Engine time of the batch.")
    changes: list[BookLevelChange] = strawberry.field(
        description="The levels that changed, by sequence number."
    )


@strawberry.type(
    description="Nothing to say: the feed is alive, and the market is at `seq` (sent every"
    " few seconds on a quiet subscription)."
)
class Heartbeat:
    market_id: strawberry.ID | None = strawberry.field(
        description="The market this heartbeat speaks of; null on private subscriptions."
    )
    seq: int = strawberry.field(
        description="The latest sequence number known (the market's, or of the last private"
        " event; 0 before any)."
    )
    time: datetime = strawberry.field(
        description="Engine time of that sequence number, or the server's time before any."
    )


@strawberry.type(
    description="The subscription cannot continue from where the client is (it fell behind,"
    " or `afterSeq` is older than what the server keeps): drop the local state. An"
    " `orderBook` subscription follows with a fresh snapshot."
)
class ResyncRequired:
    market_id: strawberry.ID | None = strawberry.field(description="The market concerned.")
    seq: int = strawberry.field(description="The latest sequence number known.")
    time: datetime = strawberry.field(description="When the server decided it.")
    reason: str = strawberry.field(description="Why, for humans.")


@strawberry.type(description="A trade in a market, as anyone may see it.")
class MarketTrade:
    market_id: strawberry.ID = strawberry.field(description="The market's id.")
    seq: int = strawberry.field(description="The market's sequence number of the trade.")
    time: datetime = strawberry.field(description="Engine time of the trade.")
    yes_price: int = strawberry.field(description="The price on the YES book, cents.")
    quantity: int = strawberry.field(description="Shares traded.")
    kind: TradeKind = strawberry.field(description="What it did to the market's shares.")
    aggressor: BookSide = strawberry.field(
        description="The side of the YES book that took liquidity (BID: a buyer of YES took)."
    )


@strawberry.type(description="A market's prices and volume after a batch, in YES cents.")
class TickerUpdate:
    market_id: strawberry.ID = strawberry.field(description="The market's id.")
    seq: int = strawberry.field(description="The market's sequence number of these figures.")
    time: datetime | None = strawberry.field(description="Engine time of these figures.")
    last_price: int | None = strawberry.field(description="Last traded YES price, if any.")
    best_bid: int | None = strawberry.field(description="Best YES bid, if any.")
    best_ask: int | None = strawberry.field(description="Best YES ask, if any.")
    mid: float | None = strawberry.field(description="Halfway between best bid and ask.")
    volume: int = strawberry.field(description="Shares traded in the market in all.")
    volume_24h: int = strawberry.field(
        description="Shares traded in the market in the 24 hours up to `time` (in whole"
        " minutes: its minute and the 1,439 before)."
    )


@strawberry.enum(description="A market's trading state as the matcher sees it.")
class TradingState(Enum):
    OPEN = strawberry.enum_value("OPEN", description="Orders trade.")
    HALTED = strawberry.enum_value("HALTED", description="No new orders; the book is kept.")
    CLOSED = strawberry.enum_value("CLOSED", description="No more trading; the book is empty.")


@strawberry.type(description="A market's trading state changed.")
class MarketStatusChange:
    market_id: strawberry.ID = strawberry.field(description="The market's id.")
    seq: int = strawberry.field(description="The market's sequence number of the change.")
    time: datetime = strawberry.field(description="Engine time of the change.")
    state: TradingState = strawberry.field(description="The new trading state.")
    status: MarketStatus = strawberry.field(description="The market status it amounts to.")


@strawberry.type(description="One of the viewer's orders changed (matcher's view of it).")
class OrderUpdate:
    order_id: strawberry.ID = strawberry.field(description="The order's id.")
    market_id: strawberry.ID = strawberry.field(description="The market's id.")
    seq: int = strawberry.field(description="The market's sequence number after the batch.")
    time: datetime = strawberry.field(description="Engine time of the batch.")
    side: OrderSide = strawberry.field(description="Buy or sell.")
    outcome: Outcome = strawberry.field(description="The outcome whose shares it trades.")
    kind: OrderKind = strawberry.field(description="Limit or market.")
    price: int | None = strawberry.field(description="Limit price, cents of its own outcome.")
    quantity: int = strawberry.field(description="Shares asked for.")
    filled: int = strawberry.field(description="Shares filled so far.")
    remaining: int = strawberry.field(description="Shares not filled.")
    filled_cost: Cents = strawberry.field(description="Cents paid or received for the fills.")
    reserved_cash: Cents = strawberry.field(description="Cents still reserved by the order.")
    reserved_shares: int = strawberry.field(description="Shares still reserved by the order.")
    status: OrderStatus = strawberry.field(description="Where the order is in its life.")
    reason: str | None = strawberry.field(description="Why it ended, when it ended early.")


@strawberry.type(description="One of the viewer's orders traded.")
class Fill:
    market_id: strawberry.ID = strawberry.field(description="The market's id.")
    seq: int = strawberry.field(description="The market's sequence number of the trade.")
    time: datetime = strawberry.field(description="Engine time of the trade.")
    order_id: strawberry.ID = strawberry.field(description="The viewer's order that traded.")
    role: TradeRole = strawberry.field(description="Maker (resting) or taker.")
    side: OrderSide | None = strawberry.field(description="Whether the viewer bought or sold.")
    outcome: Outcome = strawberry.field(description="The outcome the viewer traded.")
    price: int = strawberry.field(description="Cents per share of the viewer's outcome.")
    yes_price: int = strawberry.field(description="The price on the YES book, cents.")
    quantity: int = strawberry.field(description="Shares traded.")
    kind: TradeKind = strawberry.field(description="What it did to the market's shares.")


@strawberry.type(description="The viewer's cash after a batch that touched it.")
class AccountUpdate:
    market_id: strawberry.ID = strawberry.field(description="The market whose batch it was.")
    seq: int = strawberry.field(description="The market's sequence number after the batch.")
    time: datetime = strawberry.field(description="Engine time of the batch.")
    available: Cents = strawberry.field(description="Cash free to use.")
    reserved: Cents = strawberry.field(description="Cash held by open orders.")
    total: Cents = strawberry.field(description="available + reserved.")


OrderBookEvent = Annotated[
    OrderBookSnapshot | BookUpdate | Heartbeat | ResyncRequired | NotFound | InvalidInput,
    strawberry.union("OrderBookEvent", description="An event of an `orderBook` subscription."),
]
TradeEvent = Annotated[
    MarketTrade | Heartbeat | ResyncRequired | NotFound,
    strawberry.union("TradeEvent", description="An event of a `trades` subscription."),
]
TickerEvent = Annotated[
    TickerUpdate | Heartbeat | ResyncRequired | NotFound | InvalidInput,
    strawberry.union("TickerEvent", description="An event of a `ticker` subscription."),
]
MarketStatusEvent = Annotated[
    MarketStatusChange | Heartbeat | ResyncRequired | NotFound,
    strawberry.union("MarketStatusEvent", description="An event of a `marketStatus` subscription."),
]
MyOrderEvent = Annotated[
    OrderUpdate | Heartbeat | ResyncRequired | NotAuthenticated | Forbidden,
    strawberry.union("MyOrderEvent", description="An event of a `myOrders` subscription."),
]
MyFillEvent = Annotated[
    Fill | Heartbeat | ResyncRequired | NotAuthenticated | Forbidden,
    strawberry.union("MyFillEvent", description="An event of a `myFills` subscription."),
]
MyAccountEvent = Annotated[
    AccountUpdate | Heartbeat | ResyncRequired | NotAuthenticated | Forbidden,
    strawberry.union("MyAccountEvent", description="An event of a `myAccount` subscription."),
]
