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
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from db.enums import Asset, EntryKind, LedgerAccount, OrderStatus
from db.ledger import Leg, check_balanced
from db.session import driver_of
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
    # each changed order's `updated_at`, and the cash (available, reserved) of every user
    # the batch locked, as committed: publishers need not read them again
    updated_at: dict[int, datetime] = field(default_factory=dict)
    accounts: dict[int, tuple[int, int]] = field(default_factory=dict)
    final: bool = True
    """False once something after `write` (a resolution's payouts) changed orders or cash in
    the same transaction: then `orders`, `updated_at` and `accounts` are not the committed
    state, and publishers read it from Postgres."""


class Settlement:
    """Folds the events of one market's commands into effects, then writes them at once."""

    def __init__(
        self,
        market_id: int,
        orders: dict[int, OrderState],
        positions: dict[tuple[int, str], PositionState],
        amends: dict[int, int] | None = None,
        accounts: dict[int, tuple[int, int]] | None = None,
    ) -> None:
        self.market_id = market_id
        self.accounts = accounts or {}  # cash (available, reserved) as loaded, locked
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
        """Everything the batch changed, in one statement (`_WRITE`) of the session's
        transaction: the matcher holds its locks for as few round trips as possible."""
        journals: list[tuple[EntryKind, list[Leg], int | None]] = [
            (EntryKind.TRADE, legs, seq) for seq, legs in self.trade_legs
        ]
        journals += [(kind, legs, None) for kind, legs in self.journals]
        for _, legs, _ in journals:
            check_balanced(legs)
        cash = [
            {"user_id": user, "available": a, "reserved": r}
            for user, (a, r) in sorted(self.cash.items())
            if a or r
        ]
        raw = await _driver(session)
        updated = await raw.fetch(
            _WRITE,
            self.market_id,
            _json([_trade_json(t) for t in self.effects.trades]),
            len(journals),
            _json(
                [
                    {"j": number, "trade_seq": seq, **leg.row(kind)}
                    for number, (kind, legs, seq) in enumerate(journals, start=1)
                    for leg in legs
                ]
            ),
            _json([_order_json(o) for o in self.orders.values()]),
            _json(cash),
            _json(
                [
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
            ),
            self.collateral,
            self.pairs,
            self.effects.last_seq,
            command_ids,
            sorted(self.orders),
            [row["user_id"] for row in cash],
        )
        self.effects.updated_at = {int(order_id): at for order_id, at in updated}
        self.effects.orders = {o.id: o for o in self.orders.values()}
        self.effects.accounts = {
            user: (available + self.cash[user][0], reserved + self.cash[user][1])
            if user in self.cash
            else (available, reserved)
            for user, (available, reserved) in self.accounts.items()
        }
        return self.effects


async def _driver(session: AsyncSession) -> Any:
    """The asyncpg connection under the session, inside the session's transaction.
    SQLAlchemy's asyncpg adapter sends BEGIN with its first statement, so when none has gone
    through the session yet one is sent here: a statement sent straight to asyncpg before
    that would commit on its own (and its row locks would be gone at once). (The matcher's
    batches begin their transaction on the driver themselves, their session's connection
    set to autocommit: `workers.matcher._batch`.)"""
    connection = await session.connection()
    driver = await driver_of(connection)
    if not driver.is_in_transaction():
        await connection.exec_driver_sql("SELECT 1")
        assert driver.is_in_transaction(), "an autocommit session must begin its transaction"
    return driver


def _jsonb(n: int) -> str:
    return f"CAST(CAST(${n} AS text) AS jsonb)"


# $1 market, $2 trades, $3 number of journals, $4 ledger legs ("j": the journal's number,
# "trade_seq": the seq of the trade a TRADE journal books), $5 orders, $6 cash deltas,
# $7 positions deltas, $8 collateral, $9 pairs, $10 last seq, $11 applied command ids, $12 the
# ids of $5's orders and $13 the users of $6's deltas (so that the plan finds those rows by key
# whatever the table's statistics said when it was made: a plan cached while `orders` was
# small scanned all of it for every batch). Every part sees the rows as they were before the
# statement; each table is written once.
# Position rows: the existing ones (locked by `load`) are updated, missing ones inserted.
_WRITE = (
    "WITH t AS (INSERT INTO trades (market_id, seq, kind, yes_price, quantity, maker_order_id,"
    "  taker_order_id, maker_user_id, taker_user_id)"
    "  SELECT $1, t.seq, t.kind, t.yes_price, t.quantity, t.maker_order_id, t.taker_order_id,"
    "   t.maker_user_id, t.taker_user_id"
    f"  FROM jsonb_to_recordset({_jsonb(2)}) AS t(seq bigint, kind text, yes_price int,"
    "   quantity bigint, maker_order_id bigint, taker_order_id bigint, maker_user_id bigint,"
    "   taker_user_id bigint)"
    "  RETURNING seq, id),"
    " j AS MATERIALIZED (SELECT n, nextval('ledger_journal_seq') AS id"
    "  FROM generate_series(1, $3) AS n ORDER BY n),"
    " l AS (INSERT INTO ledger_entries (journal_id, kind, asset, account, user_id, market_id,"
    "   order_id, trade_id, amount)"
    "  SELECT j.id, e.kind, e.asset, e.account, e.user_id, e.market_id, e.order_id,"
    "   coalesce(t.id, e.trade_id), e.amount"
    f"  FROM jsonb_to_recordset({_jsonb(4)}) AS e(j int, kind text, asset text, account text,"
    "   user_id bigint, market_id bigint, order_id bigint, trade_id bigint, trade_seq bigint,"
    "   amount bigint)"
    "  JOIN j ON j.n = e.j LEFT JOIN t ON t.seq = e.trade_seq),"
    " o AS (UPDATE orders SET price = r.price, quantity = r.quantity, filled = r.filled,"
    "   filled_cost = r.filled_cost, reserved_cash = r.reserved_cash,"
    "   reserved_shares = r.reserved_shares, status = r.status, reason = r.reason,"
    "   queue_seq = r.queue_seq, updated_at = now()"
    f"  FROM jsonb_to_recordset({_jsonb(5)}) AS r(id bigint, price int, quantity bigint,"
    "   filled bigint, filled_cost bigint, reserved_cash bigint, reserved_shares bigint,"
    "   status text, reason text, queue_seq bigint)"
    "  WHERE orders.id = r.id AND orders.id = ANY(CAST($12 AS bigint[]))"
    "  RETURNING orders.id, orders.updated_at),"
    " c AS (UPDATE accounts SET cash_available = cash_available + d.available,"
    "   cash_reserved = cash_reserved + d.reserved"
    f"  FROM jsonb_to_recordset({_jsonb(6)}) AS d(user_id bigint, available bigint,"
    "   reserved bigint)"
    "  WHERE accounts.user_id = d.user_id AND accounts.user_id = ANY(CAST($13 AS bigint[]))),"
    f" pd AS MATERIALIZED (SELECT * FROM jsonb_to_recordset({_jsonb(7)}) AS d(user_id bigint,"
    "   outcome text, available bigint, reserved bigint, cost bigint, realized bigint)),"
    " pu AS (UPDATE positions AS p SET shares_available = p.shares_available + d.available,"
    "   shares_reserved = p.shares_reserved + d.reserved, cost_basis = p.cost_basis + d.cost,"
    "   realized_pnl = p.realized_pnl + d.realized"
    "  FROM pd d WHERE p.user_id = d.user_id AND p.market_id = $1 AND p.outcome = d.outcome),"
    " pi AS (INSERT INTO positions (user_id, market_id, outcome, shares_available,"
    "   shares_reserved, cost_basis, realized_pnl)"
    "  SELECT d.user_id, $1, d.outcome, d.available, d.reserved, d.cost, d.realized FROM pd d"
    "  WHERE NOT EXISTS (SELECT FROM positions q WHERE q.user_id = d.user_id"
    "   AND q.market_id = $1 AND q.outcome = d.outcome)"
    "  ORDER BY d.user_id, d.outcome),"
    " m AS (UPDATE markets SET collateral = collateral + $8, pairs_outstanding ="
    "   pairs_outstanding + $9 WHERE id = $1 AND ($8 <> 0 OR $9 <> 0)),"
    " s AS (UPDATE market_sequences SET seq = $10 WHERE market_id = $1 AND seq < $10),"
    " a AS (UPDATE commands SET applied_at = now() WHERE id = ANY(CAST($11 AS bigint[])))"
    " SELECT id, updated_at FROM o"
)


def _json(rows: Sequence[Mapping[str, object]]) -> str:
    return orjson.dumps(rows).decode()


def _order_json(o: OrderState) -> dict[str, object]:
    return {
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


# $1 market ids, $2 order ids, $3 user ids: `_LOAD`'s locks for several markets at once.
_LOCK = (
    "WITH o AS MATERIALIZED (SELECT id, user_id FROM orders"
    "  WHERE id = ANY(CAST($2 AS bigint[])) ORDER BY id FOR UPDATE),"
    " u AS MATERIALIZED (SELECT unnest(CAST($3 AS bigint[])) AS user_id"
    "  UNION SELECT user_id FROM o),"
    " a AS MATERIALIZED (SELECT user_id FROM accounts"
    "  WHERE user_id IN (SELECT user_id FROM u) ORDER BY user_id FOR UPDATE),"
    " p AS MATERIALIZED (SELECT user_id FROM positions WHERE (SELECT count(*) FROM a) >= 0"
    "  AND market_id = ANY(CAST($1 AS bigint[])) AND user_id IN (SELECT user_id FROM u)"
    "  ORDER BY user_id, market_id, outcome FOR UPDATE)"
    " SELECT count(*) FROM p"
)


async def lock(
    session: AsyncSession, market_ids: set[int], order_ids: set[int], users: set[int]
) -> None:
    """Take, in the fixed order, the locks that `load` takes market by market, for a batch
    of several markets: held together by one transaction, each market's own (sorted) locks
    taken one market after another would not be in one order across the batch, and an order
    entry or another matcher locking the same accounts in key order could deadlock with it."""
    raw = await _driver(session)
    await raw.fetchval(_LOCK, sorted(market_ids), sorted(order_ids), sorted(users))


async def load(
    session: AsyncSession, market_id: int, order_ids: set[int], users: set[int]
) -> Settlement:
    """Lock what a batch will change, in a fixed order (orders, then the accounts of their
    owners and of `users`, then those users' positions in the market, each by key), and read
    the state it needs: one statement (`_LOAD`) of the session's transaction."""
    raw = await _driver(session)
    found = await raw.fetchrow(_LOAD, market_id, sorted(order_ids), sorted(users))
    orders: dict[int, OrderState] = {}
    for row in orjson.loads(found[0]):
        order = OrderState(*row)
        order.status = OrderStatus(order.status)
        orders[order.id] = order
    accounts = {int(user): (int(a), int(r)) for user, a, r in orjson.loads(found[1])}
    positions = {
        (user, outcome): PositionState(available, reserved, cost, realized)
        for user, outcome, available, reserved, cost, realized in orjson.loads(found[2])
    }
    amends = {int(order_id): int(latest) for order_id, latest in orjson.loads(found[3])}
    return Settlement(market_id, orders, positions, amends, accounts)


# $1 market, $2 order ids, $3 user ids; four JSON arrays (as text) back. A materialized CTE
# runs when first read: `u` reads `o`, `a` reads `u`, `p` reads `a`, so the locks are taken
# in that order whatever the plan.
_LOAD = (
    "WITH o AS MATERIALIZED (SELECT id, user_id, side, outcome, kind, price, quantity, filled,"
    "  filled_cost, reserved_cash, reserved_shares, status, reason, queue_seq FROM orders"
    "  WHERE id = ANY(CAST($2 AS bigint[])) ORDER BY id FOR UPDATE),"
    " u AS MATERIALIZED (SELECT unnest(CAST($3 AS bigint[])) AS user_id"
    "  UNION SELECT user_id FROM o),"
    " a AS MATERIALIZED (SELECT user_id, cash_available, cash_reserved FROM accounts"
    "  WHERE user_id IN (SELECT user_id FROM u) ORDER BY user_id FOR UPDATE),"
    " p AS MATERIALIZED (SELECT user_id, outcome, shares_available, shares_reserved,"
    "  cost_basis, realized_pnl FROM positions WHERE (SELECT count(*) FROM a) >= 0"
    "  AND market_id = $1 AND user_id IN (SELECT user_id FROM u)"
    "  ORDER BY user_id, outcome FOR UPDATE),"
    " am AS (SELECT order_id, max(id) AS latest FROM commands WHERE kind = 'AMEND'"
    "  AND applied_at IS NULL AND order_id IN (SELECT id FROM o) GROUP BY order_id)"
    " SELECT"
    " (SELECT CAST(coalesce(jsonb_agg(jsonb_build_array(id, user_id, side, outcome, kind, price,"
    "  quantity, filled, filled_cost, reserved_cash, reserved_shares, status, reason,"
    "  queue_seq) ORDER BY id), '[]') AS text) FROM o),"
    " (SELECT CAST(coalesce(jsonb_agg(jsonb_build_array(user_id, cash_available,"
    "  cash_reserved)), '[]') AS text) FROM a),"
    " (SELECT CAST(coalesce(jsonb_agg(jsonb_build_array(user_id, outcome, shares_available,"
    "  shares_reserved, cost_basis, realized_pnl)), '[]') AS text) FROM p),"
    " (SELECT CAST(coalesce(jsonb_agg(jsonb_build_array(order_id, latest)), '[]') AS text)"
    "  FROM am)"
)


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
