"""The small closed vocabularies of the engine, all integer enums.

Every value is an ``int`` so events stay plain tuples of ints; callers may pass either the
enum member or its integer value.
"""

from enum import IntEnum


class Side(IntEnum):
    BUY = 0
    SELL = 1


class Outcome(IntEnum):
    YES = 0
    NO = 1


class BookSide(IntEnum):
    """A side of the market's one book, on the YES price axis."""

    BID = 0
    ASK = 1


class View(IntEnum):
    """Which outcome's prices a depth or best-price query is expressed in."""

    YES = 0
    NO = 1


class OrderKind(IntEnum):
    """The kinds that may rest in the book are the first three (value <= 2)."""

    GTC = 0
    """Limit, good till cancelled."""
    GTD = 1
    """Limit, good till ``expires_at`` (the engine expires it on ``expire(now)``)."""
    POST_ONLY = 2
    """Limit that must rest: rejected if it would cross."""
    IOC = 3
    """Limit, immediate or cancel: fill what crosses, cancel the rest."""
    FOK = 4
    """Limit, fill or kill: filled completely at once, or rejected with nothing done."""
    MARKET = 5
    """Immediate, bounded by a worst price; buys also by a ``budget`` in cents."""


class Stp(IntEnum):
    """Self-trade prevention, chosen by the incoming (taker) order."""

    CANCEL_RESTING = 0
    CANCEL_TAKER = 1


class TradeKind(IntEnum):
    """What a match does to the market's shares, from (bid origin, ask origin)."""

    TRANSFER_YES = 0
    """BUY YES vs SELL YES: YES shares move, buyer pays x."""
    MINT = 1
    """BUY YES vs BUY NO: a new YES+NO pair, 100 cents locked."""
    MERGE = 2
    """SELL NO vs SELL YES: a pair is burned, 100 cents released."""
    TRANSFER_NO = 3
    """SELL NO vs BUY NO: NO shares move, buyer pays 100 - x."""


class MarketState(IntEnum):
    OPEN = 0
    HALTED = 1
    """No new orders or amends; the book is kept; cancels and expiry still work."""
    CLOSED = 2
    """Terminal, after ``close_out``: the book is empty and stays so."""


class EventType(IntEnum):
    ACCEPTED = 0
    REJECTED = 1
    TRADE = 2
    RESTED = 3
    CANCELLED = 4
    EXPIRED = 5
    AMENDED = 6
    BOOK = 7
    STATE = 8


class RejectReason(IntEnum):
    HALTED = 0
    CLOSED = 1
    DUPLICATE_ID = 2
    UNKNOWN_ORDER = 3
    INVALID_SIDE = 4
    INVALID_OUTCOME = 5
    INVALID_KIND = 6
    INVALID_PRICE = 7
    INVALID_QTY = 8
    INVALID_BUDGET = 9
    INVALID_EXPIRY = 10
    INVALID_STP = 11
    WOULD_CROSS = 12
    FOK_UNFILLABLE = 13


class CancelReason(IntEnum):
    USER = 0
    IOC_REMAINDER = 1
    MARKET_REMAINDER = 2
    SELF_TRADE = 3
    CLOSE_OUT = 4
    CANCEL_ALL = 5
