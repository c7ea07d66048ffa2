"""Markets as the schema shows them: the type, its connection, inputs and result unions."""

from collections.abc import Awaitable, Callable
from datetime import datetime
from enum import Enum
from typing import Annotated, Protocol, Self

import strawberry
from strawberry.types import Info

from db import models
from db.markets import effective_status
from schema.common import (
    Cents,
    Forbidden,
    InvalidInput,
    InvalidState,
    NotAuthenticated,
    NotFound,
    PageInfo,
)
from schema.context import Context
from workers.books import MarketStats

LIVE_DATA = "From the matcher's latest published book (null before its first)."


async def market_stats(info: Info[Context, None], market_id: int) -> MarketStats | None:
    """A market's live figures through the request's DataLoader (one Redis round trip per
    batch of ids, however many markets and fields ask)."""
    return await info.context.loaders.stats(info.context.connections.redis).load(market_id)


class _Identified(Protocol):
    id: strawberry.ID


async def _stats_of(root: _Identified, info: Info[Context, None]) -> MarketStats | None:
    return await market_stats(info, int(root.id))


async def _last_price(root: _Identified, info: Info[Context, None]) -> int | None:
    stats = await _stats_of(root, info)
    return None if stats is None else stats.last


async def _best_bid(root: _Identified, info: Info[Context, None]) -> int | None:
    stats = await _stats_of(root, info)
    return None if stats is None else stats.best_bid


async def _best_ask(root: _Identified, info: Info[Context, None]) -> int | None:
    stats = await _stats_of(root, info)
    return None if stats is None else stats.best_ask


async def _mid(root: _Identified, info: Info[Context, None]) -> float | None:
    stats = await _stats_of(root, info)
    return None if stats is None else stats.mid


async def _volume(root: _Identified, info: Info[Context, None]) -> int | None:
    stats = await _stats_of(root, info)
    return None if stats is None else stats.volume


async def _volume_24h(root: _Identified, info: Info[Context, None]) -> int | None:
    stats = await _stats_of(root, info)
    return None if stats is None else stats.volume_24h


@strawberry.enum(description="Where a market is in its life.")
class MarketStatus(Enum):
    OPEN = strawberry.enum_value("OPEN", description="Trading.")
    HALTED = strawberry.enum_value(
        "HALTED", description="Trading paused by an administrator; it may resume."
    )
    CLOSED = strawberry.enum_value(
        "CLOSED", description="Past its closing time: no more trading, awaiting resolution."
    )
    RESOLVED = strawberry.enum_value(
        "RESOLVED", description="Resolved YES or NO; winning shares paid 100 cents."
    )
    VOIDED = strawberry.enum_value(
        "VOIDED", description="Cancelled; every share, YES or NO, redeemed at 50 cents."
    )


@strawberry.enum(description="One of the two outcomes of a binary market.")
class Outcome(Enum):
    YES = strawberry.enum_value("YES", description="The event happens.")
    NO = strawberry.enum_value("NO", description="The event does not happen.")


@strawberry.enum(description="How an administrator resolves a market.")
class Resolution(Enum):
    YES = strawberry.enum_value("YES", description="YES won: each YES share pays 100 cents.")
    NO = strawberry.enum_value("NO", description="NO won: each NO share pays 100 cents.")
    VOID = strawberry.enum_value(
        "VOID", description="Cancelled: every share, YES or NO, pays 50 cents."
    )


@strawberry.enum(description="What a list of markets is sorted by (ties broken by id).")
class MarketOrderField(Enum):
    CREATED_AT = strawberry.enum_value("CREATED_AT", description="When it was created.")
    CLOSES_AT = strawberry.enum_value("CLOSES_AT", description="When it closes.")
    TITLE = strawberry.enum_value("TITLE", description="Its title, alphabetically.")


@strawberry.enum(description="Direction of a sort.")
class SortDirection(Enum):
    ASC = strawberry.enum_value("ASC", description="Smallest first.")
    DESC = strawberry.enum_value("DESC", description="Largest first.")


@strawberry.type(description="A binary question traded as YES and NO shares.")
class Market:
    id: strawberry.ID = strawberry.field(description="The market's id.")
    title: str = strawberry.field(description="The question, 1 to 300 characters.")
    description: str = strawberry.field(description="Background and context.")
    rules: str = strawberry.field(description="How the market resolves, in plain words.")
    image_url: str | None = strawberry.field(description="An http(s) image for the market.")
    category: str = strawberry.field(description="A lowercase slug, e.g. `sports`.")
    status: MarketStatus = strawberry.field(
        description="Its status now; a market past `closesAt` reads CLOSED at once."
    )
    resolution: Outcome | None = strawberry.field(description="The winning outcome, once RESOLVED.")
    closes_at: datetime = strawberry.field(description="When trading stops.")
    created_at: datetime = strawberry.field(description="When it was created.")
    resolved_at: datetime | None = strawberry.field(description="When it was resolved or voided.")
    max_order_quantity: int = strawberry.field(description="Most shares one order may ask for.")
    collateral: Cents = strawberry.field(
        description="Cents held by the market: 100 for every YES+NO pair outstanding."
    )
    last_price: int | None = strawberry.field(
        resolver=_last_price,
        description="Last traded YES price, cents; null before any trade. " + LIVE_DATA,
    )
    best_bid: int | None = strawberry.field(
        resolver=_best_bid, description="Highest YES bid, cents; null when none. " + LIVE_DATA
    )
    best_ask: int | None = strawberry.field(
        resolver=_best_ask, description="Lowest YES ask, cents; null when none. " + LIVE_DATA
    )
    mid: float | None = strawberry.field(
        resolver=_mid,
        description="(bestBid + bestAsk) / 2 in YES cents, not rounded (so it may end in .5):"
        " a display figure, not a price; null when either side is empty. " + LIVE_DATA,
    )
    volume: int | None = strawberry.field(
        resolver=_volume, description="Shares traded in all. " + LIVE_DATA
    )
    volume_24h: int | None = strawberry.field(
        resolver=_volume_24h,
        description="Shares traded in the last 24 hours, counted in whole minutes (this one"
        " and the 1,439 before). " + LIVE_DATA,
    )

    @classmethod
    def from_model(cls, row: models.Market, now: datetime) -> Self:
        assert row.id is not None
        return cls(
            id=strawberry.ID(str(row.id)),
            title=row.title,
            description=row.description,
            rules=row.rules,
            image_url=row.image_url,
            category=row.category,
            status=MarketStatus(effective_status(row.status, row.closes_at, now).value),
            resolution=None if row.resolution is None else Outcome(row.resolution),
            closes_at=row.closes_at,
            created_at=row.created_at,
            resolved_at=row.resolved_at,
            max_order_quantity=row.max_order_qty,
            collateral=Cents(row.collateral),
        )


