"""Markets: read by anyone; created, halted, resumed and resolved by administrators. Halt,
resume and resolve also travel to the market's matcher as commands (queued in the same
transaction as the change, produced after commit), so they are ordered after every trade.

Also the page helpers the portfolio shares: `first` bounds, ids and id cursors. A market
cursor holds its sort key, the sort value and the id (a keyset position), so it stays valid
while rows are added and is refused when tampered with or used with another sort key.
"""

import re
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlsplit

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from auth.viewer import Viewer
from db import markets as repository
from db.enums import MarketStatus as StoredStatus
from db.markets import MarketFilter as StoredFilter
from db.markets import MarketOrder
from db.models import Market as MarketRow
from db.orders import in_transaction
from resolvers.access import admin
from resolvers.paging import (
    MAX_ID,
    PAGE_MAX,
    BadCursor,
    bad_cursor,
    check_first,
    decode_cursor,
    encode_cursor,
    parse_id,
)
from schema.common import InvalidInput, InvalidState, NotFound, PageInfo
from schema.context import Context
from schema.markets import (
    CreateMarketInput,
    CreateMarketResult,
    HaltMarketResult,
    Market,
    MarketConnection,
    MarketCreated,
    MarketEdge,
    MarketFilter,
    MarketHalted,
    MarketOrderBy,
    MarketResolutionRequested,
    MarketResult,
    MarketResumed,
    MarketsResult,
    Resolution,
    ResolveMarketResult,
    ResumeMarketResult,
    SortDirection,
)
from workers import dispatch
from workers.commands import Halt, Resolve, Resume

PAGE_DEFAULT = 20
CATEGORY = re.compile(r"[a-z0-9-]{1,50}")
LONGEST_TEXT = 10_000
LONGEST_URL = 2_000
LONGEST_SEARCH = 200
FURTHEST_CLOSE = timedelta(days=5 * 365)


def _sort_value(row: MarketRow, order: MarketOrder) -> str:
    if order is MarketOrder.TITLE:
        return row.title
    moment = row.created_at if order is MarketOrder.CREATED_AT else row.closes_at
    return moment.isoformat()


def _market_cursor(row: MarketRow, order: MarketOrder) -> str:
    assert row.id is not None
    return encode_cursor("market", order.value, _sort_value(row, order), row.id)


def _decode_market_cursor(cursor: str, order: MarketOrder) -> tuple[Any, int] | None:
    try:
        parts = decode_cursor("market", cursor)
    except BadCursor:
        return None
    if len(parts) != 3 or parts[0] != order.value:
        return None
    _, value, row_id = parts
    if not isinstance(row_id, int) or not 0 < row_id <= MAX_ID or not isinstance(value, str):
        return None
    if order is MarketOrder.TITLE:
        return value, row_id
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return (moment, row_id) if moment.tzinfo is not None else None


# -- input checks ---------------------------------------------------------------------------


