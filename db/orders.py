"""Order entry: what the API writes before the matcher sees an order, in the caller's
transaction, in few round trips (one read that locks, one write, the journal).

Reservations, which the matcher relies on exactly: a LIMIT BUY holds `price * quantity`
cents, a MARKET BUY its `budget`, any SELL `quantity` shares of its outcome. An amend that
needs more reserves the difference; nothing here ever releases (the matcher does).
Rows are locked in the matcher's order (orders, then accounts, then positions, each by key),
so order entry and settlement cannot deadlock.
"""

from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import orjson
from sqlalchemy import BigInteger, bindparam, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.enums import (
    Asset,
    EntryKind,
    LedgerAccount,
    MarketStatus,
    OrderKind,
    OrderStatus,
    Outcome,
    SelfTradePrevention,
    Side,
    TimeInForce,
)
from db.ledger import Leg, post_journal
from db.markets import effective_status
from db.models import Order

T = TypeVar("T")
_RETRIES = 3
_DEADLOCK, _SERIALIZATION, _UNIQUE = "40P01", "40001", "23505"
_CLIENT_ID_UNIQUE = "orders_client_order_id_per_user"

LIVE_STATUSES = (OrderStatus.PENDING, OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED)
_LIVE_SQL = "('PENDING', 'OPEN', 'PARTIALLY_FILLED')"


async def in_transaction(
    sessions: async_sessionmaker[AsyncSession], work: Callable[[AsyncSession], Awaitable[T]]
) -> T:
    """Run `work` in a transaction and commit it. A transaction that lost to a concurrent
    one is run again: a deadlock, or the same clientOrderId placed at the same instant (the
    second run finds the first's order and returns it)."""
    for attempt in range(_RETRIES):
        async with sessions() as session:
            try:
                result = await work(session)
                await session.commit()
            except DBAPIError as exc:
                if attempt + 1 == _RETRIES or not _lost_a_race(exc):
                    raise
                continue
            return result
    raise AssertionError("unreachable")


def _lost_a_race(exc: DBAPIError) -> bool:
    state = getattr(exc.orig, "sqlstate", None)
    if state == _UNIQUE:
        return _CLIENT_ID_UNIQUE in str(exc.orig)
    return state in (_DEADLOCK, _SERIALIZATION)


@dataclass(frozen=True, slots=True)
class NewOrder:
    """An order as the API accepted it: valid on its own, not yet checked against the
    market or the user's funds."""

    market_id: int
    side: Side
    outcome: Outcome
    kind: OrderKind
    time_in_force: TimeInForce
    post_only: bool
    stp: SelfTradePrevention
    price: int
    quantity: int
    budget: int | None = None
    expires_at: datetime | None = None
    client_order_id: str | None = None

    @property
    def cash(self) -> int:
        """Cents it reserves."""
        if self.side is Side.SELL:
            return 0
        if self.kind is OrderKind.MARKET:
            assert self.budget is not None
            return self.budget
        return self.price * self.quantity

    @property
    def shares(self) -> int:
        """Shares of its outcome it reserves."""
        return self.quantity if self.side is Side.SELL else 0

    def row(self) -> dict[str, object]:
        """Its `orders` columns (and reservations), JSON-ready for the write statements."""
        return {
            "market_id": self.market_id,
            "client_order_id": self.client_order_id,
            "side": self.side.value,
            "outcome": self.outcome.value,
            "kind": self.kind.value,
            "time_in_force": self.time_in_force.value,
            "post_only": self.post_only,
            "stp": self.stp.value,
            "price": self.price,
            "quantity": self.quantity,
            "budget": self.budget,
            "reserved_cash": self.cash,
            "reserved_shares": self.shares,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
        }


@dataclass(frozen=True, slots=True)
class Accepted:
    """The order exists: new (with the id of its PLACE command), or found by its client id."""

    order_id: int
    command_id: int | None  # None: an earlier order with the same clientOrderId


@dataclass(frozen=True, slots=True)
class MarketMissing:
    pass


@dataclass(frozen=True, slots=True)
class MarketNotOpen:
    status: MarketStatus


@dataclass(frozen=True, slots=True)
class TooLarge:
    limit: int


