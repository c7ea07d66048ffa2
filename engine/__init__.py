"""The matching engine: one order book per market, YES and NO orders on one YES-price axis.

Pure Python, standard library only. Commands in, events out; no clock, no I/O, no logging,
no randomness, so replaying the same commands rebuilds the same book and the same events.

    from engine import Book, Side, Outcome, OrderKind

    book = Book(market_id=7)
    book.place(1, user_id=10, side=Side.BUY, outcome=Outcome.YES, price=40, qty=5)
    book.place(2, user_id=11, side=Side.BUY, outcome=Outcome.NO, price=60, qty=3)  # mints 3

Commands (each returns a list of raw events, see ``engine.events``): ``place``, ``cancel``,
``amend``, ``cancel_all``, ``expire``, ``halt``, ``resume``, ``close_out``. State:
``snapshot`` and ``Book.restore``. Queries, O(1) except depth: ``best_bid``, ``best_ask``,
``mid``, ``last``, ``depth``, each in the YES or the NO view. ``python -m engine.bench``
measures it.
"""

from engine.book import Book
from engine.enums import (
    BookSide,
    CancelReason,
    EventType,
    MarketState,
    OrderKind,
    Outcome,
    RejectReason,
    Side,
    Stp,
    TradeKind,
    View,
)
from engine.events import (
    Accepted,
    Amended,
    BookDelta,
    Cancelled,
    Event,
    Expired,
    Rejected,
    Rested,
    State,
    Trade,
    TypedEvent,
    decode,
)
from engine.snapshot import RestingOrder, Snapshot

__all__ = [
    "Accepted",
    "Amended",
    "Book",
    "BookDelta",
    "BookSide",
    "CancelReason",
    "Cancelled",
    "Event",
    "EventType",
    "Expired",
    "MarketState",
    "OrderKind",
    "Outcome",
    "RejectReason",
    "Rejected",
    "Rested",
    "RestingOrder",
    "Side",
    "Snapshot",
    "State",
    "Stp",
    "Trade",
    "TradeKind",
    "TypedEvent",
    "View",
    "decode",
]
