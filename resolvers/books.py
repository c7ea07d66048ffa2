"""Order books: read by anyone, from the snapshot the matcher keeps in Redis.

A book found in Redis needs no SQL (only a market that exists has one); Postgres is asked
only when there is none, to tell a market not traded yet from a missing one.
"""

from typing import Annotated

import strawberry
from strawberry.types import Info

from resolvers.paging import parse_id
from schema.books import BookView, OrderBook, OrderBookResult
from schema.common import InvalidInput, NotFound
from schema.context import Context
from workers.books import MAX_DEPTH

DEPTH_DEFAULT = 10


async def order_book(
    info: Info[Context, None],
    market_id: Annotated[strawberry.ID, strawberry.argument(description="The market's id.")],
    depth: Annotated[
        int, strawberry.argument(description=f"Price levels a side, 1 to {MAX_DEPTH}.")
    ] = DEPTH_DEFAULT,
    view: Annotated[
        BookView, strawberry.argument(description="The outcome whose prices to show.")
    ] = BookView.YES,
) -> OrderBookResult:
    if not 1 <= depth <= MAX_DEPTH:
        return InvalidInput(message=f"`depth` must be between 1 and {MAX_DEPTH}.", field="depth")
    parsed = parse_id(market_id)
    if parsed is None:
        return NotFound(message=f"No market has the id {market_id!r}.", field="marketId")
    loaders = info.context.loaders
    snapshot = await loaders.books(info.context.connections.redis).load(parsed)
    if snapshot is None and await loaders.market.load(parsed) is None:
        return NotFound(message=f"No market has the id {market_id!r}.", field="marketId")
    return OrderBook.from_snapshot(parsed, snapshot, depth, view)


# -- the fields, for schema.schema to mix into Query -----------------------------------------


@strawberry.type(description="Reading order books.")
class BookQuery:
    order_book: OrderBookResult = strawberry.field(
        resolver=order_book,
        description="A market's order book: the best levels of each side with the sequence"
        " number they reflect, in YES or NO prices; anyone may read it.",
    )