@dataclass(frozen=True, slots=True)
class Shortfall:
    asset: Asset
    available: int
    required: int


@dataclass(frozen=True, slots=True)
class RepeatedClientId:
    """The same clientOrderId twice in one batch."""


Placement = Accepted | MarketMissing | MarketNotOpen | TooLarge | Shortfall | RepeatedClientId

_LOOK = text(
    "SELECT"
    " (SELECT coalesce(json_agg(json_build_array(id, status, closes_at, max_order_qty)), '[]')"
    "    FROM markets WHERE id = ANY(CAST(:markets AS bigint[]))) AS markets,"
    " (SELECT coalesce(json_agg(json_build_array(client_order_id, id)), '[]')"
    "    FROM orders WHERE user_id = :user"
    "    AND client_order_id = ANY(CAST(:clients AS text[]))) AS existing,"
    " (SELECT cash_available FROM accounts WHERE user_id = :user AND :buys FOR UPDATE) AS cash,"
    " (SELECT coalesce(json_agg(json_build_array(p.market_id, p.outcome, p.shares_available)),"
    "    '[]') FROM (SELECT market_id, outcome, shares_available FROM positions"
    "    WHERE user_id = :user AND market_id = ANY(CAST(:sell_markets AS bigint[]))"
    "    ORDER BY market_id, outcome FOR UPDATE) AS p) AS shares,"
    " ARRAY(SELECT nextval('orders_id_seq') FROM generate_series(1, :n)) AS ids"
)

_WRITE = text(
    "WITH new_orders AS ("
    "  INSERT INTO orders (id, user_id, market_id, client_order_id, side, outcome, kind,"
    "   time_in_force, post_only, stp, price, quantity, budget, reserved_cash,"
    "   reserved_shares, expires_at, status)"
    "  SELECT r.id, :user, r.market_id, r.client_order_id, r.side, r.outcome, r.kind,"
    "   r.time_in_force, r.post_only, r.stp, r.price, r.quantity, r.budget, r.reserved_cash,"
    "   r.reserved_shares, r.expires_at, 'PENDING'"
    "  FROM jsonb_to_recordset(CAST(:orders AS jsonb)) AS r(id bigint, market_id bigint,"
    "   client_order_id text, side text, outcome text, kind text, time_in_force text,"
    "   post_only boolean, stp text, price integer, quantity bigint, budget bigint,"
    "   reserved_cash bigint, reserved_shares bigint, expires_at timestamptz)"
    "  RETURNING id, market_id),"
    " cash AS ("
    "  UPDATE accounts SET cash_available = cash_available - CAST(:cash AS bigint),"
    "   cash_reserved = cash_reserved + CAST(:cash AS bigint)"
    "  WHERE user_id = :user AND CAST(:cash AS bigint) > 0),"
    " shares AS ("
    "  UPDATE positions p SET shares_available = p.shares_available - s.quantity,"
    "   shares_reserved = p.shares_reserved + s.quantity"
    "  FROM jsonb_to_recordset(CAST(:shares AS jsonb)) AS s(market_id bigint, outcome text,"
    "   quantity bigint)"
    "  WHERE p.user_id = :user AND p.market_id = s.market_id AND p.outcome = s.outcome)"
    " INSERT INTO commands (market_id, kind, order_id, user_id, payload)"
    " SELECT market_id, 'PLACE', id, :user, '{}' FROM new_orders ORDER BY id"
    " RETURNING order_id, id"
)