def _check_url(url: str) -> bool:
    if len(url) > LONGEST_URL or any(c.isspace() or not c.isprintable() for c in url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _check_new_market(given: CreateMarketInput, now: datetime) -> InvalidInput | None:
    title = given.title.strip()
    if not 1 <= len(title) <= 300:
        return InvalidInput(message="The title needs 1 to 300 characters.", field="title")
    if len(given.description) > LONGEST_TEXT:
        return InvalidInput(
            message=f"The description is longer than {LONGEST_TEXT} characters.",
            field="description",
        )
    if len(given.rules) > LONGEST_TEXT:
        return InvalidInput(
            message=f"The rules are longer than {LONGEST_TEXT} characters.", field="rules"
        )
    if not CATEGORY.fullmatch(given.category):
        return InvalidInput(
            message="The category needs 1 to 50 characters of a-z, 0-9 and `-`.",
            field="category",
        )
    if given.image_url is not None and not _check_url(given.image_url):
        return InvalidInput(
            message=f"The image URL must be an http(s) URL of at most {LONGEST_URL} characters.",
            field="imageUrl",
        )
    closes_at = given.closes_at
    if closes_at.tzinfo is None:
        return InvalidInput(message="closesAt needs a time zone.", field="closesAt")
    if closes_at <= now:
        return InvalidInput(message="closesAt must be in the future.", field="closesAt")
    if closes_at > now + FURTHEST_CLOSE:
        return InvalidInput(message="closesAt must be within 5 years.", field="closesAt")
    return None


def _stored_filter(given: MarketFilter | None) -> StoredFilter | InvalidInput:
    if given is None:
        return StoredFilter()
    if given.category is not None and not CATEGORY.fullmatch(given.category):
        return InvalidInput(
            message="The category needs 1 to 50 characters of a-z, 0-9 and `-`.",
            field="filter.category",
        )
    search = given.search.strip() if given.search is not None else None
    if search is not None and len(search) > LONGEST_SEARCH:
        return InvalidInput(
            message=f"The search is longer than {LONGEST_SEARCH} characters.",
            field="filter.search",
        )
    return StoredFilter(
        status=None if given.status is None else StoredStatus(given.status.name),
        category=given.category,
        search=search or None,
    )


# -- resolvers -----------------------------------------------------------------------------


async def market(
    info: Info[Context, None],
    id: Annotated[strawberry.ID, strawberry.argument(description="The market's id.")],
) -> MarketResult:
    market_id = parse_id(id)
    row = None
    if market_id is not None:
        async with info.context.connections.sessions() as session:
            row = await repository.market_by_id(session, market_id)
    if row is None:
        return NotFound(message=f"No market has the id {id!r}.", field="id")
    return Market.from_model(row, info.context.now)


async def markets(
    info: Info[Context, None],
    filter: Annotated[
        MarketFilter | None, strawberry.argument(description="Which markets; all by default.")
    ] = None,
    order_by: Annotated[
        MarketOrderBy | None,
        strawberry.argument(description="The order; newest first by default."),
    ] = None,
    first: Annotated[
        int, strawberry.argument(description=f"How many markets, 1 to {PAGE_MAX}.")
    ] = PAGE_DEFAULT,
    after: Annotated[
        str | None, strawberry.argument(description="The cursor of the market to continue after.")
    ] = None,
) -> MarketsResult:
    where = _stored_filter(filter)
    if isinstance(where, InvalidInput):
        return where
    if refused := check_first(first):
        return refused
    sort = order_by or MarketOrderBy()
    order = MarketOrder(sort.field.name)
    descending = sort.direction is SortDirection.DESC
    position = None
    if after is not None and (position := _decode_market_cursor(after, order)) is None:
        return bad_cursor()
    now = info.context.now
    async with info.context.connections.sessions() as session:
        rows = await repository.list_markets(
            session,
            where,
            now,
            order=order,
            descending=descending,
            after=position,
            limit=first + 1,
        )
    page = rows[:first]
    edges = [
        MarketEdge(cursor=_market_cursor(r, order), node=Market.from_model(r, now)) for r in page
    ]

    async def count() -> int:
        async with info.context.connections.sessions() as session:
            return await repository.count_markets(session, where, now)

    return MarketConnection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=len(rows) > first,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        count=count,
    )


async def create_market(
    info: Info[Context, None],
    input: Annotated[CreateMarketInput, strawberry.argument(description="The new market.")],
) -> CreateMarketResult:
    viewer = admin(info)
    if not isinstance(viewer, Viewer):
        return viewer
    now = info.context.now
    if refused := _check_new_market(input, now):
        return refused
    async with info.context.connections.sessions() as session:
        row = await repository.create_market(
            session,
            title=input.title.strip(),
            description=input.description,
            rules=input.rules,
            image_url=input.image_url,
            category=input.category,
            closes_at=input.closes_at,
            created_by=viewer.user_id,
        )
        await session.commit()
    return MarketCreated(market=Market.from_model(row, now))


async def _not_movable(
    info: Info[Context, None], given_id: str, market_id: int | None, wanted: StoredStatus
) -> NotFound | InvalidState:
    row = None
    if market_id is not None:
        async with info.context.connections.sessions() as session:
            row = await repository.market_by_id(session, market_id)
    if row is None:
        return NotFound(message=f"No market has the id {given_id!r}.", field="id")
    status = repository.effective_status(row.status, row.closes_at, info.context.now)
    return InvalidState(
        message=f"The market is {status.value}; this needs it {wanted.value}.",
    )


