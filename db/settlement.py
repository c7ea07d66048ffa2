"""Settlement: the engine's events of one batch become Postgres effects, in the caller's
transaction — trades, order states, reservation releases, cash, shares and cost basis,
ledger journals, market collateral and sequence.

Money rules (the API reserved before the engine saw the order):
- an open LIMIT BUY holds `price * remaining` cents, a SELL holds `remaining` shares; an
  order that is over holds nothing. After each command, every order it touched releases what
  it holds beyond that (price improvement, cancels, rejects, amends down).
- a buyer pays from its reservation; a seller is paid into available cash; MINT locks 100¢
  per pair in the market's collateral and MERGE releases it. The engine's Trade event says
  what each side pays and gets, so nothing is re-derived here.
Rows are locked in a fixed order (orders, then accounts, then positions, each by key), so
concurrent matchers and API calls cannot deadlock.
"""

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from db.enums import Asset, EntryKind, LedgerAccount, OrderStatus
from db.ledger import Leg, post_journals
from engine import CancelReason, EventType, RejectReason, TradeKind
from engine.events import Event

_TERMINAL = {OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.EXPIRED, OrderStatus.REJECTED}
_OUTCOME = ("YES", "NO")  # engine.Outcome value -> db outcome
_TRADE_KIND = {
    TradeKind.TRANSFER_YES: "TRANSFER_YES",
    TradeKind.MINT: "MINT",
    TradeKind.MERGE: "MERGE",
    TradeKind.TRANSFER_NO: "TRANSFER_NO",
}
_CANCEL_REASON = {
    CancelReason.USER: "cancelled by its owner",
    CancelReason.IOC_REMAINDER: "the unfilled rest of an immediate order",
    CancelReason.MARKET_REMAINDER: "the unfilled rest of a market order",
    CancelReason.SELF_TRADE: "self-trade prevention",
    CancelReason.CLOSE_OUT: "the market closed",
    CancelReason.CANCEL_ALL: "cancel-all by its owner",
}


@dataclass(slots=True)
class OrderState:
    id: int
    user_id: int
    side: str
    outcome: str
    kind: str
    price: int
    quantity: int
    filled: int
    filled_cost: int
    reserved_cash: int
    reserved_shares: int
    status: OrderStatus
    reason: str | None
    queue_seq: int | None

    @property
    def remaining(self) -> int:
        return self.quantity - self.filled

    def held(self) -> tuple[int, int]:
        """(cents, shares) this order must still hold."""
        if self.status in _TERMINAL or self.kind == "MARKET":
            return 0, 0
        if self.side == "BUY":
            return self.price * self.remaining, 0
        return 0, self.remaining


@dataclass(slots=True)
class PositionState:
    available: int = 0
    reserved: int = 0
    cost_basis: int = 0
    realized_pnl: int = 0
    # deltas to write
    d_available: int = 0
    d_reserved: int = 0
    d_cost: int = 0
    d_realized: int = 0

    @property
    def held(self) -> int:
        return self.available + self.d_available + self.reserved + self.d_reserved


@dataclass(slots=True)
class TradeRow:
    seq: int
    kind: str
    yes_price: int
    quantity: int
    maker_order_id: int
    taker_order_id: int
    maker_user_id: int
    taker_user_id: int


@dataclass(slots=True)
class BatchEffects:
    """What a batch changed, for publishing after commit."""

    market_id: int
    last_seq: int = 0
    trades: list[TradeRow] = field(default_factory=list)
    orders: dict[int, OrderState] = field(default_factory=dict)
    traded_qty: int = 0