async def place_orders(
    session: AsyncSession, user_id: int, wanted: Sequence[NewOrder], now: datetime
) -> list[Placement]:
    """Each order accepted or refused on its own; funds are checked cumulatively in the
    given order. An order whose clientOrderId the user already used is not placed again:
    the earlier one is returned."""
    if not wanted:
        return []
    clients = [w.client_order_id for w in wanted if w.client_order_id is not None]
    sells = sorted({w.market_id for w in wanted if w.side is Side.SELL})
    look = (
        await session.execute(
            _LOOK,
            {
                "user": user_id,
                "markets": sorted({w.market_id for w in wanted}),
                "clients": clients,
                "buys": any(w.side is Side.BUY for w in wanted),
                "sell_markets": sells,
                "n": len(wanted),
            },
        )
    ).one()
    markets = {
        row[0]: (effective_status(row[1], datetime.fromisoformat(row[2]), now), row[3])
        for row in look.markets
    }
    existing = {str(client): int(order_id) for client, order_id in look.existing}
    cash = int(look.cash or 0)
    shares: dict[tuple[int, str], int] = {(m, o): int(q) for m, o, q in look.shares}

    results: list[Placement] = []
    accepted: list[tuple[int, NewOrder]] = []
    cash_taken = 0
    shares_taken: dict[tuple[int, str], int] = defaultdict(int)
    seen_clients: set[str] = set()
    for order_id, order in zip(look.ids, wanted, strict=True):
        client = order.client_order_id
        if client is not None and client in seen_clients:
            results.append(RepeatedClientId())
            continue
        if client is not None:
            seen_clients.add(client)
            if client in existing:
                results.append(Accepted(existing[client], None))
                continue
        refusal = _refusal(order, markets, cash - cash_taken, shares, shares_taken)
        if refusal is not None:
            results.append(refusal)
            continue
        cash_taken += order.cash
        if order.shares:
            shares_taken[(order.market_id, order.outcome.value)] += order.shares
        accepted.append((order_id, order))
        results.append(Accepted(order_id, None))
    if not accepted:
        return results

    commands = await _write(session, user_id, accepted, cash_taken, shares_taken)
    return [
        Accepted(r.order_id, commands[r.order_id])
        if isinstance(r, Accepted) and r.order_id in commands
        else r
        for r in results
    ]


def _refusal(
    order: NewOrder,
    markets: dict[int, tuple[MarketStatus, int]],
    cash_left: int,
    shares: dict[tuple[int, str], int],
    shares_taken: dict[tuple[int, str], int],
) -> MarketMissing | MarketNotOpen | TooLarge | Shortfall | None:
    market = markets.get(order.market_id)
    if market is None:
        return MarketMissing()
    status, max_qty = market
    if status is not MarketStatus.OPEN:
        return MarketNotOpen(status)
    if order.quantity > max_qty:
        return TooLarge(max_qty)
    if order.cash > cash_left:
        return Shortfall(Asset.CASH, cash_left, order.cash)
    if order.shares:
        held = (order.market_id, order.outcome.value)
        left = shares.get(held, 0) - shares_taken[held]
        if order.shares > left:
            return Shortfall(Asset(order.outcome.value), left, order.shares)
    return None


async def _write(
    session: AsyncSession,
    user_id: int,
    accepted: list[tuple[int, NewOrder]],
    cash: int,
    shares: dict[tuple[int, str], int],
) -> dict[int, int]:
    """Insert the orders, move their reservations, queue their PLACE commands and journal
    it all; returns each order's command id."""
    rows = [{"id": order_id, **o.row()} for order_id, o in accepted]
    moved = [
        {"market_id": market_id, "outcome": outcome, "quantity": quantity}
        for (market_id, outcome), quantity in shares.items()
        if quantity
    ]
    written = await session.execute(
        _WRITE,
        {
            "user": user_id,
            "orders": orjson.dumps(rows).decode(),
            "cash": cash,
            "shares": orjson.dumps(moved).decode(),
        },
    )
    commands = {int(order_id): int(command_id) for order_id, command_id in written}
    legs: list[Leg] = []
    for order_id, o in accepted:
        legs += _reserve_legs(user_id, order_id, o.market_id, o.outcome, o.cash, o.shares)
    await post_journal(session, EntryKind.RESERVE, legs)
    return commands


def _reserve_legs(
    user_id: int, order_id: int, market_id: int, outcome: Outcome, cash: int, shares: int
) -> list[Leg]:
    if cash:
        return [
            Leg(LedgerAccount.USER_AVAILABLE, Asset.CASH, -cash, user_id, order_id=order_id),
            Leg(LedgerAccount.USER_RESERVED, Asset.CASH, cash, user_id, order_id=order_id),
        ]
    asset = Asset(outcome.value)
    return [
        Leg(LedgerAccount.USER_AVAILABLE, asset, -shares, user_id, market_id, order_id),
        Leg(LedgerAccount.USER_RESERVED, asset, shares, user_id, market_id, order_id),
    ]


