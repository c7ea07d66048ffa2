"""A deliberately simple reference model of the engine's book: one list of orders, sorted
on demand, no indexes, no cleverness. Property tests run the same commands through it and
through engine.Book and expect the very same events."""

from dataclasses import dataclass

from engine import (
    BookSide,
    CancelReason,
    EventType,
    MarketState,
    OrderKind,
    Outcome,
    RejectReason,
    RestingOrder,
    Side,
    Snapshot,
    Stp,
    TradeKind,
)

Ev = tuple[int, ...]


@dataclass
class MOrder:
    order_id: int
    user: int
    side: int
    outcome: int
    price: int
    qty: int
    remaining: int
    kind: int
    expires_at: int | None
    stp: int
    arrival: int

    @property
    def yes_price(self) -> int:
        return self.price if self.outcome == 0 else 100 - self.price

    @property
    def is_bid(self) -> bool:
        # BUY YES and SELL NO bid for YES; SELL YES and BUY NO ask.
        return (self.side == 0) == (self.outcome == 0)


class Model:
    def __init__(self) -> None:
        self.orders: list[MOrder] = []
        self.seq = 0
        self.state = MarketState.OPEN
        self.now = 0
        self.last = 0
        self.arrivals = 0

    # helpers
    def emit(self, out: list[Ev], kind: int, *fields: int) -> None:
        self.seq += 1
        out.append((int(kind), self.seq, *(int(f) for f in fields)))

    def bids(self) -> list[MOrder]:
        return sorted((o for o in self.orders if o.is_bid), key=lambda o: (-o.yes_price, o.arrival))

    def asks(self) -> list[MOrder]:
        return sorted(
            (o for o in self.orders if not o.is_bid), key=lambda o: (o.yes_price, o.arrival)
        )

    def level_size(self, is_bid: bool, yp: int) -> int:
        return sum(o.remaining for o in self.orders if o.is_bid == is_bid and o.yes_price == yp)

    def find(self, order_id: int) -> MOrder | None:
        for o in self.orders:
            if o.order_id == order_id:
                return o
        return None

    def add(self, o: MOrder) -> None:
        self.arrivals += 1
        o.arrival = self.arrivals
        self.orders.append(o)

    def side_of(self, is_bid: bool) -> int:
        return BookSide.BID if is_bid else BookSide.ASK

    @staticmethod
    def crosses(taker_bid: bool, taker_yp: int, maker: MOrder) -> bool:
        return maker.yes_price <= taker_yp if taker_bid else maker.yes_price >= taker_yp

    # commands
    def place(
        self,
        order_id: int,
        user: int,
        side: int,
        outcome: int,
        price: int,
        qty: int,
        kind: int = OrderKind.GTC,
        expires_at: int | None = None,
        budget: int | None = None,
        stp: int = 0,
    ) -> list[Ev]:
        out: list[Ev] = []
        reason = self.refusal(
            order_id, user, side, outcome, price, qty, kind, expires_at, budget, stp
        )
        if reason is not None:
            self.emit(out, EventType.REJECTED, order_id, reason)
            return out
        self.emit(out, EventType.ACCEPTED, order_id)
        taker = MOrder(order_id, user, side, outcome, price, qty, qty, kind, expires_at, stp, 0)
        rem = self.match(out, taker, budget)
        if rem:
            if kind in (OrderKind.GTC, OrderKind.GTD, OrderKind.POST_ONLY):
                taker.remaining = rem
                self.rest(out, taker)
            else:
                why = (
                    CancelReason.MARKET_REMAINDER
                    if kind == OrderKind.MARKET
                    else CancelReason.IOC_REMAINDER
                )
                self.emit(out, EventType.CANCELLED, order_id, rem, why)
        return out

    def refusal(
        self,
        order_id: int,
        user: int,
        side: int,
        outcome: int,
        price: int,
        qty: int,
        kind: int,
        expires_at: int | None,
        budget: int | None,
        stp: int,
    ) -> int | None:
        if self.state == MarketState.HALTED:
            return RejectReason.HALTED
        if self.state == MarketState.CLOSED:
            return RejectReason.CLOSED
        if self.find(order_id) is not None:
            return RejectReason.DUPLICATE_ID
        if side not in (0, 1):
            return RejectReason.INVALID_SIDE
        if outcome not in (0, 1):
            return RejectReason.INVALID_OUTCOME
        if kind not in list(OrderKind):
            return RejectReason.INVALID_KIND
        if not 1 <= price <= 99:
            return RejectReason.INVALID_PRICE
        if qty < 1:
            return RejectReason.INVALID_QTY
        if kind == OrderKind.GTD:
            if expires_at is None or expires_at <= self.now:
                return RejectReason.INVALID_EXPIRY
        elif expires_at is not None:
            return RejectReason.INVALID_EXPIRY
        if kind == OrderKind.MARKET and side == 0:
            if budget is None or budget < 1:
                return RejectReason.INVALID_BUDGET
        elif budget is not None:
            return RejectReason.INVALID_BUDGET
        if stp not in (0, 1):
            return RejectReason.INVALID_STP
        probe = MOrder(order_id, user, side, outcome, price, qty, qty, kind, None, stp, 0)
        others = self.asks() if probe.is_bid else self.bids()
        crossing = [o for o in others if self.crosses(probe.is_bid, probe.yes_price, o)]
        if kind == OrderKind.POST_ONLY and crossing:
            return RejectReason.WOULD_CROSS
        if kind == OrderKind.FOK:
            fillable = 0
            for o in crossing:
                if o.user == user:
                    if stp:
                        break
                    continue
                fillable += o.remaining
            if fillable < qty:
                return RejectReason.FOK_UNFILLABLE
        return None

    def match(self, out: list[Ev], taker: MOrder, budget: int | None) -> int:
        """Fill the taker against the other side, level by level; returns what is left."""
        rem = taker.remaining
        bid = taker.is_bid
        prices: list[int] = []
        for o in self.asks() if bid else self.bids():
            if self.crosses(bid, taker.yes_price, o) and o.yes_price not in prices:
                prices.append(o.yes_price)
        stopped = False
        for yp in prices:
            own_price = yp if taker.outcome == 0 else 100 - yp
            if budget is not None and budget // own_price == 0:
                break
            before = self.level_size(not bid, yp)
            level = [o for o in (self.asks() if bid else self.bids()) if o.yes_price == yp]
            for maker in level:
                if rem == 0:
                    break
                if budget is not None and budget // own_price == 0:
                    break
                if maker.user == taker.user:
                    if taker.stp:
                        stopped = True
                        break
                    self.orders.remove(maker)
                    self.emit(
                        out,
                        EventType.CANCELLED,
                        maker.order_id,
                        maker.remaining,
                        CancelReason.SELF_TRADE,
                    )
                    continue
                f = min(rem, maker.remaining)
                if budget is not None:
                    f = min(f, budget // own_price)
                    budget -= f * own_price
                rem -= f
                maker.remaining -= f
                if maker.remaining == 0:
                    self.orders.remove(maker)
                self.last = yp
                self.emit(out, EventType.TRADE, *self.trade_fields(maker, taker, yp, f, rem))
            after = self.level_size(not bid, yp)
            if after != before:
                self.emit(out, EventType.BOOK, self.side_of(not bid), yp, after)
            if stopped or rem == 0:
                break
        if stopped:
            self.emit(out, EventType.CANCELLED, taker.order_id, rem, CancelReason.SELF_TRADE)
            return 0
        return rem

    def trade_fields(
        self, maker: MOrder, taker: MOrder, yp: int, f: int, taker_rem: int
    ) -> list[int]:
        bid, ask = (taker, maker) if taker.is_bid else (maker, taker)
        kind = {
            (0, 0): TradeKind.TRANSFER_YES,
            (0, 1): TradeKind.MINT,
            (1, 0): TradeKind.MERGE,
            (1, 1): TradeKind.TRANSFER_NO,
        }[(bid.outcome, ask.outcome)]

        def cash(o: MOrder) -> int:
            own = yp if o.outcome == 0 else 100 - yp
            return own * f if o.side == 0 else -own * f

        def shares(o: MOrder) -> int:
            return f if o.side == 0 else -f

        return [
            yp,
            f,
            kind,
            self.side_of(taker.is_bid),
            maker.order_id,
            maker.user,
            maker.outcome,
            cash(maker),
            shares(maker),
            maker.remaining,
            taker.order_id,
            taker.user,
            taker.outcome,
            cash(taker),
            shares(taker),
            taker_rem,
        ]

    def rest(self, out: list[Ev], o: MOrder) -> None:
        self.add(o)
        side = self.side_of(o.is_bid)
        self.emit(out, EventType.RESTED, o.order_id, side, o.yes_price, o.remaining)
        self.emit(out, EventType.BOOK, side, o.yes_price, self.level_size(o.is_bid, o.yes_price))

    def remove(self, out: list[Ev], o: MOrder, event: int, *fields: int) -> None:
        self.orders.remove(o)
        self.emit(out, event, o.order_id, o.remaining, *fields)
        self.emit(
            out,
            EventType.BOOK,
            self.side_of(o.is_bid),
            o.yes_price,
            self.level_size(o.is_bid, o.yes_price),
        )

    def cancel(self, order_id: int) -> list[Ev]:
        out: list[Ev] = []
        o = self.find(order_id)
        if o is None:
            self.emit(out, EventType.REJECTED, order_id, RejectReason.UNKNOWN_ORDER)
        else:
            self.remove(out, o, EventType.CANCELLED, CancelReason.USER)
        return out

    def amend(
        self, order_id: int, new_price: int | None = None, new_qty: int | None = None
    ) -> list[Ev]:
        out: list[Ev] = []
        o = self.find(order_id)
        reason = None
        if self.state == MarketState.HALTED:
            reason = RejectReason.HALTED
        elif self.state == MarketState.CLOSED:
            reason = RejectReason.CLOSED
        elif o is None:
            reason = RejectReason.UNKNOWN_ORDER
        else:
            price = o.price if new_price is None else new_price
            qty = o.qty if new_qty is None else new_qty
            filled = o.qty - o.remaining
            if not 1 <= price <= 99:
                reason = RejectReason.INVALID_PRICE
            elif qty <= filled:
                reason = RejectReason.INVALID_QTY
        if reason is not None or o is None:
            self.emit(out, EventType.REJECTED, order_id, reason or 0)
            return out
        if price == o.price and qty <= o.qty:
            cut = o.qty - qty
            o.qty, o.remaining = qty, qty - filled
            self.emit(out, EventType.AMENDED, order_id, price, qty, qty - filled, 1)
            if cut:
                self.emit(
                    out,
                    EventType.BOOK,
                    self.side_of(o.is_bid),
                    o.yes_price,
                    self.level_size(o.is_bid, o.yes_price),
                )
            return out
        moved = MOrder(
            o.order_id,
            o.user,
            o.side,
            o.outcome,
            price,
            qty,
            qty - filled,
            o.kind,
            o.expires_at,
            o.stp,
            0,
        )
        others = self.asks() if moved.is_bid else self.bids()
        crossing = any(self.crosses(moved.is_bid, moved.yes_price, x) for x in others)
        if crossing and o.kind == OrderKind.POST_ONLY:
            self.emit(out, EventType.REJECTED, order_id, RejectReason.WOULD_CROSS)
            return out
        self.orders.remove(o)
        self.emit(out, EventType.AMENDED, order_id, price, qty, qty - filled, 0)
        self.emit(
            out,
            EventType.BOOK,
            self.side_of(o.is_bid),
            o.yes_price,
            self.level_size(o.is_bid, o.yes_price),
        )
        rem = self.match(out, moved, None)
        if rem:
            moved.remaining = rem
            self.rest(out, moved)
        return out

    def priority(self) -> list[MOrder]:
        return self.bids() + self.asks()

    def cancel_all(self, user: int) -> list[Ev]:
        out: list[Ev] = []
        for o in self.priority():
            if o.user == user:
                self.remove(out, o, EventType.CANCELLED, CancelReason.CANCEL_ALL)
        return out

    def expire(self, now: int) -> list[Ev]:
        out: list[Ev] = []
        self.now = max(self.now, now)
        due = [o for o in self.orders if o.expires_at is not None and o.expires_at <= now]
        for o in sorted(due, key=lambda o: (o.expires_at or 0, o.order_id)):
            self.remove(out, o, EventType.EXPIRED)
        return out

    def halt(self) -> list[Ev]:
        out: list[Ev] = []
        if self.state == MarketState.OPEN:
            self.state = MarketState.HALTED
            self.emit(out, EventType.STATE, MarketState.HALTED)
        return out

    def resume(self) -> list[Ev]:
        out: list[Ev] = []
        if self.state == MarketState.HALTED:
            self.state = MarketState.OPEN
            self.emit(out, EventType.STATE, MarketState.OPEN)
        elif self.state == MarketState.CLOSED:
            self.emit(out, EventType.REJECTED, 0, RejectReason.CLOSED)
        return out

    def close_out(self) -> list[Ev]:
        out: list[Ev] = []
        if self.state != MarketState.CLOSED:
            self.state = MarketState.CLOSED
            self.emit(out, EventType.STATE, MarketState.CLOSED)
            for o in self.priority():
                self.remove(out, o, EventType.CANCELLED, CancelReason.CLOSE_OUT)
        return out

    # views
    def snapshot_orders(self) -> tuple[RestingOrder, ...]:
        return tuple(
            RestingOrder(
                o.order_id,
                o.user,
                Side(o.side),
                Outcome(o.outcome),
                o.price,
                o.qty,
                o.remaining,
                OrderKind(o.kind),
                o.expires_at,
                Stp(o.stp),
            )
            for o in self.priority()
        )

    def snapshot(self) -> Snapshot:
        return Snapshot(
            1, self.seq, self.state, self.now, self.last or None, self.snapshot_orders()
        )

    def depth(self, n: int, view: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        def levels(orders: list[MOrder]) -> list[tuple[int, int]]:
            out: list[tuple[int, int]] = []
            for o in orders:
                if not out or out[-1][0] != o.yes_price:
                    out.append((o.yes_price, 0))
                out[-1] = (o.yes_price, out[-1][1] + o.remaining)
            return out

        bids, asks = levels(self.bids()), levels(self.asks())
        if view == 1:  # NO bids are YES asks at 100 - p, NO asks are YES bids
            bids, asks = ([(100 - p, q) for p, q in asks], [(100 - p, q) for p, q in bids])
        return bids[:n], asks[:n]
