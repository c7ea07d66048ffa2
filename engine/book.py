"""The order book of one market: YES and NO orders on one YES-price axis."""

from collections import deque
from heapq import heappop, heappush
from typing import Final

from engine.enums import (
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
from engine.events import Event
from engine.snapshot import RestingOrder, Snapshot

Order = list[int]
"""A resting order. A list is built several times faster than a slotted object and the book
builds one per resting order, so its fields are positions:"""

_REM: Final = 0  # unfilled shares; 0 once the order is over (filled, cancelled, replaced)
_ID: Final = 1
_USER: Final = 2
_OUT: Final = 3
_CPS: Final = 4  # cents it pays per share filled (negative: receives)
_SGN: Final = 5  # shares it gets per share filled: 1 buying, -1 selling
_SIDE: Final = 6
_PRICE: Final = 7  # cents in its own outcome
_QTY: Final = 8  # total size, filled shares included
_KIND: Final = 9
_EXP: Final = 10  # expires_at, or _NEVER
_STP: Final = 11
_BS: Final = 12  # book side
_IDX: Final = 13  # level index on its side, see Book
_YP: Final = 14  # YES price

_NEVER: Final = -1
# [side][price] -> cents an order pays per share filled. Shared int objects on purpose: a
# fresh negative int per sell order is one more cold object for every fill to touch, which
# cost a tenth of the throughput.
_CASH_PER_SHARE: Final = (tuple(range(100)), tuple(-p for p in range(100)))
_SHARES_PER_SHARE: Final = (1, -1)
_EMPTY: Final = 100  # best index of an empty side; sizes[100] is a sentinel so scans stop

# The hot path works in plain ints: comparisons and arithmetic mixing an IntEnum member with
# an int miss the interpreter's fast paths. ``decode`` turns events back into enum members.
_ACCEPTED: Final = int(EventType.ACCEPTED)
_REJECTED: Final = int(EventType.REJECTED)
_TRADE: Final = int(EventType.TRADE)
_RESTED: Final = int(EventType.RESTED)
_CANCELLED: Final = int(EventType.CANCELLED)
_EXPIRED: Final = int(EventType.EXPIRED)
_AMENDED: Final = int(EventType.AMENDED)
_BOOK: Final = int(EventType.BOOK)
_STATE: Final = int(EventType.STATE)
_GTC: Final = int(OrderKind.GTC)
_GTD: Final = int(OrderKind.GTD)
_POST_ONLY: Final = int(OrderKind.POST_ONLY)
_FOK: Final = int(OrderKind.FOK)
_MARKET: Final = int(OrderKind.MARKET)
_CANCEL_RESTING: Final = int(Stp.CANCEL_RESTING)
_OPEN: Final = int(MarketState.OPEN)
_HALTED: Final = int(MarketState.HALTED)
_CLOSED: Final = int(MarketState.CLOSED)
_SELF_TRADE: Final = int(CancelReason.SELF_TRADE)
_USER_CANCEL: Final = int(CancelReason.USER)
_IOC_REMAINDER: Final = int(CancelReason.IOC_REMAINDER)
_MARKET_REMAINDER: Final = int(CancelReason.MARKET_REMAINDER)

# _KINDS[taker book side][taker outcome][maker outcome]: what the trade does.
_KINDS: Final = (
    (
        (int(TradeKind.TRANSFER_YES), int(TradeKind.MINT)),  # BUY YES taker
        (int(TradeKind.MERGE), int(TradeKind.TRANSFER_NO)),  # SELL NO taker
    ),
    (
        (int(TradeKind.TRANSFER_YES), int(TradeKind.MERGE)),  # SELL YES taker
        (int(TradeKind.MINT), int(TradeKind.TRANSFER_NO)),  # BUY NO taker
    ),
)


class Book:
    """One market's book. Commands in, events out; no clock, no I/O, deterministic.

    Each command method returns the list of events it caused (see ``engine.events``), every
    event numbered by the market's sequence. Prices given to commands are in the order's own
    outcome (BUY NO @ 30 is a NO price of 30, an ask at YES 70).

    Inside, each side keeps 99 price levels in an array, by an index where lower is better
    on both sides: a bid at YES price p sits at 100 - p, an ask at p. In own-outcome terms a
    buy at price c sits at 100 - c and a sell at c, whatever the outcome. Each level is a
    FIFO deque with an exact total size; cancelled orders are marked (remaining 0) and
    skipped when they reach the front, and a level is compacted when mostly marked.
    """

    __slots__ = (
        "_best",
        "_dead",
        "_expiry",
        "_last",
        "_levels",
        "_market_id",
        "_now",
        "_orders",
        "_seq",
        "_sizes",
        "_state",
    )

    def __init__(self, market_id: int) -> None:
        self._market_id = market_id
        self._seq = 0
        self._state: int = _OPEN
        self._now = 0
        self._last = 0
        self._orders: dict[int, Order] = {}
        self._levels: tuple[list[deque[Order]], list[deque[Order]]] = (
            [deque() for _ in range(101)],
            [deque() for _ in range(101)],
        )
        self._sizes: tuple[list[int], list[int]] = ([0] * 100 + [1], [0] * 100 + [1])
        self._dead: tuple[list[int], list[int]] = ([0] * 101, [0] * 101)
        self._best = [_EMPTY, _EMPTY]
        self._expiry: list[tuple[int, int, int, Order]] = []

    # ------------------------------------------------------------------ commands

    def place(
        self,
        order_id: int,
        user_id: int,
        side: int,
        outcome: int,
        price: int,
        qty: int,
        kind: int = _GTC,
        expires_at: int | None = None,
        budget: int | None = None,
        stp: int = _CANCEL_RESTING,
    ) -> list[Event]:
        """A new order. ``price`` is in ``outcome`` cents (for MARKET: the worst price).

        GTD needs ``expires_at`` (later than the latest ``expire(now)``); a MARKET buy needs
        ``budget`` (cents it may spend at most; ``qty`` still caps the shares); nothing else
        takes either. Events: Rejected; or Accepted, then its trades (with Book deltas and
        self-trade cancels), then Rested + Book, or Cancelled for what may not rest.
        """
        seq = self._seq + 1
        # One test lets a valid GTC order through; anything else takes the long way.
        if (
            self._state
            or kind
            or (side | outcome | stp) >> 1
            or not 0 < price < 100
            or qty < 1
            or expires_at is not None
            or budget is not None
            or order_id in self._orders
        ):
            reason = self._refusal(
                order_id, user_id, side, outcome, price, qty, kind, expires_at, budget, stp
            )
            if reason >= 0:
                self._seq = seq
                return [(_REJECTED, seq, order_id, reason)]
        s = side ^ outcome
        ri = price if side else 100 - price
        lim = 100 - ri  # the deepest level index of the other side it may trade at
        m = s ^ 1
        i = self._best[m]
        if i > lim:  # nothing to trade with: the common case, kept short
            if kind <= _POST_ONLY:
                yp = price if outcome == 0 else 100 - price
                o = [
                    qty,
                    order_id,
                    user_id,
                    outcome,
                    _CASH_PER_SHARE[side][price],
                    _SHARES_PER_SHARE[side],
                    side,
                    price,
                    qty,
                    kind,
                    _NEVER if expires_at is None else expires_at,
                    stp,
                    s,
                    ri,
                    yp,
                ]
                self._levels[s][ri].append(o)
                sizes = self._sizes[s]
                size = sizes[ri] + qty
                sizes[ri] = size
                best = self._best
                if ri < best[s]:
                    best[s] = ri
                self._orders[order_id] = o
                if expires_at is not None:
                    heappush(self._expiry, (expires_at, order_id, seq, o))
                self._seq = seq + 2
                return [
                    (_ACCEPTED, seq, order_id),
                    (_RESTED, seq + 1, order_id, s, yp, qty),
                    (_BOOK, seq + 2, s, yp, size),
                ]
            self._seq = seq + 1
            why = _MARKET_REMAINDER if kind == _MARKET else _IOC_REMAINDER
            return [(_ACCEPTED, seq, order_id), (_CANCELLED, seq + 1, order_id, qty, why)]

        out: list[Event] = [(_ACCEPTED, seq, order_id)]
        if budget is not None:  # a market buy: the general loop, which counts cents
            self._seq = seq
            rem = self._take(out, order_id, user_id, side, outcome, s, lim, qty, budget, stp)
            seq = self._seq
        else:
            # _take without the budget, inlined: this is most of the engine's work.
            rem = qty
            levels = self._levels[m]
            sizes = self._sizes[m]
            dead = self._dead[m]
            orders = self._orders
            kinds = _KINDS[s][outcome]
            taker_sgn = -1 if side else 1
            last = 0
            stopped = False
            while i <= lim:
                size = sizes[i]
                if not size:
                    i += 1
                    continue
                yp = i if m else 100 - i
                taker_cps = i - 100 if side else i  # a seller at level i gets 100 - i
                q = levels[i]
                size0 = size
                rem0 = rem
                while rem and size:
                    o = q[0]
                    orem, oid, ouser, oout, ocps, osgn, _, _, _, _, _, _, _, _, _ = o
                    if not orem:
                        q.popleft()
                        dead[i] -= 1
                        continue
                    if ouser == user_id:
                        if stp:
                            stopped = True
                            break
                        o[_REM] = 0
                        q.popleft()
                        del orders[oid]
                        size -= orem
                        seq += 1
                        out.append((_CANCELLED, seq, oid, orem, _SELF_TRADE))
                        continue
                    f = rem if rem < orem else orem
                    rem -= f
                    size -= f
                    orem -= f
                    o[_REM] = orem
                    if not orem:
                        q.popleft()
                        del orders[oid]
                    seq += 1
                    out.append(
                        (
                            _TRADE,
                            seq,
                            yp,
                            f,
                            kinds[oout],
                            s,
                            oid,
                            ouser,
                            oout,
                            ocps * f,
                            osgn * f,
                            orem,
                            order_id,
                            user_id,
                            outcome,
                            taker_cps * f,
                            taker_sgn * f,
                            rem,
                        )
                    )
                if rem != rem0:
                    last = yp
                if size != size0:
                    sizes[i] = size
                    seq += 1
                    out.append((_BOOK, seq, m, yp, size))
                if size:
                    break
                q.clear()
                dead[i] = 0
                if not rem:
                    break
                i += 1
            while not sizes[i]:
                i += 1
            self._best[m] = i
            if last:
                self._last = last
            if stopped:
                seq += 1
                out.append((_CANCELLED, seq, order_id, rem, _SELF_TRADE))
                rem = 0
        if rem:
            if kind <= _POST_ONLY:
                o = _new_order(
                    rem, order_id, user_id, side, outcome, price, qty, kind, expires_at, stp
                )
                yp = o[_YP]
                size = self._insert(o, seq)
                out.append((_RESTED, seq + 1, order_id, s, yp, rem))
                seq += 2
                out.append((_BOOK, seq, s, yp, size))
            else:
                seq += 1
                why = _MARKET_REMAINDER if kind == _MARKET else _IOC_REMAINDER
                out.append((_CANCELLED, seq, order_id, rem, why))
        self._seq = seq
        return out

    def cancel(self, order_id: int) -> list[Event]:
        """Events: Cancelled + Book; or Rejected(UNKNOWN_ORDER). Allowed while halted."""
        seq = self._seq + 1
        o = self._orders.get(order_id)
        if o is None:
            self._seq = seq
            return [(_REJECTED, seq, order_id, RejectReason.UNKNOWN_ORDER)]
        # _remove, inlined: cancels are a tenth of the traffic.
        rem = o[_REM]
        o[_REM] = 0
        del self._orders[order_id]
        s = o[_BS]
        i = o[_IDX]
        sizes = self._sizes[s]
        size = sizes[i] - rem
        sizes[i] = size
        if size:
            dead = self._dead[s]
            d = dead[i] + 1
            if d > 16 and d * 2 > len(self._levels[s][i]):
                self._compact(s, i)
            else:
                dead[i] = d
        else:
            self._clear(s, i)
        self._seq = seq + 1
        return [
            (_CANCELLED, seq, order_id, rem, _USER_CANCEL),
            (_BOOK, seq + 1, s, o[_YP], size),
        ]

    def amend(
        self, order_id: int, new_price: int | None = None, new_qty: int | None = None
    ) -> list[Event]:
        """Change a resting order's price (own outcome) and/or total size.

        ``new_qty`` is the new total size, filled shares included, and must stay above what
        is filled. The same price with a size no larger keeps the order's place in the
        queue: Amended(kept_priority=1) (+ Book if the size changed). Otherwise the order
        goes to the back: Amended(kept_priority=0) + Book for the old level, then it is
        matched as an incoming order at its new price (it may trade) and what is left rests
        (Rested + Book). A post-only order whose new price would cross is rejected
        (WOULD_CROSS) and stays as it was. Rejected while halted or closed.
        """
        seq = self._seq + 1
        o = self._orders.get(order_id)
        price = qty = filled = 0
        reason = -1
        if self._state:
            reason = RejectReason.HALTED if self._state == _HALTED else RejectReason.CLOSED
        elif o is None:
            reason = RejectReason.UNKNOWN_ORDER
        else:
            price = o[_PRICE] if new_price is None else new_price
            qty = o[_QTY] if new_qty is None else new_qty
            filled = o[_QTY] - o[_REM]
            if not 0 < price < 100:
                reason = RejectReason.INVALID_PRICE
            elif qty <= filled:
                reason = RejectReason.INVALID_QTY
        if o is None or reason >= 0:
            self._seq = seq
            return [(_REJECTED, seq, order_id, reason)]

        side = o[_SIDE]
        s = o[_BS]
        if price == o[_PRICE] and qty <= o[_QTY]:
            cut = o[_QTY] - qty
            o[_QTY] = qty
            o[_REM] -= cut
            out: list[Event] = [(_AMENDED, seq, order_id, price, qty, qty - filled, 1)]
            if cut:
                sizes = self._sizes[s]
                size = sizes[o[_IDX]] - cut
                sizes[o[_IDX]] = size
                seq += 1
                out.append((_BOOK, seq, s, o[_YP], size))
            self._seq = seq
            return out

        ri = price if side else 100 - price
        lim = 100 - ri
        crosses = self._best[s ^ 1] <= lim
        if crosses and o[_KIND] == _POST_ONLY:
            self._seq = seq
            return [(_REJECTED, seq, order_id, RejectReason.WOULD_CROSS)]
        old_size = self._remove(o)
        rem = qty - filled
        out = [
            (_AMENDED, seq, order_id, price, qty, rem, 0),
            (_BOOK, seq + 1, s, o[_YP], old_size),
        ]
        seq += 1
        user = o[_USER]
        outcome = o[_OUT]
        exp = None if o[_EXP] == _NEVER else o[_EXP]
        if crosses:
            self._seq = seq
            rem = self._take(out, order_id, user, side, outcome, s, lim, rem, None, o[_STP])
            seq = self._seq
        if rem:
            n = _new_order(rem, order_id, user, side, outcome, price, qty, o[_KIND], exp, o[_STP])
            yp = n[_YP]
            size = self._insert(n, seq)
            out.append((_RESTED, seq + 1, order_id, s, yp, rem))
            seq += 2
            out.append((_BOOK, seq, s, yp, size))
        self._seq = seq
        return out

    def cancel_all(self, user_id: int) -> list[Event]:
        """Cancel every resting order of one user, in priority order (bids, then asks).
        Events: Cancelled(CANCEL_ALL) + Book per order; none if the user has none."""
        out: list[Event] = []
        seq = self._seq
        for o in self._resting():
            if o[_USER] == user_id:
                rem = o[_REM]
                size = self._remove(o)
                out.append((_CANCELLED, seq + 1, o[_ID], rem, CancelReason.CANCEL_ALL))
                seq += 2
                out.append((_BOOK, seq, o[_BS], o[_YP], size))
        self._seq = seq
        return out

    def expire(self, now: int) -> list[Event]:
        """Tell the book the time. GTD orders with ``expires_at <= now`` leave it, by
        (expires_at, order_id): Expired + Book each. Time never goes back: an earlier
        ``now`` than one seen before expires nothing new."""
        self._now = max(self._now, now)
        out: list[Event] = []
        heap = self._expiry
        seq = self._seq
        while heap and heap[0][0] <= now:
            o = heappop(heap)[3]
            rem = o[_REM]
            if rem:
                size = self._remove(o)
                out.append((_EXPIRED, seq + 1, o[_ID], rem))
                seq += 2
                out.append((_BOOK, seq, o[_BS], o[_YP], size))
        self._seq = seq
        return out

    def halt(self) -> list[Event]:
        """Stop taking orders and amends, keep the book. Event: State(HALTED); none if
        already halted or closed."""
        if self._state != _OPEN:
            return []
        self._state = _HALTED
        self._seq += 1
        return [(_STATE, self._seq, _HALTED)]

    def resume(self) -> list[Event]:
        """Trade again after a halt. Event: State(OPEN); none if open; Rejected(order_id=0,
        CLOSED) once closed out."""
        if self._state == _OPEN:
            return []
        self._seq += 1
        if self._state == _CLOSED:
            return [(_REJECTED, self._seq, 0, RejectReason.CLOSED)]
        self._state = _OPEN
        return [(_STATE, self._seq, _OPEN)]

    def close_out(self) -> list[Event]:
        """Close the market for good (before resolution). Events: State(CLOSED), then
        Cancelled(CLOSE_OUT) + Book for every resting order in priority order."""
        if self._state == _CLOSED:
            return []
        self._state = _CLOSED
        seq = self._seq + 1
        out: list[Event] = [(_STATE, seq, _CLOSED)]
        for o in self._resting():
            rem = o[_REM]
            size = self._remove(o)
            out.append((_CANCELLED, seq + 1, o[_ID], rem, CancelReason.CLOSE_OUT))
            seq += 2
            out.append((_BOOK, seq, o[_BS], o[_YP], size))
        self._expiry.clear()
        self._seq = seq
        return out

    # ------------------------------------------------------------------ state

    def snapshot(self) -> Snapshot:
        """Everything needed to rebuild this book exactly (see ``restore``)."""
        return Snapshot(
            market_id=self._market_id,
            seq=self._seq,
            state=MarketState(self._state),
            now=self._now,
            last=self._last or None,
            orders=tuple(
                RestingOrder(
                    o[_ID],
                    o[_USER],
                    Side(o[_SIDE]),
                    Outcome(o[_OUT]),
                    o[_PRICE],
                    o[_QTY],
                    o[_REM],
                    OrderKind(o[_KIND]),
                    None if o[_EXP] == _NEVER else o[_EXP],
                    Stp(o[_STP]),
                )
                for o in self._resting()
            ),
        )

    @classmethod
    def restore(cls, snapshot: Snapshot) -> "Book":
        """A book in the snapshot's state, giving the same future events as the original.

        Orders must come in priority order; raises ValueError on a snapshot no book could
        have produced (bad fields, duplicate ids, a crossed book).
        """
        book = cls(snapshot.market_id)
        book._seq = snapshot.seq
        book._state = int(MarketState(snapshot.state))
        book._now = snapshot.now
        book._last = snapshot.last or 0
        for r in snapshot.orders:
            book._check_resting(r)
            o = _new_order(
                r.remaining,
                r.order_id,
                r.user_id,
                int(r.side),
                int(r.outcome),
                r.price,
                r.qty,
                int(r.kind),
                r.expires_at,
                int(r.stp),
            )
            book._insert(o, 0)
        if book._best[0] + book._best[1] <= 100:
            raise ValueError("snapshot holds a crossed book")
        return book

    # ------------------------------------------------------------------ queries

    @property
    def market_id(self) -> int:
        return self._market_id

    @property
    def seq(self) -> int:
        """The sequence number of the latest event (0 before any)."""
        return self._seq

    @property
    def state(self) -> MarketState:
        return MarketState(self._state)

    def __len__(self) -> int:
        """The number of resting orders."""
        return len(self._orders)

    def __contains__(self, order_id: object) -> bool:
        return order_id in self._orders

    def order(self, order_id: int) -> RestingOrder | None:
        """A resting order, or None."""
        o = self._orders.get(order_id)
        if o is None:
            return None
        return RestingOrder(
            o[_ID],
            o[_USER],
            Side(o[_SIDE]),
            Outcome(o[_OUT]),
            o[_PRICE],
            o[_QTY],
            o[_REM],
            OrderKind(o[_KIND]),
            None if o[_EXP] == _NEVER else o[_EXP],
            Stp(o[_STP]),
        )

    def best_bid(self, view: int = View.YES) -> int | None:
        """The highest bid in the view's cents. NO bids are YES asks: 100 - YES ask."""
        i = self._best[view]
        return None if i == _EMPTY else 100 - i

    def best_ask(self, view: int = View.YES) -> int | None:
        """The lowest ask in the view's cents. NO asks are YES bids: 100 - YES bid."""
        i = self._best[view ^ 1]
        return None if i == _EMPTY else i

    def mid(self, view: int = View.YES) -> float | None:
        """Halfway between best bid and best ask (a display figure, not a price)."""
        b, a = self._best[view], self._best[view ^ 1]
        if b == _EMPTY or a == _EMPTY:
            return None
        return (100 - b + a) / 2

    def last(self, view: int = View.YES) -> int | None:
        """The price of the latest trade in the view's cents."""
        if not self._last:
            return None
        return self._last if view == View.YES else 100 - self._last

    def depth(
        self, n: int = 10, view: int = View.YES
    ) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Up to ``n`` levels a side as (bids, asks), each best first, of (price, size).

        In the NO view, NO bids are the YES asks at 100 - price, NO asks the YES bids."""
        bids: list[tuple[int, int]] = []
        asks: list[tuple[int, int]] = []
        for out, s, flip in ((bids, view, True), (asks, view ^ 1, False)):
            sizes = self._sizes[s]
            i = self._best[s]
            while i < _EMPTY and len(out) < n:
                if sizes[i]:
                    out.append((100 - i if flip else i, sizes[i]))
                i += 1
        return bids, asks

    # ------------------------------------------------------------------ inside

    def _refusal(
        self,
        order_id: int,
        user_id: int,
        side: int,
        outcome: int,
        price: int,
        qty: int,
        kind: int,
        expires_at: int | None,
        budget: int | None,
        stp: int,
    ) -> int:
        """Why a new order must be rejected, or -1 if it may go in."""
        if self._state:
            return RejectReason.HALTED if self._state == _HALTED else RejectReason.CLOSED
        if order_id in self._orders:
            return RejectReason.DUPLICATE_ID
        if side not in (0, 1):
            return RejectReason.INVALID_SIDE
        if outcome not in (0, 1):
            return RejectReason.INVALID_OUTCOME
        if not 0 <= kind <= _MARKET:
            return RejectReason.INVALID_KIND
        if not 0 < price < 100:
            return RejectReason.INVALID_PRICE
        if qty < 1:
            return RejectReason.INVALID_QTY
        if kind == _GTD:
            if expires_at is None or expires_at <= self._now:
                return RejectReason.INVALID_EXPIRY
        elif expires_at is not None:
            return RejectReason.INVALID_EXPIRY
        if kind == _MARKET and side == Side.BUY:
            if budget is None or budget < 1:
                return RejectReason.INVALID_BUDGET
        elif budget is not None:
            return RejectReason.INVALID_BUDGET
        if stp not in (0, 1):
            return RejectReason.INVALID_STP
        s = side ^ outcome
        lim = price if side == Side.BUY else 100 - price
        crosses = self._best[s ^ 1] <= lim
        if kind == _POST_ONLY and crosses:
            return RejectReason.WOULD_CROSS
        if kind == _FOK and not (crosses and self._fillable(user_id, s, lim, qty, stp)):
            return RejectReason.FOK_UNFILLABLE
        return -1

    def _fillable(self, user: int, s: int, lim: int, qty: int, stp: int) -> bool:
        """Whether an order could fill ``qty`` now, not counting its own user's orders."""
        m = s ^ 1
        sizes = self._sizes[m]
        start = self._best[m]
        if sum(sizes[start : lim + 1]) < qty:
            return False
        levels = self._levels[m]
        for i in range(start, lim + 1):
            for o in levels[i]:
                if not o[_REM]:
                    continue
                if o[_USER] == user:
                    if stp:
                        return False
                    continue
                qty -= o[_REM]
                if qty <= 0:
                    return True
        return False

    def _take(
        self,
        out: list[Event],
        order_id: int,
        user: int,
        side: int,
        outcome: int,
        s: int,
        lim: int,
        rem: int,
        budget: int | None,
        stp: int,
    ) -> int:
        """Match an incoming order against the other side up to level ``lim``; returns
        what is left to rest or cancel (0 after a self-trade cancel of the taker)."""
        seq = self._seq
        m = s ^ 1
        levels = self._levels[m]
        sizes = self._sizes[m]
        dead = self._dead[m]
        orders = self._orders
        kinds = _KINDS[s][outcome]
        taker_sgn = -1 if side else 1
        last = 0
        stopped = False
        i = self._best[m]
        while i <= lim:
            size = sizes[i]
            if not size:
                i += 1
                continue
            yp = i if m else 100 - i
            taker_cps = i - 100 if side else i  # a seller at level i gets 100 - i
            want = rem
            if budget is not None:
                want = min(rem, budget // taker_cps)
                if not want:
                    break
            q = levels[i]
            size0 = size
            want0 = want
            while want and size:
                o = q[0]
                orem, oid, ouser, oout, ocps, osgn, _, _, _, _, _, _, _, _, _ = o
                if not orem:
                    q.popleft()
                    dead[i] -= 1
                    continue
                if ouser == user:
                    if stp:
                        stopped = True
                        break
                    o[_REM] = 0
                    q.popleft()
                    del orders[oid]
                    size -= orem
                    seq += 1
                    out.append((_CANCELLED, seq, oid, orem, _SELF_TRADE))
                    continue
                f = want if want < orem else orem
                want -= f
                rem -= f
                size -= f
                orem -= f
                o[_REM] = orem
                if not orem:
                    q.popleft()
                    del orders[oid]
                seq += 1
                out.append(
                    (
                        _TRADE,
                        seq,
                        yp,
                        f,
                        kinds[oout],
                        s,
                        oid,
                        ouser,
                        oout,
                        ocps * f,
                        osgn * f,
                        orem,
                        order_id,
                        user,
                        outcome,
                        taker_cps * f,
                        taker_sgn * f,
                        rem,
                    )
                )
            if want != want0:
                last = yp
                if budget is not None:
                    budget -= (want0 - want) * taker_cps
            if size != size0:
                sizes[i] = size
                seq += 1
                out.append((_BOOK, seq, m, yp, size))
            if size:
                break
            q.clear()
            dead[i] = 0
            if not rem:
                break
            i += 1
        while not sizes[i]:
            i += 1
        self._best[m] = i
        if last:
            self._last = last
        if stopped:
            seq += 1
            out.append((_CANCELLED, seq, order_id, rem, _SELF_TRADE))
            rem = 0
        self._seq = seq
        return rem

    def _insert(self, o: Order, seq: int) -> int:
        """Put an order at the back of its level; returns the level's new size."""
        s = o[_BS]
        i = o[_IDX]
        self._levels[s][i].append(o)
        sizes = self._sizes[s]
        size = sizes[i] + o[_REM]
        sizes[i] = size
        if i < self._best[s]:
            self._best[s] = i
        self._orders[o[_ID]] = o
        if o[_EXP] != _NEVER:
            heappush(self._expiry, (o[_EXP], o[_ID], seq, o))
        return size

    def _remove(self, o: Order) -> int:
        """Take a resting order out of the book; returns its level's new size."""
        rem = o[_REM]
        o[_REM] = 0
        del self._orders[o[_ID]]
        s = o[_BS]
        i = o[_IDX]
        sizes = self._sizes[s]
        size = sizes[i] - rem
        sizes[i] = size
        if size:
            dead = self._dead[s]
            d = dead[i] + 1
            if d > 16 and d * 2 > len(self._levels[s][i]):
                self._compact(s, i)
            else:
                dead[i] = d
        else:
            self._clear(s, i)
        return size

    def _compact(self, s: int, i: int) -> None:
        """Drop the marked orders of a level that is mostly marked."""
        q = self._levels[s][i]
        live = [x for x in q if x[_REM]]
        q.clear()
        q.extend(live)
        self._dead[s][i] = 0

    def _clear(self, s: int, i: int) -> None:
        """A level just became empty: forget its marked orders, move the best if it was."""
        self._levels[s][i].clear()
        self._dead[s][i] = 0
        if self._best[s] == i:
            sizes = self._sizes[s]
            while not sizes[i]:
                i += 1
            self._best[s] = i

    def _resting(self) -> list[Order]:
        """Every resting order in priority order: bids best first, then asks."""
        found: list[Order] = []
        for s in (0, 1):
            sizes = self._sizes[s]
            levels = self._levels[s]
            for i in range(self._best[s], _EMPTY):
                if sizes[i]:
                    found.extend(o for o in levels[i] if o[_REM])
        return found

    def _check_resting(self, r: RestingOrder) -> None:
        ok = (
            r.order_id not in self._orders
            and r.side in (0, 1)
            and r.outcome in (0, 1)
            and 0 < r.price < 100
            and 0 < r.remaining <= r.qty
            and r.kind in (_GTC, _GTD, _POST_ONLY)
            and (r.expires_at is None) == (r.kind != _GTD)
            and r.stp in (0, 1)
        )
        if not ok:
            raise ValueError(f"snapshot holds an impossible order: {r}")


def _new_order(
    rem: int,
    order_id: int,
    user_id: int,
    side: int,
    outcome: int,
    price: int,
    qty: int,
    kind: int,
    expires_at: int | None,
    stp: int,
) -> Order:
    """A resting order's list (``place`` builds the same list inline on its fast path)."""
    return [
        rem,
        order_id,
        user_id,
        outcome,
        _CASH_PER_SHARE[side][price],
        _SHARES_PER_SHARE[side],
        side,
        price,
        qty,
        kind,
        _NEVER if expires_at is None else expires_at,
        stp,
        side ^ outcome,
        price if side else 100 - price,
        price if outcome == 0 else 100 - price,
    ]