@dataclass(frozen=True, slots=True)
class NoSuchOrder:
    """Missing, or another user's: the two are not told apart."""


@dataclass(frozen=True, slots=True)
class OrderOver:
    status: OrderStatus


@dataclass(frozen=True, slots=True)
class Requested:
    """A command was queued for the order's market."""

    order_id: int
    market_id: int
    command_id: int


_CANCEL = text(
    "WITH target AS (SELECT id, market_id, status FROM orders WHERE id = :id AND user_id = :user),"
    " queued AS (INSERT INTO commands (market_id, kind, order_id, user_id, payload)"
    f"  SELECT market_id, 'CANCEL', id, :user, '{{}}' FROM target WHERE status IN {_LIVE_SQL}"
    "  RETURNING id)"
    " SELECT target.market_id, target.status, queued.id FROM target LEFT JOIN queued ON true"
)


async def cancel_order(
    session: AsyncSession, user_id: int, order_id: int
) -> Requested | NoSuchOrder | OrderOver:
    """Queue a CANCEL for one of the user's live orders (the matcher releases what it holds)."""
    row = (await session.execute(_CANCEL, {"id": order_id, "user": user_id})).first()
    if row is None:
        return NoSuchOrder()
    market_id, status, command_id = row
    if command_id is None:
        return OrderOver(OrderStatus(status))
    return Requested(order_id, market_id, command_id)


@dataclass(frozen=True, slots=True)
class NotLimit:
    pass


@dataclass(frozen=True, slots=True)
class NotAboveFilled:
    filled: int


AmendOutcome = (
    Requested
    | NoSuchOrder
    | OrderOver
    | NotLimit
    | MarketNotOpen
    | TooLarge
    | NotAboveFilled
    | Shortfall
)

_AMENDED = text(
    "SELECT o.market_id, o.side, o.outcome, o.kind, o.status, o.price, o.quantity, o.filled,"
    " o.reserved_cash, o.reserved_shares, m.status AS market_status, m.closes_at,"
    " m.max_order_qty,"
    " (SELECT coalesce(json_agg(CAST(c.payload AS json) ORDER BY c.id), '[]') FROM commands c"
    "   WHERE c.market_id = o.market_id AND c.applied_at IS NULL AND c.order_id = o.id"
    "   AND c.kind = 'AMEND') AS pending"
    " FROM orders o JOIN markets m ON m.id = o.market_id"
    " WHERE o.id = :id AND o.user_id = :user FOR UPDATE OF o"
)


async def amend_order(
    session: AsyncSession,
    user_id: int,
    order_id: int,
    price: int | None,
    quantity: int | None,
    now: datetime,
) -> AmendOutcome:
    """Queue an AMEND of a live LIMIT order to `price` and/or a new total `quantity`,
    reserving first whatever more the amended order needs. The order is taken as it will be
    once the amends already queued for it are applied: each amend's reservation covers
    everything the matcher will have applied before it."""
    row = (await session.execute(_AMENDED, {"id": order_id, "user": user_id})).first()
    if row is None:
        return NoSuchOrder()
    if row.status not in LIVE_STATUSES:
        return OrderOver(OrderStatus(row.status))
    if row.kind != OrderKind.LIMIT:
        return NotLimit()
    status = effective_status(row.market_status, row.closes_at, now)
    if status is not MarketStatus.OPEN:
        return MarketNotOpen(status)
    new_price, new_quantity = row.price, row.quantity
    for queued in [*row.pending, {"new_price": price, "new_qty": quantity}]:
        new_price = queued.get("new_price") or new_price
        new_quantity = queued.get("new_qty") or new_quantity
    if new_quantity > row.max_order_qty:
        return TooLarge(row.max_order_qty)
    if new_quantity <= row.filled:
        return NotAboveFilled(row.filled)

    outcome = Outcome(row.outcome)
    remaining = new_quantity - row.filled
    if row.side == Side.BUY:
        extra_cash, extra_shares = new_price * remaining - row.reserved_cash, 0
    else:
        extra_cash, extra_shares = 0, remaining - row.reserved_shares
    if extra_cash > 0 or extra_shares > 0:
        short = await _reserve_more(
            session, user_id, order_id, row.market_id, outcome, extra_cash, extra_shares
        )
        if short is not None:
            return short
    # the Amend message's own field names: the matcher's sweeper re-sends it from this
    payload = orjson.dumps({"new_price": price, "new_qty": quantity}).decode()
    command_id = await queue_command(session, "AMEND", row.market_id, user_id, order_id, payload)
    return Requested(order_id, row.market_id, command_id)


