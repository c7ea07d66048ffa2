"""Shared by the engine tests: short names for table rows, and the invariant checks that
property tests run after every command."""

from collections.abc import Sequence
from typing import Any

from engine import (
    Accepted,
    Amended,
    Book,
    BookDelta,
    BookSide,
    Cancelled,
    CancelReason,
    Event,
    EventType,
    Expired,
    MarketState,
    OrderKind,
    Outcome,
    Rejected,
    RejectReason,
    Rested,
    Side,
    State,
    Trade,
    TradeKind,
    TypedEvent,
    decode,
)

BUY, SELL = Side.BUY, Side.SELL
YES, NO = Outcome.YES, Outcome.NO
BID, ASK = BookSide.BID, BookSide.ASK
GTC, GTD, IOC, FOK = OrderKind.GTC, OrderKind.GTD, OrderKind.IOC, OrderKind.FOK
MARKET, POST = OrderKind.MARKET, OrderKind.POST_ONLY

Command = tuple[str, tuple[Any, ...], dict[str, Any]]


def place(*args: Any, **kwargs: Any) -> Command:
    """``place(order_id, user, side, outcome, price, qty, kind=..., ...)`` as a table row."""
    return ("place", args, kwargs)


def cancel(order_id: int) -> Command:
    return ("cancel", (order_id,), {})


def amend(order_id: int, new_price: int | None = None, new_qty: int | None = None) -> Command:
    return ("amend", (order_id,), {"new_price": new_price, "new_qty": new_qty})


def cancel_all(user: int) -> Command:
    return ("cancel_all", (user,), {})


def expire(now: int) -> Command:
    return ("expire", (now,), {})


def halt() -> Command:
    return ("halt", (), {})


def resume() -> Command:
    return ("resume", (), {})


def close_out() -> Command:
    return ("close_out", (), {})


def apply(target: Any, cmd: Command) -> list[Event]:
    name, args, kwargs = cmd
    out: list[Event] = getattr(target, name)(*args, **kwargs)
    return out


def run(book: Book, cmds: Sequence[Command]) -> list[Event]:
    """Apply commands in order; the events of the last one."""
    out: list[Event] = []
    for cmd in cmds:
        out = apply(book, cmd)
    return out


def typed(events: Sequence[Event]) -> list[TypedEvent]:
    """Events with names and the sequence number zeroed, to compare against a table."""
    return [decode(e)._replace(seq=0) for e in events]


# Expected events, sequence number left out.


def acc(order_id: int) -> Accepted:
    return Accepted(EventType.ACCEPTED, 0, order_id)


def rej(order_id: int, reason: RejectReason) -> Rejected:
    return Rejected(EventType.REJECTED, 0, order_id, reason)


def rested(order_id: int, side: BookSide, yes_price: int, qty: int) -> Rested:
    return Rested(EventType.RESTED, 0, order_id, side, yes_price, qty)


def lvl(side: BookSide, yes_price: int, size: int) -> BookDelta:
    return BookDelta(EventType.BOOK, 0, side, yes_price, size)


def cxl(order_id: int, qty: int, reason: CancelReason) -> Cancelled:
    return Cancelled(EventType.CANCELLED, 0, order_id, qty, reason)


def expd(order_id: int, qty: int) -> Expired:
    return Expired(EventType.EXPIRED, 0, order_id, qty)


def amd(order_id: int, price: int, qty: int, remaining: int, kept: int) -> Amended:
    return Amended(EventType.AMENDED, 0, order_id, price, qty, remaining, kept)


def st(state: MarketState) -> State:
    return State(EventType.STATE, 0, state)


def trade(
    yes_price: int,
    qty: int,
    kind: TradeKind,
    aggressor: BookSide,
    maker: tuple[int, int, Outcome, int, int, int],
    taker: tuple[int, int, Outcome, int, int, int],
) -> Trade:
    """maker and taker: (order_id, user, outcome, cash, shares, remaining)."""
    return Trade(EventType.TRADE, 0, yes_price, qty, kind, aggressor, *maker, *taker)


# Invariants.


