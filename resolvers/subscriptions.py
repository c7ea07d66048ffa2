"""Live subscriptions: the process's feed hub (workers.fanout) in, schema events out.

Every subscription listens first (the Redis subscription is confirmed), then reads what
it starts from (snapshot, replay), then goes live skipping what it already has: nothing
falls between the two. A quiet subscription sends a Heartbeat every HEARTBEAT_SECONDS; a
subscriber that fell behind gets ResyncRequired (and an orderBook a fresh snapshot).
"""

from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from auth.viewer import Viewer
from db.markets import markets_by_ids
from engine import View
from resolvers.access import signed_in
from resolvers.paging import parse_id
from schema.books import BookLevel, BookView
from schema.common import Cents, InvalidInput, NotFound
from schema.context import Context
from schema.markets import MarketStatus, Outcome
from schema.portfolio import OrderKind, OrderSide, OrderStatus, TradeKind, TradeRole
from schema.subscriptions import (
    AccountUpdate,
    BookLevelChange,
    BookSide,
    BookUpdate,
    Fill,
    Heartbeat,
    MarketStatusChange,
    MarketStatusEvent,
    MarketTrade,
    MyAccountEvent,
    MyFillEvent,
    MyOrderEvent,
    OrderBookEvent,
    OrderBookSnapshot,
    OrderUpdate,
    ResyncRequired,
    TickerEvent,
    TickerUpdate,
    TradeEvent,
    TradingState,
    engine_time,
)
from workers.books import MAX_DEPTH, read_books, read_stats
from workers.fanout import Batch, FeedHub, Subscriber
from workers.feed import market_channel, user_channel

HEARTBEAT_SECONDS = 5.0
DEPTH_DEFAULT = 10
MAX_TICKER_MARKETS = 100

MarketId = Annotated[strawberry.ID, strawberry.argument(description="The market's id.")]
AfterSeq = Annotated[
    int | None,
    strawberry.argument(
        description="Resume after this sequence number (the last `seq` received): what was"
        " missed is replayed first, or ResyncRequired is sent when it is too old."
    ),
]


def _now() -> datetime:
    return datetime.now(UTC)


def _hub(info: Info[Context, None]) -> FeedHub:
    hub = info.context.feed
    if hub is None:
        raise RuntimeError("live subscriptions need the app's feed hub (lifespan not started)")
    return hub


async def _market(info: Info[Context, None], market_id: strawberry.ID) -> int | None:
    parsed = parse_id(market_id)
    if parsed is None:
        return None
    async with info.context.connections.sessions() as session:
        found = await markets_by_ids(session, [parsed])
    return parsed if parsed in found else None


def _not_found(market_id: strawberry.ID) -> NotFound:
    return NotFound(message=f"No market has the id {market_id!r}.", field="marketId")


def _resync(market: int | None, seq: int, reason: str) -> ResyncRequired:
    return ResyncRequired(
        market_id=None if market is None else strawberry.ID(str(market)),
        seq=seq,
        time=_now(),
        reason=reason,
    )


class _Clock:
    """The latest (seq, engine time) a subscription knows of its market."""

    __slots__ = ("seq", "ts")

    def __init__(self, seq: int = 0, ts: int | None = None) -> None:
        self.seq, self.ts = seq, ts

    def see(self, header: dict[str, Any]) -> None:
        self.seq, self.ts = int(header["seq"]), int(header["ts"])

    def heartbeat(self, market: int | None) -> Heartbeat:
        return Heartbeat(
            market_id=None if market is None else strawberry.ID(str(market)),
            seq=self.seq,
            time=_now() if self.ts is None else engine_time(self.ts),
        )


def _covers(replayed: list[Batch] | None, after_seq: int, latest: int) -> bool:
    """Whether a replay after `after_seq` reaches the market's latest seq."""
    if replayed is None or after_seq > latest:
        return False
    reached = replayed[-1][0]["seq"] if replayed else after_seq
    return bool(reached >= latest)


# ---------------------------------------------------------------- order books