_RESERVE_MORE = {
    "cash": text(
        "WITH taken AS (UPDATE accounts SET cash_available = cash_available - :amount,"
        "  cash_reserved = cash_reserved + :amount"
        "  WHERE user_id = :user AND cash_available >= :amount RETURNING user_id)"
        " UPDATE orders SET reserved_cash = reserved_cash + :amount, updated_at = now()"
        " WHERE id = :order AND EXISTS (SELECT FROM taken) RETURNING id"
    ).bindparams(bindparam("amount", type_=BigInteger)),
    "shares": text(
        "WITH taken AS (UPDATE positions SET shares_available = shares_available - :amount,"
        "  shares_reserved = shares_reserved + :amount"
        "  WHERE user_id = :user AND market_id = :market AND outcome = :outcome"
        "  AND shares_available >= :amount RETURNING user_id)"
        " UPDATE orders SET reserved_shares = reserved_shares + :amount, updated_at = now()"
        " WHERE id = :order AND EXISTS (SELECT FROM taken) RETURNING id"
    ).bindparams(bindparam("amount", type_=BigInteger)),
}
_AVAILABLE = {
    "cash": text("SELECT cash_available FROM accounts WHERE user_id = :user"),
    "shares": text(
        "SELECT shares_available FROM positions"
        " WHERE user_id = :user AND market_id = :market AND outcome = :outcome"
    ),
}


async def _reserve_more(
    session: AsyncSession,
    user_id: int,
    order_id: int,
    market_id: int,
    outcome: Outcome,
    cash: int,
    shares: int,
) -> Shortfall | None:
    """Move `cash` cents or `shares` shares more into the order's reservation, if available."""
    what, amount = ("cash", cash) if cash > 0 else ("shares", shares)
    where = {"user": user_id, "market": market_id, "outcome": outcome.value}
    taken = await session.execute(
        _RESERVE_MORE[what], {**where, "amount": amount, "order": order_id}
    )
    if taken.first() is None:
        available = (await session.execute(_AVAILABLE[what], where)).scalar()
        asset = Asset.CASH if what == "cash" else Asset(outcome.value)
        return Shortfall(asset, int(available or 0), amount)
    legs = _reserve_legs(user_id, order_id, market_id, outcome, max(cash, 0), max(shares, 0))
    await post_journal(session, EntryKind.RESERVE, legs)
    return None


async def queue_command(
    session: AsyncSession,
    kind: str,
    market_id: int,
    user_id: int | None,
    order_id: int | None,
    payload: str = "{}",
) -> int:
    """Queue one command for `market_id`'s matcher in the caller's transaction; its id.
    `payload` holds the message's own fields, as the sweeper's `command_from_row` reads them."""
    queued = await session.execute(
        text(
            "INSERT INTO commands (market_id, kind, order_id, user_id, payload)"
            " VALUES (:market, :kind, :order, :user, :payload) RETURNING id"
        ),
        {"market": market_id, "kind": kind, "order": order_id, "user": user_id, "payload": payload},
    )
    return int(queued.scalar_one())


@dataclass(frozen=True, slots=True)
class CancelAllRequested:
    order_ids: list[int]  # the user's live orders when it was asked
    commands: dict[int, int]  # market id -> CANCEL_ALL command id