class Counted(Protocol):
    count: Callable[[], Awaitable[int]]


async def total_count(root: Counted) -> int:
    """A connection's total, counted only when asked for (a statement of its own)."""
    return await root.count()


@strawberry.type(description="A market in a page, with its cursor.")
class MarketEdge:
    cursor: str = strawberry.field(description="Opaque; pass as `after` to continue after it.")
    node: Market = strawberry.field(description="The market.")


@strawberry.type(description="A page of markets.")
class MarketConnection:
    edges: list[MarketEdge] = strawberry.field(description="The markets of this page, in order.")
    page_info: PageInfo = strawberry.field(description="Where this page ends.")
    total_count: int = strawberry.field(
        resolver=total_count, description="How many markets match the filter, across all pages."
    )
    count: strawberry.Private[Callable[[], Awaitable[int]]]


@strawberry.input(description="Which markets to list; every given condition must hold.")
class MarketFilter:
    status: MarketStatus | None = strawberry.field(default=None, description="Only this status.")
    category: str | None = strawberry.field(default=None, description="Only this category.")
    search: str | None = strawberry.field(
        default=None,
        description="Words found in the title or description (case-insensitive), at most 200"
        " characters.",
    )


@strawberry.input(description="How to sort a list of markets.")
class MarketOrderBy:
    field: MarketOrderField = strawberry.field(
        default=MarketOrderField.CREATED_AT, description="The sort key."
    )
    direction: SortDirection = strawberry.field(
        default=SortDirection.DESC, description="The direction."
    )


@strawberry.input(description="A new market.")
class CreateMarketInput:
    title: str = strawberry.field(description="The question, 1 to 300 characters.")
    closes_at: datetime = strawberry.field(
        description="When trading stops: in the future, within 5 years, with a time zone."
    )
    description: str = strawberry.field(default="", description="At most 10,000 characters.")
    rules: str = strawberry.field(
        default="", description="How it resolves; at most 10,000 characters."
    )
    image_url: str | None = strawberry.field(
        default=None, description="An http(s) URL of at most 2,000 characters."
    )
    category: str = strawberry.field(
        default="general", description="1 to 50 characters of a-z, 0-9 and `-`."
    )


@strawberry.type(description="The market was created.")
class MarketCreated:
    market: Market = strawberry.field(description="The new market, OPEN.")


@strawberry.type(description="The market was halted: trading is paused.")
class MarketHalted:
    market: Market = strawberry.field(description="The market, now HALTED.")


@strawberry.type(description="The market was resumed: trading goes on.")
class MarketResumed:
    market: Market = strawberry.field(description="The market, OPEN again.")


@strawberry.type(
    description="Resolution was queued on the market's matcher, after every trade before it."
)
class MarketResolutionRequested:
    market: Market = strawberry.field(
        description="The market as it is when the matcher answered: RESOLVED or VOIDED once it"
        " has cancelled the resting orders and paid out; still CLOSED or HALTED if the answer"
        " did not come within the wait (the payout follows, exactly once)."
    )


MarketResult = Annotated[
    Market | NotFound,
    strawberry.union("MarketResult", description="A market, or that there is none."),
]
MarketsResult = Annotated[
    MarketConnection | InvalidInput,
    strawberry.union("MarketsResult", description="A page of markets, or why not."),
]
CreateMarketResult = Annotated[
    MarketCreated | InvalidInput | NotAuthenticated | Forbidden,
    strawberry.union("CreateMarketResult", description="The outcome of createMarket."),
]
HaltMarketResult = Annotated[
    MarketHalted | NotFound | InvalidState | NotAuthenticated | Forbidden,
    strawberry.union("HaltMarketResult", description="The outcome of haltMarket."),
]
ResumeMarketResult = Annotated[
    MarketResumed | NotFound | InvalidState | NotAuthenticated | Forbidden,
    strawberry.union("ResumeMarketResult", description="The outcome of resumeMarket."),
]
ResolveMarketResult = Annotated[
    MarketResolutionRequested | NotFound | InvalidState | NotAuthenticated | Forbidden,
    strawberry.union("ResolveMarketResult", description="The outcome of resolveMarket."),
]


async def load_market(info: Info[Context, None], market_id: int) -> Market:
    """A market through the request's DataLoader (one statement per batch of ids)."""
    row = await info.context.loaders.market.load(market_id)
    if row is None:  # a foreign key guarantees it; this would be a broken database
        raise LookupError(f"market {market_id} does not exist")
    return Market.from_model(row, info.context.now)


class InMarket(Protocol):
    market_id: int


async def market_of(root: InMarket, info: Info[Context, None]) -> Market:
    """The `market` field of orders, trades and positions."""
    return await load_market(info, root.market_id)