class _Mirror:
    """A subscription's copy of the YES book (the snapshot's levels, then every delta), and
    the best `depth` levels it last sent, in the view's prices."""

    def __init__(self, bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> None:
        self.bids = dict(bids)
        self.asks = dict(asks)
        # a full snapshot may hide levels below it: never show fewer than it knew
        self.bids_cut = len(bids) >= MAX_DEPTH
        self.asks_cut = len(asks) >= MAX_DEPTH
        self.shown: tuple[dict[int, int], dict[int, int]] = ({}, {})

    def apply(self, item: dict[str, Any]) -> tuple[str, int] | None:
        """Apply a book delta; the (view side, view price) it touched."""
        side = self.bids if item["side"] == "BID" else self.asks
        if item["size"]:
            side[item["price"]] = item["size"]
        else:
            side.pop(item["price"], None)
        return item["side"], item["price"]

    def top(self, depth: int, view: View) -> tuple[dict[int, int], dict[int, int]] | None:
        """(bids, asks) in the view's prices; None when the cut snapshot no longer knows
        enough levels (a resync is needed)."""
        if (self.bids_cut and len(self.bids) < depth) or (self.asks_cut and len(self.asks) < depth):
            return None
        bids = sorted(self.bids.items(), reverse=True)[:depth]
        asks = sorted(self.asks.items())[:depth]
        if view is View.NO:
            bids, asks = [(100 - p, q) for p, q in asks], [(100 - p, q) for p, q in bids]
        return dict(bids), dict(asks)


def _view_level(side: str, price: int, view: View) -> tuple[BookSide, int]:
    if view is View.YES:
        return BookSide[side], price
    return (BookSide.ASK if side == "BID" else BookSide.BID), 100 - price


def _changes(
    old: tuple[dict[int, int], dict[int, int]],
    new: tuple[dict[int, int], dict[int, int]],
    seqs: dict[tuple[BookSide, int], int],
    default_seq: int,
    touched: set[tuple[BookSide, int]],
) -> list[BookLevelChange]:
    changes: list[BookLevelChange] = []
    for side, before, after in ((BookSide.BID, old[0], new[0]), (BookSide.ASK, old[1], new[1])):
        prices = set(before) | set(after) | {p for s, p in touched if s is side}
        for price in prices:
            quantity = after.get(price, 0)
            if before.get(price, 0) == quantity and (side, price) not in touched:
                continue
            if before.get(price, 0) == quantity == 0:
                continue
            changes.append(
                BookLevelChange(
                    seq=seqs.get((side, price), default_seq),
                    side=side,
                    price=price,
                    quantity=quantity,
                )
            )
    changes.sort(key=lambda c: (c.seq, c.side.value, c.price))
    return changes


def _levels(levels: dict[int, int], best_first_desc: bool) -> list[BookLevel]:
    return [
        BookLevel(price=p, quantity=q) for p, q in sorted(levels.items(), reverse=best_first_desc)
    ]


async def order_book(
    info: Info[Context, None],
    market_id: MarketId,
    depth: Annotated[
        int, strawberry.argument(description=f"Price levels a side, 1 to {MAX_DEPTH}.")
    ] = DEPTH_DEFAULT,
    view: Annotated[
        BookView, strawberry.argument(description="The outcome whose prices to show.")
    ] = BookView.YES,
    after_seq: AfterSeq = None,
) -> AsyncGenerator[OrderBookEvent, None]:
    if not 1 <= depth <= MAX_DEPTH:
        yield InvalidInput(message=f"`depth` must be between 1 and {MAX_DEPTH}.", field="depth")
        return
    market = await _market(info, market_id)
    if market is None:
        yield _not_found(market_id)
        return
    hub = _hub(info)
    redis = info.context.connections.redis
    engine_view = View[view.name]
    mid = strawberry.ID(str(market))
    async with hub.listen(market_channel(market)) as subscriber:
        resume = after_seq
        while True:
            snapshot = (await read_books(redis, [market])).get(market)
            mirror = _Mirror(snapshot.bids, snapshot.asks) if snapshot else _Mirror([], [])
            clock = _Clock(snapshot.seq, snapshot.ts) if snapshot else _Clock()
            shown = mirror.top(depth, engine_view) or ({}, {})
            pending: list[Batch] = []
            touched: set[tuple[BookSide, int]] = set()
            if resume is not None:
                replayed = await hub.replay(market, resume)
                if not _covers(replayed, resume, clock.seq):
                    yield _resync(market, clock.seq, f"`afterSeq` {resume} cannot be resumed.")
                    resume = None
                else:
                    for old in replayed or []:
                        if old[0]["seq"] > clock.seq:
                            pending.append(old)
                            continue
                        for item in old[1:]:
                            if item["type"] == "book" and item["seq"] > resume:
                                touched.add(_view_level(item["side"], item["price"], engine_view))
            if resume is None:
                yield OrderBookSnapshot(
                    market_id=mid,
                    view=view,
                    seq=clock.seq,
                    time=None if clock.ts is None else engine_time(clock.ts),
                    bids=_levels(shown[0], True),
                    asks=_levels(shown[1], False),
                    last_price=None if snapshot is None else snapshot.last_price(engine_view),
                )
            elif touched or resume < clock.seq:
                yield BookUpdate(
                    market_id=mid,
                    prev_seq=resume,
                    seq=clock.seq,
                    time=_now() if clock.ts is None else engine_time(clock.ts),
                    changes=_changes(({}, {}), shown, {}, clock.seq, touched),
                )
            resume = None
            sent = clock.seq
            async for batch in _live(subscriber, pending, clock, market):
                if batch is None:
                    yield clock.heartbeat(market)
                    continue
                header = batch[0]
                if header["seq"] <= sent:
                    continue
                seqs: dict[tuple[BookSide, int], int] = {}
                for item in batch[1:]:
                    if item["type"] == "book":
                        mirror.apply(item)
                        seqs[_view_level(item["side"], item["price"], engine_view)] = item["seq"]
                new = mirror.top(depth, engine_view)
                if new is None:
                    break
                changes = _changes(shown, new, seqs, header["seq"], set())
                shown = new
                if changes:
                    yield BookUpdate(
                        market_id=mid,
                        prev_seq=sent,
                        seq=header["seq"],
                        time=engine_time(header["ts"]),
                        changes=changes,
                    )
                    sent = header["seq"]
            yield _resync(market, clock.seq, "The subscriber fell behind; a snapshot follows.")
            subscriber.recover()


async def _live(
    subscriber: Subscriber, pending: list[Batch], clock: _Clock, market: int | None
) -> AsyncGenerator[Batch | None, None]:
    """Pending batches, then live ones, each newer than the last; None on a quiet interval
    (a heartbeat is due). Ends when the subscriber fell behind."""
    for old in pending:
        if old[0]["seq"] > clock.seq:
            clock.see(old[0])
            yield old
    while True:
        batch = await subscriber.next(HEARTBEAT_SECONDS)
        if subscriber.lagged:
            return
        if batch is None:
            yield None
            continue
        header = batch[0]
        if header.get("type") == "batch":
            if header["seq"] <= clock.seq:
                continue
            clock.see(header)
        yield batch


# ---------------------------------------------------------------- trades, ticker, status


async def trades(
    info: Info[Context, None], market_id: MarketId, after_seq: AfterSeq = None
) -> AsyncGenerator[TradeEvent, None]:
    market = await _market(info, market_id)
    if market is None:
        yield _not_found(market_id)
        return
    hub = _hub(info)
    mid = strawberry.ID(str(market))
    async with hub.listen(market_channel(market)) as subscriber:
        stats = (await read_stats(info.context.connections.redis, [market])).get(market)
        clock = _Clock(stats.seq, stats.ts) if stats else _Clock()
        pending: list[Batch] = []
        floor = clock.seq
        if after_seq is not None:
            replayed = await hub.replay(market, after_seq)
            if not _covers(replayed, after_seq, clock.seq):
                yield _resync(market, clock.seq, f"`afterSeq` {after_seq} cannot be resumed.")
            else:
                pending, floor = list(replayed or []), after_seq
                clock.seq = after_seq
        while True:
            async for batch in _live(subscriber, pending, clock, market):
                if batch is None:
                    yield clock.heartbeat(market)
                    continue
                for item in batch[1:]:
                    if item["type"] == "trade" and item["seq"] > floor:
                        yield MarketTrade(
                            market_id=mid,
                            seq=item["seq"],
                            time=engine_time(item["ts"]),
                            yes_price=item["price"],
                            quantity=item["qty"],
                            kind=TradeKind[item["kind"]],
                            aggressor=BookSide[item["aggressor"]],
                        )
            pending = []
            yield _resync(market, clock.seq, "The subscriber fell behind; trades were dropped.")
            subscriber.recover()


def _ticker(market: int, item: dict[str, Any]) -> TickerUpdate:
    bid, ask = item["bid"], item["ask"]
    return TickerUpdate(
        market_id=strawberry.ID(str(market)),
        seq=item["seq"],
        time=engine_time(item["ts"]),
        last_price=item["last"],
        best_bid=bid,
        best_ask=ask,
        mid=None if bid is None or ask is None else (bid + ask) / 2,
        volume=item["volume"],
        volume_24h=item["volume24h"],
    )


async def ticker(
    info: Info[Context, None],
    market_ids: Annotated[
        list[strawberry.ID],
        strawberry.argument(description=f"The markets' ids, at most {MAX_TICKER_MARKETS}."),
    ],
) -> AsyncGenerator[TickerEvent, None]:
    if not 1 <= len(market_ids) <= MAX_TICKER_MARKETS:
        yield InvalidInput(message=f"Give 1 to {MAX_TICKER_MARKETS} market ids.", field="marketIds")
        return
    parsed = {parse_id(m): m for m in market_ids}
    async with info.context.connections.sessions() as session:
        found = await markets_by_ids(session, [p for p in parsed if p is not None])
    for key, given in parsed.items():
        if key is None or key not in found:
            yield _not_found(given)
            return
    markets = sorted(found)
    hub = _hub(info)
    clocks: dict[int, _Clock] = {}
    async with hub.listen(*(market_channel(m) for m in markets)) as subscriber:
        stats = await read_stats(info.context.connections.redis, markets)
        for market in markets:
            known = stats.get(market)
            clocks[market] = _Clock(known.seq, known.ts) if known else _Clock()
            if known is not None:
                yield _ticker(
                    market,
                    {
                        "seq": known.seq,
                        "ts": known.ts,
                        "last": known.last,
                        "bid": known.best_bid,
                        "ask": known.best_ask,
                        "volume": known.volume,
                        "volume24h": known.volume_24h,
                    },
                )
        while True:
            batch = await subscriber.next(HEARTBEAT_SECONDS)
            if subscriber.lagged:
                yield _resync(None, 0, "The subscriber fell behind; figures follow again.")
                subscriber.recover()
                continue
            if batch is None:
                for market in markets:
                    yield clocks[market].heartbeat(market)
                continue
            header = batch[0]
            market = int(header["market"])
            clock = clocks[market]
            if header["seq"] <= clock.seq:
                continue
            clock.see(header)
            for item in batch[1:]:
                if item["type"] == "ticker":
                    yield _ticker(market, item)


_STATUS = {
    "OPEN": MarketStatus.OPEN,
    "HALTED": MarketStatus.HALTED,
    "CLOSED": MarketStatus.CLOSED,
}


async def market_status(
    info: Info[Context, None], market_id: MarketId
) -> AsyncGenerator[MarketStatusEvent, None]:
    market = await _market(info, market_id)
    if market is None:
        yield _not_found(market_id)
        return
    hub = _hub(info)
    async with hub.listen(market_channel(market)) as subscriber:
        stats = (await read_stats(info.context.connections.redis, [market])).get(market)
        clock = _Clock(stats.seq, stats.ts) if stats else _Clock()
        while True:
            async for batch in _live(subscriber, [], clock, market):
                if batch is None:
                    yield clock.heartbeat(market)
                    continue
                for item in batch[1:]:
                    if item["type"] == "status":
                        yield MarketStatusChange(
                            market_id=strawberry.ID(str(market)),
                            seq=item["seq"],
                            time=engine_time(item["ts"]),
                            state=TradingState[item["status"]],
                            status=_STATUS[item["status"]],
                        )
            yield _resync(market, clock.seq, "The subscriber fell behind.")
            subscriber.recover()


# ---------------------------------------------------------------- private


async def _private(info: Info[Context, None], kind: str) -> AsyncGenerator[Any, None]:
    """The viewer's own messages of `kind`; a typed error for an anonymous socket."""
    viewer = signed_in(info)
    if not isinstance(viewer, Viewer):
        yield viewer
        return
    hub = _hub(info)
    clock = _Clock()
    async with hub.listen(user_channel(viewer.user_id)) as subscriber:
        while True:
            batch = await subscriber.next(HEARTBEAT_SECONDS)
            if subscriber.lagged:
                yield _resync(None, clock.seq, "The subscriber fell behind; re-read the state.")
                subscriber.recover()
                continue
            if batch is None:
                yield clock.heartbeat(None)
                continue
            for item in batch:
                clock.seq, clock.ts = item["seq"], item["ts"]
                if item["type"] == kind:
                    yield _private_event(item)


def _private_event(item: dict[str, Any]) -> OrderUpdate | Fill | AccountUpdate:
    market = strawberry.ID(str(item["market"]))
    time = engine_time(item["ts"])
    if item["type"] == "order":
        return OrderUpdate(
            order_id=strawberry.ID(str(item["id"])),
            market_id=market,
            seq=item["seq"],
            time=time,
            side=OrderSide(item["side"]),
            outcome=Outcome(item["outcome"]),
            kind=OrderKind(item["kind"]),
            price=item["price"],
            quantity=item["quantity"],
            filled=item["filled"],
            remaining=item["quantity"] - item["filled"],
            filled_cost=Cents(item["filled_cost"]),
            reserved_cash=Cents(item["reserved_cash"]),
            reserved_shares=item["reserved_shares"],
            status=OrderStatus(item["status"]),
            reason=item["reason"],
        )
    if item["type"] == "fill":
        return Fill(
            market_id=market,
            seq=item["seq"],
            time=time,
            order_id=strawberry.ID(str(item["order"])),
            role=TradeRole(item["role"]),
            side=None if item["side"] is None else OrderSide(item["side"]),
            outcome=Outcome(item["outcome"]),
            price=item["price"],
            yes_price=item["yes_price"],
            quantity=item["qty"],
            kind=TradeKind(item["kind"]),
        )
    return AccountUpdate(
        market_id=market,
        seq=item["seq"],
        time=time,
        available=Cents(item["available"]),
        reserved=Cents(item["reserved"]),
        total=Cents(item["available"] + item["reserved"]),
    )


async def my_orders(info: Info[Context, None]) -> AsyncGenerator[MyOrderEvent, None]:
    async for event in _private(info, "order"):
        yield event


async def my_fills(info: Info[Context, None]) -> AsyncGenerator[MyFillEvent, None]:
    async for event in _private(info, "fill"):
        yield event


async def my_account(info: Info[Context, None]) -> AsyncGenerator[MyAccountEvent, None]:
    async for event in _private(info, "account"):
        yield event


# -- the fields, for schema.schema -----------------------------------------------------------


@strawberry.type(description="Live data over WebSocket (graphql-transport-ws or graphql-ws).")
class Subscription:
    order_book = strawberry.subscription(
        resolver=order_book,
        description="A market's book: a snapshot with its `seq`, then one BookUpdate per"
        " matcher batch that changed the best `depth` levels; heartbeats when quiet. With"
        " `afterSeq`, the changes since then instead of the snapshot.",
    )
    trades = strawberry.subscription(
        resolver=trades,
        description="A market's trades as they happen (with `afterSeq`: the missed ones first).",
    )
    ticker = strawberry.subscription(
        resolver=ticker,
        description="Markets' last price, best bid and ask, mid, volume and 24-hour volume: the"
        " current figures first, then after every batch that trades or moves the book.",
    )
    market_status = strawberry.subscription(
        resolver=market_status,
        description="A market's trading state changes (halt, resume, close).",
    )
    my_orders = strawberry.subscription(
        resolver=my_orders,
        description="Every change of the viewer's orders, as the matcher applies it.",
    )
    my_fills = strawberry.subscription(
        resolver=my_fills, description="The viewer's fills, as they happen."
    )
    my_account = strawberry.subscription(
        resolver=my_account,
        description="The viewer's cash after every matcher batch that touches it.",
    )