_CANCEL_ALL = text(
    "WITH live AS (SELECT id, market_id FROM orders WHERE user_id = :user"
    f"  AND status IN {_LIVE_SQL}"
    "  AND (CAST(:market AS bigint) IS NULL OR market_id = :market)),"
    " queued AS (INSERT INTO commands (market_id, kind, user_id, payload)"
    "  SELECT DISTINCT market_id, 'CANCEL_ALL', :user, '{}' FROM live RETURNING market_id, id)"
    " SELECT (SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM live) AS orders,"
    "  (SELECT coalesce(json_agg(json_build_array(market_id, id)), '[]') FROM queued)"
    "  AS commands"
)


async def cancel_all_orders(
    session: AsyncSession, user_id: int, market_id: int | None
) -> CancelAllRequested:
    """One CANCEL_ALL per market where the user has live orders (only `market_id`'s, if
    given)."""
    row = (await session.execute(_CANCEL_ALL, {"user": user_id, "market": market_id})).one()
    return CancelAllRequested(
        order_ids=list(row.orders), commands={int(m): int(c) for m, c in row.commands}
    )


async def market_exists(session: AsyncSession, market_id: int) -> bool:
    found = await session.execute(text("SELECT 1 FROM markets WHERE id = :id"), {"id": market_id})
    return found.first() is not None


async def orders_by_ids(session: AsyncSession, user_id: int, ids: Sequence[int]) -> list[Order]:
    """The user's orders with these ids, in the order of `ids` (missing ones left out)."""
    if not ids:
        return []
    result = await session.execute(
        text("SELECT * FROM orders WHERE user_id = :user AND id = ANY(CAST(:ids AS bigint[]))"),
        {"user": user_id, "ids": list(ids)},
    )
    found: dict[int, Order] = {}
    for mapping in result.mappings():
        row: dict[str, Any] = dict(mapping)
        found[row["id"]] = Order(**row)
    return [found[i] for i in ids if i in found]


@dataclass(frozen=True, slots=True)
class Placed:
    """A new order written by `place_orders_at_once`, with what Postgres set on it."""

    order_id: int
    command_id: int
    created_at: datetime
    expires_at: datetime | None


