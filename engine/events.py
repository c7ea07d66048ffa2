"""Events: what the book says happened, in order, one sequence number each.

On the hot path an event is a plain tuple of ints (building a tuple costs a few tens of
nanoseconds, a named tuple several times that). Its first item is its ``EventType`` and its
second the market's sequence number; the rest is laid out exactly as the named tuple of the
same name below (BookDelta for EventType.BOOK), so ``decode(event)`` gives attribute
access and enum members, and ``event[i]`` stays available for code that counts nanoseconds.

Field meanings shared by several events:

- ``order_id``, ``user_id``: the caller's integers.
- ``yes_price``: cents on the YES axis, 1..99. ``price``: cents in the order's own outcome.
- ``book_side``: BID or ASK on the YES book (BUY YES and SELL NO are bids; SELL YES and
  BUY NO are asks).
- ``qty`` on Rested, Cancelled and Expired: the shares concerned by this event (the rest
  that rests, or the rest that is removed).
"""

from typing import NamedTuple

from engine.enums import (
    BookSide,
    CancelReason,
    EventType,
    MarketState,
    Outcome,
    RejectReason,
    TradeKind,
)

Event = tuple[int, ...]
"""A raw event as the book emits it; ``decode`` names its fields."""


class Accepted(NamedTuple):
    """The order passed validation; it is live until an event ends it."""

    type: EventType
    seq: int
    order_id: int


class Rejected(NamedTuple):
    """The command did nothing. ``order_id`` is 0 for market-level commands."""

    type: EventType
    seq: int
    order_id: int
    reason: RejectReason


class Trade(NamedTuple):
    """One fill between a resting (maker) order and an incoming (taker) order.

    The price is the maker's. Each side's cash and shares are given so settlement never
    re-derives them: ``*_cash`` is the cents that side pays (negative: it receives), and
    ``*_shares`` the shares of ``*_outcome`` it gets (negative: it gives). A YES side trades
    at ``yes_price``, a NO side at ``100 - yes_price``. Hence, per trade,
    ``maker_cash + taker_cash`` is ``100 * qty`` for MINT, ``-100 * qty`` for MERGE and 0
    for transfers. ``*_remaining`` is what is left of each order after this fill
    (0: filled).
    """

    type: EventType
    seq: int
    yes_price: int
    qty: int
    kind: TradeKind
    aggressor: BookSide
    maker_id: int
    maker_user: int
    maker_outcome: Outcome
    maker_cash: int
    maker_shares: int
    maker_remaining: int
    taker_id: int
    taker_user: int
    taker_outcome: Outcome
    taker_cash: int
    taker_shares: int
    taker_remaining: int


class Rested(NamedTuple):
    """The order (or what is left of it) now rests in the book."""

    type: EventType
    seq: int
    order_id: int
    book_side: BookSide
    yes_price: int
    qty: int


class Cancelled(NamedTuple):
    """``qty`` shares of the order were removed without trading; the order is over."""

    type: EventType
    seq: int
    order_id: int
    qty: int
    reason: CancelReason


class Expired(NamedTuple):
    """A GTD order reached its ``expires_at``; ``qty`` unfilled shares were removed."""

    type: EventType
    seq: int
    order_id: int
    qty: int


class Amended(NamedTuple):
    """The order now has ``price`` (own outcome) and total size ``qty`` (filled included),
    of which ``remaining`` is unfilled. ``kept_priority`` is 0 when it went to the back of
    the queue; events that follow (trades, Rested) then treat it as a new arrival."""

    type: EventType
    seq: int
    order_id: int
    price: int
    qty: int
    remaining: int
    kept_priority: int


class BookDelta(NamedTuple):
    """Level-2 delta: the level at ``yes_price`` on ``book_side`` now holds ``size``."""

    type: EventType
    seq: int
    book_side: BookSide
    yes_price: int
    size: int


class State(NamedTuple):
    """The market's trading state changed (halt, resume, close-out)."""

    type: EventType
    seq: int
    state: MarketState


TypedEvent = (
    Accepted | Rejected | Trade | Rested | Cancelled | Expired | Amended | BookDelta | State
)


def decode(event: Event) -> TypedEvent:
    """Name the fields of a raw event and turn its enum fields into enum members."""
    t = EventType(event[0])
    if t is EventType.TRADE:
        return Trade(
            t,
            event[1],
            event[2],
            event[3],
            TradeKind(event[4]),
            BookSide(event[5]),
            event[6],
            event[7],
            Outcome(event[8]),
            event[9],
            event[10],
            event[11],
            event[12],
            event[13],
            Outcome(event[14]),
            event[15],
            event[16],
            event[17],
        )
    if t is EventType.ACCEPTED:
        return Accepted(t, event[1], event[2])
    if t is EventType.REJECTED:
        return Rejected(t, event[1], event[2], RejectReason(event[3]))
    if t is EventType.RESTED:
        return Rested(t, event[1], event[2], BookSide(event[3]), event[4], event[5])
    if t is EventType.CANCELLED:
        return Cancelled(t, event[1], event[2], event[3], CancelReason(event[4]))
    if t is EventType.EXPIRED:
        return Expired(t, event[1], event[2], event[3])
    if t is EventType.AMENDED:
        return Amended(t, event[1], event[2], event[3], event[4], event[5], event[6])
    if t is EventType.BOOK:
        return BookDelta(t, event[1], BookSide(event[2]), event[3], event[4])
    return State(t, event[1], MarketState(event[2]))