class Ledger:
    """What the events say happened to every order, to check conservation and limits."""

    def __init__(self) -> None:
        self.placed: dict[int, int] = {}  # order id -> total size
        self.filled: dict[int, int] = {}
        self.removed: dict[int, int] = {}
        self.limit: dict[int, tuple[bool, int]] = {}  # order id -> (is bid, YES limit)
        self.yes: dict[int, bool] = {}  # order id -> is a YES order
        self.paid = 0
        self.received = 0
        self.minted = 0
        self.merged = 0

    def record(self, cmd: Command, events: Sequence[Event]) -> None:
        _, args, _ = cmd
        for e in events:
            t = e[0]
            if t == EventType.ACCEPTED:
                _, _, side, outcome, price, qty = args[:6]
                self.placed[e[2]] = qty
                self.filled[e[2]] = 0
                self.removed[e[2]] = 0
                is_bid = (side == BUY) == (outcome == YES)
                self.yes[e[2]] = outcome == YES
                self.limit[e[2]] = (is_bid, price if outcome == YES else 100 - price)
            elif t == EventType.AMENDED:
                oid, price, qty = e[2], e[3], e[4]
                self.placed[oid] = qty
                is_bid, _ = self.limit[oid]
                self.limit[oid] = (is_bid, price if self.yes[oid] else 100 - price)
            elif t == EventType.TRADE:
                tr = decode(e)
                assert isinstance(tr, Trade)
                for oid in (tr.maker_id, tr.taker_id):
                    self.filled[oid] += tr.qty
                    is_bid, limit = self.limit[oid]
                    if is_bid:
                        assert tr.yes_price <= limit, f"fill above bid limit: {tr}"
                    else:
                        assert tr.yes_price >= limit, f"fill below ask limit: {tr}"
                for cash in (tr.maker_cash, tr.taker_cash):
                    if cash > 0:
                        self.paid += cash
                    else:
                        self.received -= cash
                if tr.kind == TradeKind.MINT:
                    self.minted += tr.qty
                    assert tr.maker_cash + tr.taker_cash == 100 * tr.qty
                elif tr.kind == TradeKind.MERGE:
                    self.merged += tr.qty
                    assert tr.maker_cash + tr.taker_cash == -100 * tr.qty
                else:
                    assert tr.maker_cash + tr.taker_cash == 0
                assert tr.maker_shares + tr.taker_shares in (0, 2 * tr.qty, -2 * tr.qty)
            elif t in (EventType.CANCELLED, EventType.EXPIRED):
                self.removed[e[2]] += e[3]

    def check(self, book: Book) -> None:
        resting = {o.order_id: o.remaining for o in book.snapshot().orders}
        for oid, qty in self.placed.items():
            total = self.filled[oid] + resting.get(oid, 0) + self.removed[oid]
            assert total == qty, f"order {oid}: placed {qty}, accounted {total}"
        assert self.paid == self.received + 100 * self.minted - 100 * self.merged


def check_book(book: Book) -> None:
    """Never crossed at rest; levels, depth and snapshot agree; FIFO arrival is the
    snapshot's order (checked against the model by the callers)."""
    bid, ask = book.best_bid(), book.best_ask()
    if bid is not None and ask is not None:
        assert bid < ask, f"crossed book: {bid} >= {ask}"
    bids, asks = book.depth(99)
    snap = book.snapshot()
    sums: dict[tuple[bool, int], int] = {}
    for o in snap.orders:
        is_bid = (o.side == BUY) == (o.outcome == YES)
        yp = o.price if o.outcome == YES else 100 - o.price
        sums[(is_bid, yp)] = sums.get((is_bid, yp), 0) + o.remaining
    assert {(True, p): q for p, q in bids} | {(False, p): q for p, q in asks} == sums
    assert [p for p, _ in bids] == sorted((p for p, _ in bids), reverse=True)
    assert [p for p, _ in asks] == sorted(p for p, _ in asks)
    assert book.best_bid() == (bids[0][0] if bids else None)
    assert book.best_ask() == (asks[0][0] if asks else None)
    assert len(book) == len(snap.orders)


def events_after(setup: Sequence[Command], command: Command) -> list[TypedEvent]:
    """Run ``setup`` on a fresh book, then ``command``; its events, named, seq zeroed. Also
    checks the sequence numbers run on without a gap."""
    book = Book(1)
    run(book, setup)
    before = book.seq
    out = apply(book, command)
    assert [e[1] for e in out] == list(range(before + 1, before + 1 + len(out)))
    check_book(book)
    return typed(out)
