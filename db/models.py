"""SQLModel tables: the system of record. Money columns are integer cents or whole shares."""

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field, SQLModel

from db.enums import (
    Asset,
    CommandKind,
    EntryKind,
    LedgerAccount,
    MarketStatus,
    OrderKind,
    OrderStatus,
    Outcome,
    Role,
    SelfTradePrevention,
    Side,
    TimeInForce,
    TradeKind,
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def one_of(column: str, values: type[StrEnum], *, nullable: bool = False) -> CheckConstraint:
    allowed = ", ".join(f"'{v.value}'" for v in values)
    condition = f"{column} IN ({allowed})"
    if nullable:
        condition = f"{column} IS NULL OR {condition}"
    return CheckConstraint(condition, name=f"{column}_valid")


def timestamp_now() -> Any:
    return Field(
        default_factory=utcnow,
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


def bigint_fk(target: str, *, nullable: bool = False, index: bool = False) -> Any:
    return Field(
        sa_column=Column(BigInteger, ForeignKey(target), nullable=nullable, index=index),
    )


def cents(*, default: int = 0) -> Any:
    return Field(default=default, sa_type=BigInteger, sa_column_kwargs={"server_default": "0"})


class User(SQLModel, table=True):
    __tablename__ = "users"
    __table_args__ = (
        one_of("role", Role),
        Index("users_email_lower", text("lower(email)"), unique=True),
        CheckConstraint("length(email) BETWEEN 3 AND 254", name="email_length"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=BigInteger)
    email: str = Field(sa_type=Text)
    display_name: str = Field(sa_type=Text)
    password_hash: str | None = Field(default=None, sa_type=Text)
    oidc_subject: str | None = Field(default=None, sa_type=Text, unique=True)
    role: Role = Field(default=Role.USER, sa_type=Text)
    created_at: datetime = timestamp_now()


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_keys"

    id: int | None = Field(default=None, primary_key=True, sa_type=BigInteger)
    user_id: int = bigint_fk("users.id", index=True)
    name: str = Field(sa_type=Text)
    prefix: str = Field(sa_type=Text, description="the first characters, shown to the owner")
    key_hash: str = Field(sa_type=Text, unique=True, description="SHA-256 of the secret")
    scopes: list[str] = Field(sa_column=Column(ARRAY(Text), nullable=False))
    created_at: datetime = timestamp_now()
    last_used_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    revoked_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class RefreshToken(SQLModel, table=True):
    __tablename__ = "refresh_tokens"

    id: int | None = Field(default=None, primary_key=True, sa_type=BigInteger)
    user_id: int = bigint_fk("users.id", index=True)
    token_hash: str = Field(sa_type=Text, unique=True)
    family: str = Field(sa_type=Text, index=True, description="rotation chain; reuse revokes it")
    expires_at: datetime = Field(sa_type=DateTime(timezone=True))
    created_at: datetime = timestamp_now()
    revoked_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class Account(SQLModel, table=True):
    """A user's cash: a cache of the ledger, proven by the audit."""

    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint("cash_available >= 0", name="cash_available_nonnegative"),
        CheckConstraint("cash_reserved >= 0", name="cash_reserved_nonnegative"),
    )

    user_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey("users.id"), primary_key=True, autoincrement=False)
    )
    cash_available: int = cents()
    cash_reserved: int = cents()
    faucet_day: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    faucet_used: int = cents()


class Market(SQLModel, table=True):
    __tablename__ = "markets"
    __table_args__ = (
        one_of("status", MarketStatus),
        one_of("resolution", Outcome, nullable=True),
        CheckConstraint("collateral >= 0", name="collateral_nonnegative"),
        CheckConstraint("collateral = 100 * pairs_outstanding", name="collateral_backs_pairs"),
        CheckConstraint("max_order_qty > 0", name="max_order_qty_positive"),
        CheckConstraint("length(title) BETWEEN 1 AND 300", name="title_length"),
        CheckConstraint(
            "(status = 'RESOLVED') = (resolution IS NOT NULL)", name="resolution_iff_resolved"
        ),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=BigInteger)
    title: str = Field(sa_type=Text)
    description: str = Field(default="", sa_type=Text)
    rules: str = Field(default="", sa_type=Text)
    image_url: str | None = Field(default=None, sa_type=Text)
    category: str = Field(default="general", sa_type=Text, index=True)
    status: MarketStatus = Field(default=MarketStatus.OPEN, sa_type=Text, index=True)
    resolution: Outcome | None = Field(default=None, sa_type=Text)
    closes_at: datetime = Field(sa_type=DateTime(timezone=True))
    created_by: int = bigint_fk("users.id")
    created_at: datetime = timestamp_now()
    resolved_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    max_order_qty: int = Field(default=1_000_000, sa_type=BigInteger)
    collateral: int = cents()
    pairs_outstanding: int = cents()