# Order entry in one statement for several calls ("groups", one user each, each user in one
# group at most), each placed whole or not at all. It locks the accounts by key, then the
# positions by key (as `_LOOK` does); a group is placed if every market is open and takes the
# size, no clientOrderId was used before, and the user's cash and shares cover all its orders
# together. For each such group it inserts the orders, moves the reservations, queues the
# PLACE commands and writes one RESERVE journal (the ledger trigger checks that each
# balances); for any other group it writes nothing.
_AT_ONCE = (
    "WITH input AS MATERIALIZED ("
    "  SELECT * FROM jsonb_to_recordset(CAST(CAST($1 AS text) AS jsonb)) AS r(ord int, grp int,"
    "   user_id bigint, market_id bigint, client_order_id text, side text, outcome text,"
    "   kind text, time_in_force text, post_only boolean, stp text, price integer,"
    "   quantity bigint, budget bigint, reserved_cash bigint, reserved_shares bigint,"
    "   expires_at timestamptz)),"
    " grps AS MATERIALIZED ("
    "  SELECT * FROM jsonb_to_recordset(CAST(CAST($2 AS text) AS jsonb)) AS g(grp int,"
    "   user_id bigint, cash bigint, now timestamptz, clients text[])),"
    " need AS MATERIALIZED ("
    "  SELECT * FROM jsonb_to_recordset(CAST(CAST($3 AS text) AS jsonb)) AS s(user_id bigint,"
    "   market_id bigint, outcome text, quantity bigint)),"
    " acct AS MATERIALIZED ("
    "  SELECT user_id, cash_available FROM accounts"
    "  WHERE user_id = ANY(CAST($4 AS bigint[])) ORDER BY user_id FOR UPDATE),"
    # accounts first: the positions are read (and locked) only once the accounts are
    " pos AS MATERIALIZED ("
    "  SELECT p.user_id, p.market_id, p.outcome, p.shares_available FROM positions p"
    "  WHERE (SELECT count(*) FROM acct) >= 0"
    "  AND (p.user_id, p.market_id) IN (SELECT user_id, market_id FROM need)"
    "  ORDER BY p.user_id, p.market_id, p.outcome FOR UPDATE OF p),"
    " ok AS MATERIALIZED ("
    "  SELECT g.grp, g.user_id FROM grps g WHERE (SELECT count(*) FROM pos) >= 0"
    "   AND coalesce((SELECT a.cash_available FROM acct a WHERE a.user_id = g.user_id), 0)"
    "    >= g.cash"
    "   AND NOT EXISTS (SELECT FROM need LEFT JOIN pos ON pos.user_id = need.user_id"
    "    AND pos.market_id = need.market_id AND pos.outcome = need.outcome"
    "    WHERE need.user_id = g.user_id AND coalesce(pos.shares_available, 0) < need.quantity)"
    "   AND NOT EXISTS (SELECT FROM input i LEFT JOIN markets m ON m.id = i.market_id"
    "    WHERE i.grp = g.grp AND (m.id IS NULL OR m.status <> 'OPEN'"
    "    OR m.closes_at <= g.now OR i.quantity > m.max_order_qty))"
    "   AND NOT EXISTS (SELECT FROM orders o WHERE o.user_id = g.user_id"
    "    AND o.client_order_id = ANY(g.clients))),"
    " ids AS MATERIALIZED ("
    "  SELECT x.ord, nextval('orders_id_seq') AS id FROM (SELECT i.ord FROM input i"
    "   WHERE i.grp IN (SELECT grp FROM ok) ORDER BY i.ord) AS x),"
    " new_orders AS ("
    "  INSERT INTO orders (id, user_id, market_id, client_order_id, side, outcome, kind,"
    "   time_in_force, post_only, stp, price, quantity, budget, reserved_cash,"
    "   reserved_shares, expires_at, status)"
    "  SELECT ids.id, i.user_id, i.market_id, i.client_order_id, i.side, i.outcome, i.kind,"
    "   i.time_in_force, i.post_only, i.stp, i.price, i.quantity, i.budget, i.reserved_cash,"
    "   i.reserved_shares, i.expires_at, 'PENDING'"
    "  FROM input i JOIN ids ON ids.ord = i.ord"
    "  RETURNING id, user_id, market_id, created_at, expires_at),"
    " cash AS ("
    "  UPDATE accounts a SET cash_available = a.cash_available - g.cash,"
    "   cash_reserved = a.cash_reserved + g.cash"
    "  FROM grps g WHERE a.user_id = g.user_id AND g.cash > 0"
    "  AND g.grp IN (SELECT grp FROM ok)),"
    " shares AS ("
    "  UPDATE positions p SET shares_available = p.shares_available - s.quantity,"
    "   shares_reserved = p.shares_reserved + s.quantity"
    "  FROM need s WHERE p.user_id = s.user_id AND p.market_id = s.market_id"
    "  AND p.outcome = s.outcome AND s.user_id IN (SELECT user_id FROM ok)),"
    " journals AS MATERIALIZED ("
    "  SELECT grp, nextval('ledger_journal_seq') AS id FROM ok),"
    " ledger AS ("
    "  INSERT INTO ledger_entries (journal_id, kind, asset, account, user_id, market_id,"
    "   order_id, amount)"
    "  SELECT j.id, 'RESERVE', CASE WHEN i.reserved_cash > 0 THEN 'CASH' ELSE i.outcome END,"
    "   v.account, i.user_id, CASE WHEN i.reserved_cash > 0 THEN NULL ELSE i.market_id END,"
    "   ids.id,"
    "   v.sign * CASE WHEN i.reserved_cash > 0 THEN i.reserved_cash ELSE i.reserved_shares END"
    "  FROM input i JOIN ids ON ids.ord = i.ord JOIN journals j ON j.grp = i.grp,"
    "   (VALUES ('USER_AVAILABLE', -1), ('USER_RESERVED', 1)) AS v(account, sign)),"
    " queued AS ("
    "  INSERT INTO commands (market_id, kind, order_id, user_id, payload)"
    "  SELECT market_id, 'PLACE', id, user_id, '{}' FROM new_orders ORDER BY id"
    "  RETURNING order_id, id)"
    # one row of arrays in order id order, not a join: with no statistics on the CTEs, the
    # planner took a nested loop whose work grew with the square of the orders
    " SELECT (SELECT array_agg(ord ORDER BY id) FROM ids),"
    " (SELECT array_agg(id ORDER BY id) FROM new_orders),"
    " (SELECT array_agg(id ORDER BY order_id) FROM queued),"
    " (SELECT array_agg(created_at ORDER BY id) FROM new_orders),"
    " (SELECT array_agg(expires_at ORDER BY id) FROM new_orders)"
)

