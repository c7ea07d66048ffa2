"""A market's order book as the schema shows it, from the matcher's snapshot in Redis."""

from datetime import UTC, datetime
from enum import Enum
from typing import Annotated, Self

import strawberry

from engine import View
from schema.common import InvalidInput, NotFound
from workers.books import BookSnapshot


@strawberry.enum(description="Which outcome's prices a book is shown in.")
class BookView(Enum):
    YES = strawberry.enum_value("YES", description="YES prices: bids to buy YES, asks to sell YES.")
    NO = strawberry.enum_value(
        "NO",
        description="NO prices: NO bids are 100 - YES asks, NO asks are 100 - YES bids"
        " (the same orders, seen from the other outcome).",
    )


@strawberry.type(description="All the resting shares at one price.")
class BookLevel:
    price: int = strawberry.field(description="Cents of the view's outcome, 1..99.")
    quantity: int = strawberry.field(description="Shares resting at this price.")


@strawberry.type(
    description="A market's order book as the matcher last published it: the best levels of"
    " each side, and the market sequence number it reflects."
)
class OrderBook:
    market_id: strawberry.ID = strawberry.field(description="The market's id.")
    view: BookView = strawberry.field(description="The outcome whose prices are shown.")
    seq: int = strawberry.field(
        description="The market's sequence number this book reflects; 0 before the matcher"
        " published any (the book is then empty)."
    )
    bids: list[BookLevel] = strawberry.field(
        description="Offers to buy the view's outcome, highest price first."
    )
    asks: list[BookLevel] = strawberry.field(
        description="Offers to sell the view's outcome, lowest price first."
    )
    last_price: int | None = strawberry.field(
        description="The last traded price in the view's cents; null before any trade."
    )
    updated_at: datetime | None = strawberry.field(
        description="The matcher's (engine) time of this book; null before any."
    )

    @classmethod
    def from_snapshot(
        cls, market_id: int, snapshot: BookSnapshot | None, depth: int, view: BookView
    ) -> Self:
        if snapshot is None:
            return cls(
                market_id=strawberry.ID(str(market_id)),
                view=view,
                seq=0,
                bids=[],
                asks=[],
                last_price=None,
                updated_at=None,
            )
        engine_view = View[view.name]
        bids, asks = snapshot.depth(depth, engine_view)
        return cls(
            market_id=strawberry.ID(str(market_id)),
            view=view,
            seq=snapshot.seq,
            bids=[BookLevel(price=p, quantity=q) for p, q in bids],
            asks=[BookLevel(price=p, quantity=q) for p, q in asks],
            last_price=snapshot.last_price(engine_view),
            updated_at=datetime.fromtimestamp(snapshot.ts / 1000, UTC),
        )


OrderBookResult = Annotated[
    OrderBook | NotFound | InvalidInput,
    strawberry.union("OrderBookResult", description="A market's order book, or why there is none."),
]