class Settlement:
    """Folds the events of one market's commands into effects, then writes them at once."""

    def __init__(
        self,
        market_id: int,
        orders: dict[int, OrderState],
        positions: dict[tuple[int, str], PositionState],
        amends: dict[int, int] | None = None,
    ) -> None:
        self.market_id = market_id
        # order id -> id of its latest AMEND command not yet applied: the API reserved for
        # it already, so that reservation stays until the amend itself is applied
        self.amends = amends or {}
        self.orders = orders
        self.positions = positions
        self.cash: dict[int, list[int]] = defaultdict(lambda: [0, 0])  # available, reserved
        self.collateral = 0
        self.pairs = 0
        self.journals: list[tuple[EntryKind, list[Leg]]] = []
        self.trade_legs: list[tuple[int, list[Leg]]] = []  # (seq, legs) for trade journals
        self.effects = BatchEffects(market_id)
        self.touched: set[int] = set()

    # ---------------------------------------------------------------- folding events

    def apply(self, events: list[Event], command_id: int = 0) -> None:
        """The events of one command (0: a timer, like expiry), in order; then release what
        touched orders no longer need to hold."""
        for event in events:
            kind = event[0]
            self.effects.last_seq = max(self.effects.last_seq, event[1])
            if kind == EventType.TRADE:
                self._trade(event)
            elif kind == EventType.ACCEPTED:
                self._set_status(event[2], OrderStatus.OPEN)
            elif kind == EventType.RESTED:
                order = self._order(event[2])
                order.queue_seq = event[1]
                if order.status is OrderStatus.PENDING:
                    order.status = OrderStatus.OPEN
            elif kind == EventType.CANCELLED:
                order = self._order(event[2])
                order.status = OrderStatus.CANCELLED
                order.reason = _CANCEL_REASON.get(CancelReason(event[4]), "cancelled")
            elif kind == EventType.EXPIRED:
                order = self._order(event[2])
                order.status = OrderStatus.EXPIRED
                order.reason = "reached its expiry time"
            elif kind == EventType.AMENDED:
                order = self._order(event[2])
                order.price, order.quantity = event[3], event[4]
            elif kind == EventType.REJECTED and event[2]:
                self._rejected(event[2], RejectReason(event[3]))
        for order_id in self.touched:
            order = self.orders[order_id]
            if self.amends.get(order_id, 0) > command_id and order.status not in _TERMINAL:
                continue  # an amend of it is still coming
            self._release_excess(order)
        self.touched.clear()

    def reject_pending(self, reason: str) -> None:
        """Refuse every loaded order the matcher has not seen yet (resolution does this, so
        that no late order keeps cash or shares reserved), releasing what they hold."""
        for order in self.orders.values():
            if order.status is OrderStatus.PENDING:
                order.status = OrderStatus.REJECTED
                order.reason = reason
                self._release_excess(order)

    def _order(self, order_id: int) -> OrderState:
        self.touched.add(order_id)
        return self.orders[order_id]

    def _set_status(self, order_id: int, status: OrderStatus) -> None:
        order = self._order(order_id)
        if order.status is OrderStatus.PENDING:
            order.status = status

    def _rejected(self, order_id: int, reason: RejectReason) -> None:
        order = self.orders.get(order_id)
        if order is None:
            return
        if order.status is OrderStatus.PENDING:  # the order itself was refused
            self.touched.add(order_id)
            order.status = OrderStatus.REJECTED
            order.reason = f"rejected by the matcher: {reason.name.lower().replace('_', ' ')}"
        else:  # a cancel or amend of it was refused; release what an amend reserved
            self.touched.add(order_id)

    def _trade(self, e: Event) -> None:
        (
            _,
            seq,
            yes_price,
            qty,
            kind,
            _aggressor,
            maker_id,
            maker_user,
            maker_outcome,
            maker_cash,
            maker_shares,
            _maker_rem,
            taker_id,
            taker_user,
            taker_outcome,
            taker_cash,
            taker_shares,
            _taker_rem,
        ) = e
        market = self.market_id
        legs: list[Leg] = []
        for order_id, user, outcome_code, cash, shares in (
            (maker_id, maker_user, maker_outcome, maker_cash, maker_shares),
            (taker_id, taker_user, taker_outcome, taker_cash, taker_shares),
        ):
            order = self._order(order_id)
            outcome = _OUTCOME[outcome_code]
            asset = Asset(outcome)
            order.filled += qty
            order.filled_cost += abs(cash)
            order.status = (
                OrderStatus.FILLED if order.remaining == 0 else OrderStatus.PARTIALLY_FILLED
            )
            position = self.positions.setdefault((user, outcome), PositionState())
            if cash > 0:  # a buyer pays from what its order reserved
                order.reserved_cash -= cash
                self.cash[user][1] -= cash
                legs.append(
                    Leg(LedgerAccount.USER_RESERVED, Asset.CASH, -cash, user, None, order_id)
                )
            elif cash < 0:  # a seller is paid into available cash
                self.cash[user][0] -= cash
                legs.append(
                    Leg(LedgerAccount.USER_AVAILABLE, Asset.CASH, -cash, user, None, order_id)
                )
            if shares > 0:
                position.d_available += shares
                position.d_cost += cash
                legs.append(
                    Leg(LedgerAccount.USER_AVAILABLE, asset, shares, user, market, order_id)
                )
            else:
                held = position.held
                removed = position.cost_basis + position.d_cost
                removed = removed if -shares >= held else removed * -shares // held
                position.d_reserved += shares
                position.d_cost -= removed
                position.d_realized += -cash - removed
                order.reserved_shares += shares
                legs.append(Leg(LedgerAccount.USER_RESERVED, asset, shares, user, market, order_id))
        pooled = maker_cash + taker_cash  # +100/pair on MINT, -100/pair on MERGE, else 0
        if pooled:
            self.collateral += pooled
            self.pairs += pooled // 100
            legs.append(Leg(LedgerAccount.MARKET_COLLATERAL, Asset.CASH, pooled, None, market))
            for outcome in ("YES", "NO"):  # shares come from (or go back to) the market
                legs.append(
                    Leg(
                        LedgerAccount.MARKET_ISSUANCE,
                        Asset(outcome),
                        -(pooled // 100),
                        None,
                        market,
                    )
                )
        self.trade_legs.append((seq, legs))
        self.effects.traded_qty += qty
        self.effects.trades.append(
            TradeRow(
                seq,
                _TRADE_KIND[TradeKind(kind)],
                yes_price,
                qty,
                maker_id,
                taker_id,
                maker_user,
                taker_user,
            )
        )

    def _release_excess(self, order: OrderState) -> None:
        cents, shares = order.held()
        spare_cash = order.reserved_cash - cents
        spare_shares = order.reserved_shares - shares
        if spare_cash < 0 or spare_shares < 0:
            raise AssertionError(
                f"order {order.id} holds less than it needs: {order.reserved_cash}¢ and "
                f"{order.reserved_shares} shares for {cents}¢ and {shares} shares"
            )
        legs: list[Leg] = []
        if spare_cash:
            order.reserved_cash -= spare_cash
            self.cash[order.user_id][0] += spare_cash
            self.cash[order.user_id][1] -= spare_cash
            legs += [
                Leg(
                    LedgerAccount.USER_RESERVED,
                    Asset.CASH,
                    -spare_cash,
                    order.user_id,
                    None,
                    order.id,
                ),
                Leg(
                    LedgerAccount.USER_AVAILABLE,
                    Asset.CASH,
                    spare_cash,
                    order.user_id,
                    None,
                    order.id,
                ),
            ]
        if spare_shares:
            order.reserved_shares -= spare_shares
            position = self.positions.setdefault((order.user_id, order.outcome), PositionState())
            position.d_reserved -= spare_shares
            position.d_available += spare_shares
            asset = Asset(order.outcome)
            legs += [
                Leg(
                    LedgerAccount.USER_RESERVED,
                    asset,
                    -spare_shares,
                    order.user_id,
                    self.market_id,
                    order.id,
                ),
                Leg(
                    LedgerAccount.USER_AVAILABLE,
                    asset,
                    spare_shares,
                    order.user_id,
                    self.market_id,
                    order.id,
                ),
            ]
        if legs:
            self.journals.append((EntryKind.RELEASE, legs))

    # ---------------------------------------------------------------- writing

    async def write(self, session: AsyncSession, command_ids: list[int]) -> BatchEffects:
        market = self.market_id
        trade_ids: dict[int, int] = {}
        if self.effects.trades:
            rows = (
                await session.execute(
                    text(
                        "INSERT INTO trades (market_id, seq, kind, yes_price, quantity,"
                        " maker_order_id, taker_order_id, maker_user_id, taker_user_id)"
                        " SELECT :market, t.seq, t.kind, t.yes_price, t.quantity,"
                        " t.maker_order_id, t.taker_order_id, t.maker_user_id, t.taker_user_id"
                        " FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS t(seq bigint,"
                        " kind text, yes_price int, quantity bigint, maker_order_id bigint,"
                        " taker_order_id bigint, maker_user_id bigint, taker_user_id bigint)"
                        " RETURNING seq, id"
                    ),
                    {
                        "market": market,
                        "rows": _json([_trade_json(t) for t in self.effects.trades]),
                    },
                )
            ).all()
            trade_ids = {int(seq): int(trade_id) for seq, trade_id in rows}
        journals = [
            (EntryKind.TRADE, [_with_trade(leg, trade_ids[seq]) for leg in legs])
            for seq, legs in self.trade_legs
        ]
        await post_journals(session, journals + self.journals)
        await self._write_orders(session)
        await self._write_cash(session)
        await self._write_positions(session)
        if self.collateral:
            await session.execute(
                text(
                    "UPDATE markets SET collateral = collateral + :c,"
                    " pairs_outstanding = pairs_outstanding + :p WHERE id = :m"
                ),
                {"c": self.collateral, "p": self.pairs, "m": market},
            )
        if self.effects.last_seq:
            await session.execute(
                text("UPDATE market_sequences SET seq = :s WHERE market_id = :m AND seq < :s"),
                {"s": self.effects.last_seq, "m": market},
            )
        if command_ids:
            await session.execute(
                text("UPDATE commands SET applied_at = now() WHERE id = ANY(:ids)"),
                {"ids": command_ids},
            )
        self.effects.orders = {o.id: o for o in self.orders.values()}
        return self.effects

    async def _write_orders(self, session: AsyncSession) -> None:
        if not self.orders:
            return
        rows = [
            {
                "id": o.id,
                "price": o.price,
                "quantity": o.quantity,
                "filled": o.filled,
                "filled_cost": o.filled_cost,
                "reserved_cash": o.reserved_cash,
                "reserved_shares": o.reserved_shares,
                "status": o.status.value,
                "reason": o.reason,
                "queue_seq": o.queue_seq,
            }
            for o in self.orders.values()
        ]
        await session.execute(
            text(
                "UPDATE orders SET price = r.price, quantity = r.quantity, filled = r.filled,"
                " filled_cost = r.filled_cost, reserved_cash = r.reserved_cash,"
                " reserved_shares = r.reserved_shares, status = r.status, reason = r.reason,"
                " queue_seq = r.queue_seq, updated_at = now()"
                " FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(id bigint, price int,"
                " quantity bigint, filled bigint, filled_cost bigint, reserved_cash bigint,"
                " reserved_shares bigint, status text, reason text, queue_seq bigint)"
                " WHERE orders.id = r.id"
            ),
            {"rows": _json(rows)},
        )

    async def _write_cash(self, session: AsyncSession) -> None:
        rows = [
            {"user_id": user, "available": a, "reserved": r}
            for user, (a, r) in sorted(self.cash.items())
            if a or r
        ]
        if rows:
            await session.execute(
                text(
                    "UPDATE accounts SET cash_available = cash_available + d.available,"
                    " cash_reserved = cash_reserved + d.reserved"
                    " FROM jsonb_to_recordset(CAST(:rows AS jsonb))"
                    " AS d(user_id bigint, available bigint, reserved bigint)"
                    " WHERE accounts.user_id = d.user_id"
                ),
                {"rows": _json(rows)},
            )

    async def _write_positions(self, session: AsyncSession) -> None:
        rows = [
            {
                "user_id": user,
                "outcome": outcome,
                "available": p.d_available,
                "reserved": p.d_reserved,
                "cost": p.d_cost,
                "realized": p.d_realized,
            }
            for (user, outcome), p in sorted(self.positions.items())
            if p.d_available or p.d_reserved or p.d_cost or p.d_realized
        ]
        if not rows:
            return
        deltas = {"m": self.market_id, "rows": _json(rows)}
        # New holders first get an empty row: a CHECK sees an INSERT's row before ON CONFLICT
        # could turn it into an update, so the deltas are applied by an UPDATE.
        await session.execute(
            text(
                "INSERT INTO positions (user_id, market_id, outcome)"
                " SELECT d.user_id, :m, d.outcome FROM jsonb_to_recordset(CAST(:rows AS jsonb))"
                " AS d(user_id bigint, outcome text) ORDER BY d.user_id, d.outcome"
                " ON CONFLICT DO NOTHING"
            ),
            deltas,
        )
        await session.execute(
            text(
                "UPDATE positions AS p SET shares_available = p.shares_available + d.available,"
                " shares_reserved = p.shares_reserved + d.reserved,"
                " cost_basis = p.cost_basis + d.cost, realized_pnl = p.realized_pnl + d.realized"
                " FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS d(user_id bigint,"
                " outcome text, available bigint, reserved bigint, cost bigint, realized bigint)"
                " WHERE p.user_id = d.user_id AND p.market_id = :m AND p.outcome = d.outcome"
            ),
            deltas,
        )


def _json(rows: Sequence[Mapping[str, object]]) -> str:
    return orjson.dumps(rows).decode()


def _trade_json(t: TradeRow) -> dict[str, object]:
    return {
        "seq": t.seq,
        "kind": t.kind,
        "yes_price": t.yes_price,
        "quantity": t.quantity,
        "maker_order_id": t.maker_order_id,
        "taker_order_id": t.taker_order_id,
        "maker_user_id": t.maker_user_id,
        "taker_user_id": t.taker_user_id,
    }


def _with_trade(leg: Leg, trade_id: int) -> Leg:
    return Leg(
        leg.account, leg.asset, leg.amount, leg.user_id, leg.market_id, leg.order_id, trade_id
    )


async def load(
    session: AsyncSession, market_id: int, order_ids: set[int], users: set[int]
) -> Settlement:
    """Lock what a batch will change, in a fixed order, and read the state it needs."""
    orders: dict[int, OrderState] = {}
    if order_ids:
        rows = await session.execute(
            text(
                "SELECT id, user_id, side, outcome, kind, price, quantity, filled, filled_cost,"
                " reserved_cash, reserved_shares, status, reason, queue_seq FROM orders"
                " WHERE id = ANY(:ids) ORDER BY id FOR UPDATE"
            ),
            {"ids": sorted(order_ids)},
        )
        for row in rows:
            order = OrderState(*row)
            order.status = OrderStatus(order.status)
            orders[order.id] = order
    users = users | {o.user_id for o in orders.values()}
    if users:
        await session.execute(
            text("SELECT 1 FROM accounts WHERE user_id = ANY(:u) ORDER BY user_id FOR UPDATE"),
            {"u": sorted(users)},
        )
    positions: dict[tuple[int, str], PositionState] = {}
    if users:
        rows = await session.execute(
            text(
                "SELECT user_id, outcome, shares_available, shares_reserved, cost_basis,"
                " realized_pnl FROM positions WHERE market_id = :m AND user_id = ANY(:u)"
                " ORDER BY user_id, outcome FOR UPDATE"
            ),
            {"m": market_id, "u": sorted(users)},
        )
        for user, outcome, available, reserved, cost, realized in rows:
            positions[(user, outcome)] = PositionState(available, reserved, cost, realized)
    amends: dict[int, int] = {}
    if orders:
        rows = await session.execute(
            text(
                "SELECT order_id, max(id) FROM commands WHERE kind = 'AMEND'"
                " AND applied_at IS NULL AND order_id = ANY(:ids) GROUP BY order_id"
            ),
            {"ids": sorted(orders)},
        )
        amends = {int(order_id): int(latest) for order_id, latest in rows}
    return Settlement(market_id, orders, positions, amends)


def touched_by(events: list[Event]) -> tuple[set[int], set[int]]:
    """The order ids and user ids a list of events speaks of."""
    orders: set[int] = set()
    users: set[int] = set()
    for e in events:
        kind = e[0]
        if kind == EventType.TRADE:
            orders.add(e[6])
            orders.add(e[12])
            users.add(e[7])
            users.add(e[13])
        elif kind in (
            EventType.ACCEPTED,
            EventType.RESTED,
            EventType.CANCELLED,
            EventType.EXPIRED,
            EventType.AMENDED,
        ) or (kind == EventType.REJECTED and e[2]):
            orders.add(e[2])
    return orders, users