class MarketSequence(SQLModel, table=True):
    """The last engine sequence number applied for a market (kept apart from hot reads)."""

    __tablename__ = "market_sequences"

    market_id: int = Field(
        sa_column=Column(
            BigInteger, ForeignKey("markets.id"), primary_key=True, autoincrement=False
        )
    )
    seq: int = Field(default=0, sa_type=BigInteger)


class Order(SQLModel, table=True):
    __tablename__ = "orders"
    __table_args__ = (
        one_of("side", Side),
        one_of("outcome", Outcome),
        one_of("kind", OrderKind),
        one_of("time_in_force", TimeInForce),
        one_of("status", OrderStatus),
        one_of("stp", SelfTradePrevention),
        UniqueConstraint("user_id", "client_order_id", name="orders_client_order_id_per_user"),
        CheckConstraint("price IS NULL OR price BETWEEN 1 AND 99", name="price_in_range"),
        CheckConstraint(
            "(kind = 'MARKET' AND side = 'BUY') = (budget IS NOT NULL)",
            name="market_buys_have_budget",
        ),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("filled >= 0 AND filled <= quantity", name="filled_within_quantity"),
        CheckConstraint("reserved_cash >= 0", name="reserved_cash_nonnegative"),
        CheckConstraint("reserved_shares >= 0", name="reserved_shares_nonnegative"),
        CheckConstraint("budget IS NULL OR budget > 0", name="budget_positive"),
        CheckConstraint(
            "(time_in_force = 'GTD') = (expires_at IS NOT NULL)", name="gtd_orders_expire"
        ),
        Index(
            "orders_open_by_market",
            "market_id",
            "id",
            postgresql_where=text("status IN ('PENDING', 'OPEN', 'PARTIALLY_FILLED')"),
        ),
        Index("orders_by_user", "user_id", "id"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=BigInteger)
    # orders, commands and trades name users, markets and orders without foreign keys
    # (migration 0005: their checks were a fifth of order entry's time in Postgres); the
    # audit proves the rows they name exist
    user_id: int = Field(sa_type=BigInteger)
    market_id: int = Field(sa_type=BigInteger)
    client_order_id: str | None = Field(default=None, sa_type=Text)
    side: Side = Field(sa_type=Text)
    outcome: Outcome = Field(sa_type=Text)
    kind: OrderKind = Field(default=OrderKind.LIMIT, sa_type=Text)
    time_in_force: TimeInForce = Field(default=TimeInForce.GTC, sa_type=Text)
    post_only: bool = False
    stp: SelfTradePrevention = Field(default=SelfTradePrevention.CANCEL_RESTING, sa_type=Text)
    price: int = Field(description="own-outcome cents: the limit, or a MARKET order's worst price")
    quantity: int = Field(sa_type=BigInteger, description="shares; for market buys the cap")
    budget: int | None = Field(default=None, sa_type=BigInteger, description="market buys, cents")
    filled: int = cents()
    filled_cost: int = cents()
    reserved_cash: int = cents()
    reserved_shares: int = cents()
    status: OrderStatus = Field(default=OrderStatus.PENDING, sa_type=Text)
    reason: str | None = Field(default=None, sa_type=Text, description="why cancelled/rejected")
    queue_seq: int | None = Field(
        default=None, sa_type=BigInteger, description="market seq at which it joined its queue"
    )
    expires_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    created_at: datetime = timestamp_now()
    updated_at: datetime = timestamp_now()


class Command(SQLModel, table=True):
    """A command for a market's matcher. Its id is what the applied-ids bitmap holds."""

    __tablename__ = "commands"
    __table_args__ = (
        one_of("kind", CommandKind),
        Index("commands_unapplied", "market_id", "id", postgresql_where=text("applied_at IS NULL")),
        Index(
            "commands_pending_amends",
            "order_id",
            postgresql_where=text("kind = 'AMEND' AND applied_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=BigInteger)
    market_id: int = Field(sa_type=BigInteger)
    kind: CommandKind = Field(sa_type=Text)
    order_id: int | None = Field(default=None, sa_type=BigInteger)
    user_id: int | None = Field(default=None, sa_type=BigInteger)
    payload: str = Field(default="{}", sa_type=Text, description="JSON arguments")
    created_at: datetime = timestamp_now()
    applied_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class Trade(SQLModel, table=True):
    __tablename__ = "trades"
    __table_args__ = (
        one_of("kind", TradeKind),
        UniqueConstraint("market_id", "seq", name="trades_one_per_market_seq"),
        CheckConstraint("yes_price BETWEEN 1 AND 99", name="yes_price_in_range"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        Index("trades_by_market", "market_id", "id"),
        Index("trades_by_maker", "maker_user_id", "id"),
        Index("trades_by_taker", "taker_user_id", "id"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=BigInteger)
    market_id: int = Field(sa_type=BigInteger)
    seq: int = Field(sa_type=BigInteger)
    kind: TradeKind = Field(sa_type=Text)
    yes_price: int
    quantity: int = Field(sa_type=BigInteger)
    maker_order_id: int = Field(sa_type=BigInteger)
    taker_order_id: int = Field(sa_type=BigInteger)
    maker_user_id: int = Field(sa_type=BigInteger)
    taker_user_id: int = Field(sa_type=BigInteger)
    created_at: datetime = timestamp_now()


class Position(SQLModel, table=True):
    """Shares a user holds in one outcome of one market, and what they cost."""

    __tablename__ = "positions"
    __table_args__ = (
        one_of("outcome", Outcome),
        CheckConstraint("shares_available >= 0", name="shares_available_nonnegative"),
        CheckConstraint("shares_reserved >= 0", name="shares_reserved_nonnegative"),
        CheckConstraint("cost_basis >= 0", name="cost_basis_nonnegative"),
    )

    user_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey("users.id"), primary_key=True, autoincrement=False)
    )
    market_id: int = Field(
        sa_column=Column(
            BigInteger, ForeignKey("markets.id"), primary_key=True, autoincrement=False
        )
    )
    outcome: Outcome = Field(sa_column=Column(Text, primary_key=True))
    shares_available: int = cents()
    shares_reserved: int = cents()
    cost_basis: int = cents()
    realized_pnl: int = cents()


class LedgerEntry(SQLModel, table=True):
    """One leg of a journal. Legs of a journal sum to zero per asset (a trigger proves it);
    rows are never updated or deleted (a trigger refuses it)."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        one_of("asset", Asset),
        one_of("account", LedgerAccount),
        one_of("kind", EntryKind),
        CheckConstraint("amount <> 0", name="amount_nonzero"),
        CheckConstraint(
            "(account IN ('USER_AVAILABLE', 'USER_RESERVED')) = (user_id IS NOT NULL)",
            name="user_accounts_name_user",
        ),
        CheckConstraint(
            "account NOT IN ('MARKET_COLLATERAL', 'MARKET_ISSUANCE') OR market_id IS NOT NULL",
            name="market_accounts_name_market",
        ),
        CheckConstraint("asset = 'CASH' OR market_id IS NOT NULL", name="shares_name_their_market"),
        Index("ledger_by_user", "user_id", "id"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=BigInteger)
    journal_id: int = Field(sa_type=BigInteger)
    kind: EntryKind = Field(sa_type=Text)
    asset: Asset = Field(sa_type=Text)
    account: LedgerAccount = Field(sa_type=Text)
    # The user, market, order and trade a leg names; no foreign keys (migration 0004: their
    # checks cost Postgres a tenth of its time per order), the audit proves they exist.
    user_id: int | None = Field(default=None, sa_type=BigInteger)
    market_id: int | None = Field(default=None, sa_type=BigInteger)
    order_id: int | None = Field(default=None, sa_type=BigInteger)
    trade_id: int | None = Field(default=None, sa_type=BigInteger)
    amount: int = Field(sa_type=BigInteger, description="signed: + into the account, - out")
    memo: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = timestamp_now()


class MatcherOffset(SQLModel, table=True):
    """The next Kafka offset to consume, committed with the effects of what came before it."""

    __tablename__ = "matcher_offsets"

    consumer_group: str = Field(sa_column=Column(Text, primary_key=True))
    topic: str = Field(sa_column=Column(Text, primary_key=True))
    partition: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    next_offset: int = Field(sa_type=BigInteger)