async def _move(
    info: Info[Context, None],
    given_id: str,
    command: type[Halt | Resume],
) -> MarketRow | NotFound | InvalidState:
    """Flip the status and queue the command in one transaction, then tell the matcher."""
    market_id = parse_id(given_id)
    source = StoredStatus.OPEN if command is Halt else StoredStatus.HALTED
    move = repository.halt_market if command is Halt else repository.resume_market
    row = queued = None
    if market_id is not None:
        async with info.context.connections.sessions() as session:
            row = await move(session, market_id, info.context.now)
            if row is not None:
                queued = await dispatch.queue(session, command, market_id)
            await session.commit()
    if row is None or queued is None:
        return await _not_movable(info, given_id, market_id, source)
    await dispatch.send(info.context.connections, [queued])
    return row


async def halt_market(
    info: Info[Context, None],
    id: Annotated[strawberry.ID, strawberry.argument(description="The OPEN market to halt.")],
) -> HaltMarketResult:
    viewer = admin(info)
    if not isinstance(viewer, Viewer):
        return viewer
    row = await _move(info, id, Halt)
    if isinstance(row, NotFound | InvalidState):
        return row
    return MarketHalted(market=Market.from_model(row, info.context.now))


async def resume_market(
    info: Info[Context, None],
    id: Annotated[strawberry.ID, strawberry.argument(description="The HALTED market to resume.")],
) -> ResumeMarketResult:
    viewer = admin(info)
    if not isinstance(viewer, Viewer):
        return viewer
    row = await _move(info, id, Resume)
    if isinstance(row, NotFound | InvalidState):
        return row
    return MarketResumed(market=Market.from_model(row, info.context.now))


async def resolve_market(
    info: Info[Context, None],
    id: Annotated[
        strawberry.ID,
        strawberry.argument(description="The market to resolve: CLOSED, or HALTED."),
    ],
    outcome: Annotated[Resolution, strawberry.argument(description="How it resolves.")],
) -> ResolveMarketResult:
    viewer = admin(info)
    if not isinstance(viewer, Viewer):
        return viewer
    market_id = parse_id(id)
    if market_id is None:
        return NotFound(message=f"No market has the id {id!r}.", field="id")
    now = info.context.now

    async def request(
        session: AsyncSession,
    ) -> repository.ResolutionCheck | Resolve | None:
        check = await repository.check_resolution(session, market_id, now)
        if check is None or not check.allowed:
            return check
        return await dispatch.queue(session, Resolve, market_id, outcome.name)

    requested = await in_transaction(info.context.connections.sessions, request)
    if requested is None:
        return NotFound(message=f"No market has the id {id!r}.", field="id")
    if isinstance(requested, repository.ResolutionCheck):
        if requested.queued:
            return InvalidState(message="The market's resolution is already on its way.")
        if requested.pending and requested.status in repository.RESOLVABLE:
            return InvalidState(
                message="Orders of the market are still on their way to its matcher;"
                " try again in a moment."
            )
        return InvalidState(
            message=f"The market is {requested.status.value}; this needs it CLOSED or HALTED."
        )
    connections = info.context.connections
    await dispatch.send_and_wait(connections, info.context.results, [requested])
    async with connections.sessions() as session:
        row = await repository.market_by_id(session, market_id)
    assert row is not None  # markets are never deleted
    return MarketResolutionRequested(market=Market.from_model(row, now))


# -- the fields, for schema.schema to mix into Query and Mutation ----------------------------


@strawberry.type(description="Reading markets.")
class MarketQuery:
    market: MarketResult = strawberry.field(
        resolver=market, description="One market, by id; anyone may read it."
    )
    markets: MarketsResult = strawberry.field(
        resolver=markets,
        description="A page of markets, filtered and sorted; anyone may read it.",
    )


@strawberry.type(description="Managing markets (administrators).")
class MarketMutation:
    create_market: CreateMarketResult = strawberry.field(
        resolver=create_market, description="Create an OPEN market (administrators)."
    )
    halt_market: HaltMarketResult = strawberry.field(
        resolver=halt_market, description="Pause trading in an OPEN market (administrators)."
    )
    resume_market: ResumeMarketResult = strawberry.field(
        resolver=resume_market,
        description="Resume trading in a HALTED market before it closes (administrators).",
    )
    resolve_market: ResolveMarketResult = strawberry.field(
        resolver=resolve_market,
        description="Resolve a CLOSED or HALTED market, once (administrators): its matcher"
        " cancels the resting orders, releases what they hold and pays 100 cents per winning"
        " share (50 per share when VOID). Waits briefly for the matcher, like placeOrder.",
    )