Group = tuple[int, Sequence[NewOrder], datetime]  # the user, the orders, the call's now


async def place_groups_at_once(conn: Any, groups: Sequence[Group]) -> list[list[Placed] | None]:
    """Each group (one user's call; no user twice) placed whole in one statement on the
    asyncpg connection `conn`, outside any transaction (the statement is its own), its
    orders in the order given; or None for a group when any of its orders would be refused
    or a clientOrderId of it was used already or twice: nothing is written for that group,
    and `place_orders` decides order by order. All None if the statement lost a race to a
    concurrent one (nothing written)."""
    if len({user for user, _, _ in groups}) != len(groups):
        raise ValueError("a user in two groups")
    rows: list[dict[str, Any]] = []
    heads: list[dict[str, Any]] = []
    needs: list[dict[str, Any]] = []
    buyers: list[int] = []
    where: dict[int, tuple[int, int]] = {}  # ord -> (group, index in group)
    eligible = [False] * len(groups)
    for grp, (user_id, wanted, now) in enumerate(groups):
        clients = [w.client_order_id for w in wanted if w.client_order_id is not None]
        if not wanted or len(set(clients)) != len(clients):
            continue
        eligible[grp] = True
        cash = 0
        need: dict[tuple[int, str], int] = defaultdict(int)
        for index, o in enumerate(wanted):
            where[len(rows)] = (grp, index)
            rows.append(
                {
                    "ord": len(rows),
                    "grp": grp,
                    "user_id": user_id,
                    **o.row(),
                }
            )
            cash += o.cash
            if o.shares:
                need[(o.market_id, o.outcome.value)] += o.shares
        if any(w.side is Side.BUY for w in wanted):
            buyers.append(user_id)
        heads.append(
            {
                "grp": grp,
                "user_id": user_id,
                "cash": cash,
                "now": now.isoformat(),
                "clients": clients,
            }
        )
        needs += [
            {"user_id": user_id, "market_id": m, "outcome": out, "quantity": q}
            for (m, out), q in need.items()
        ]
    results: list[list[Placed] | None] = [None] * len(groups)
    if not rows:
        return results
    try:
        found = await conn.fetchrow(
            _AT_ONCE,
            orjson.dumps(rows).decode(),
            orjson.dumps(heads).decode(),
            orjson.dumps(needs).decode(),
            sorted(buyers),
        )
    except Exception as exc:
        if _lost_a_race_raw(exc):
            return results
        raise
    placed: list[dict[int, Placed]] = [{} for _ in groups]
    for ord_, order_id, command_id, created_at, expires_at in zip(
        *(column or [] for column in found), strict=True
    ):
        grp, index = where[ord_]
        placed[grp][index] = Placed(order_id, command_id, created_at, expires_at)
    for grp, (_, wanted, _) in enumerate(groups):
        if not eligible[grp] or not placed[grp]:
            continue
        if len(placed[grp]) != len(wanted):
            raise AssertionError(f"placed {len(placed[grp])} of {len(wanted)} orders")
        results[grp] = [placed[grp][index] for index in range(len(wanted))]
    return results


async def place_orders_at_once(
    conn: Any, user_id: int, wanted: Sequence[NewOrder], now: datetime
) -> list[Placed] | None:
    """One call's orders placed whole in one statement, or None (nothing written): see
    `place_groups_at_once`."""
    [placed] = await place_groups_at_once(conn, [(user_id, wanted, now)])
    return placed


def _lost_a_race_raw(exc: Exception) -> bool:
    state = getattr(exc, "sqlstate", None)
    if state == _UNIQUE:
        return getattr(exc, "constraint_name", None) == _CLIENT_ID_UNIQUE or (
            _CLIENT_ID_UNIQUE in str(exc)
        )
    return state in (_DEADLOCK, _SERIALIZATION)
