"""Cash: balances, deposits, withdrawals, the ledger, the conservation audit."""

from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry

from db.audit import AuditReport as AuditRow
from db.models import LedgerEntry as LedgerRow
from schema.common import (
    Cents,
    Forbidden,
    InsufficientFunds,
    InvalidInput,
    LimitExceeded,
    NotAuthenticated,
    NotFound,
    PageInfo,
)


@strawberry.type(description="A user's cash, in cents.")
class Account:
    available: Cents = strawberry.field(description="Cash free to spend or withdraw.")
    reserved: Cents = strawberry.field(description="Cash held by open orders.")
    total: Cents = strawberry.field(description="available + reserved.")

    @classmethod
    def from_balances(cls, available: int, reserved: int) -> "Account":
        return cls(
            available=Cents(available), reserved=Cents(reserved), total=Cents(available + reserved)
        )


@strawberry.enum(description="What a ledger entry moves.")
class Asset(Enum):
    CASH = strawberry.enum_value("CASH", description="Cents.")
    YES = strawberry.enum_value("YES", description="YES shares of a market.")
    NO = strawberry.enum_value("NO", description="NO shares of a market.")


@strawberry.enum(description="Which of the user's balances a ledger entry changes.")
class Bucket(Enum):
    AVAILABLE = strawberry.enum_value("AVAILABLE", description="Free to use.")
    RESERVED = strawberry.enum_value("RESERVED", description="Held by open orders.")


@strawberry.enum(description="Why an entry was written.")
class EntryKind(Enum):
    DEPOSIT = strawberry.enum_value("DEPOSIT", description="Cash brought in (faucet).")
    WITHDRAWAL = strawberry.enum_value("WITHDRAWAL", description="Cash taken out.")
    CREDIT = strawberry.enum_value("CREDIT", description="Cash added by an administrator.")
    RESERVE = strawberry.enum_value("RESERVE", description="Held for an order.")
    RELEASE = strawberry.enum_value("RELEASE", description="Freed from an order.")
    TRADE = strawberry.enum_value("TRADE", description="Moved by a fill.")
    PAYOUT = strawberry.enum_value("PAYOUT", description="Paid at resolution.")


@strawberry.type(description="One movement of the user's cash or shares (one leg of a journal).")
class LedgerEntry:
    id: strawberry.ID = strawberry.field(description="The entry's id; ids only grow.")
    journal_id: strawberry.ID = strawberry.field(
        description="The journal this leg belongs to; the legs of a journal sum to zero."
    )
    kind: EntryKind = strawberry.field(description="Why it was written.")
    asset: Asset = strawberry.field(description="Cash, or YES/NO shares of `marketId`.")
    bucket: Bucket = strawberry.field(description="Available or reserved balance.")
    amount: Cents = strawberry.field(
        description="Signed change: cents for CASH, shares for YES/NO."
    )
    market_id: strawberry.ID | None = strawberry.field(description="The market, if any.")
    order_id: strawberry.ID | None = strawberry.field(description="The order, if any.")
    created_at: datetime = strawberry.field(description="When it was written.")

    @classmethod
    def from_model(cls, row: LedgerRow) -> "LedgerEntry":
        def ident(value: int | None) -> strawberry.ID | None:
            return None if value is None else strawberry.ID(str(value))

        return cls(
            id=strawberry.ID(str(row.id)),
            journal_id=strawberry.ID(str(row.journal_id)),
            kind=EntryKind(row.kind),
            asset=Asset(row.asset),
            bucket=Bucket.RESERVED if row.account == "USER_RESERVED" else Bucket.AVAILABLE,
            amount=Cents(row.amount),
            market_id=ident(row.market_id),
            order_id=ident(row.order_id),
            created_at=row.created_at,
        )


@strawberry.type(description="An edge of a ledger page.")
class LedgerEdge:
    cursor: str = strawberry.field(description="Opaque position of this entry.")
    node: LedgerEntry = strawberry.field(description="The entry.")


@strawberry.type(description="A page of the user's ledger, newest first.")
class LedgerConnection:
    edges: list[LedgerEdge] = strawberry.field(description="The entries of this page.")
    page_info: PageInfo = strawberry.field(description="Where the next page starts.")


@strawberry.type(description="Cash was added to the account.")
class Deposited:
    amount: Cents = strawberry.field(description="What was added.")
    account: Account = strawberry.field(description="The balances after it.")
    remaining_today: Cents = strawberry.field(description="What the faucet still allows today.")


@strawberry.type(description="An administrator credited a user's account.")
class Credited:
    user_id: strawberry.ID = strawberry.field(description="Who was credited.")
    amount: Cents = strawberry.field(description="What was added.")
    account: Account = strawberry.field(description="Their balances after it.")


@strawberry.type(description="Cash left the exchange.")
class Withdrawn:
    amount: Cents = strawberry.field(description="What was withdrawn.")
    account: Account = strawberry.field(description="The balances after it.")


@strawberry.type(description="The conservation audit of all money on the exchange.")
class AuditReport:
    ok: bool = strawberry.field(description="True when every check holds.")
    deposits: Cents = strawberry.field(description="All cash ever brought in.")
    withdrawals: Cents = strawberry.field(description="All cash ever taken out.")
    users_cash: Cents = strawberry.field(description="Users' available + reserved cash.")
    markets_collateral: Cents = strawberry.field(description="Cash locked behind shares.")
    discrepancies: list[str] = strawberry.field(description="Every check that failed, and how.")

    @classmethod
    def from_report(cls, report: AuditRow) -> "AuditReport":
        return cls(
            ok=report.ok,
            deposits=Cents(report.deposits),
            withdrawals=Cents(report.withdrawals),
            users_cash=Cents(report.users_cash),
            markets_collateral=Cents(report.markets_collateral),
            discrepancies=list(report.discrepancies),
        )


AccountResult = Annotated[
    Account | NotAuthenticated | Forbidden,
    strawberry.union("AccountResult", description="The balances, or why not."),
]
LedgerResult = Annotated[
    LedgerConnection | InvalidInput | NotAuthenticated | Forbidden,
    strawberry.union("LedgerResult", description="A page of the ledger, or why not."),
]
DepositResult = Annotated[
    Deposited | InvalidInput | LimitExceeded | NotAuthenticated | Forbidden,
    strawberry.union("DepositResult", description="The deposit, or why not."),
]
CreditAccountResult = Annotated[
    Credited | InvalidInput | NotFound | NotAuthenticated | Forbidden,
    strawberry.union("CreditAccountResult", description="The credit, or why not."),
]
WithdrawResult = Annotated[
    Withdrawn | InvalidInput | InsufficientFunds | NotAuthenticated | Forbidden,
    strawberry.union("WithdrawResult", description="The withdrawal, or why not."),
]
AuditResult = Annotated[
    AuditReport | NotAuthenticated | Forbidden,
    strawberry.union("AuditResult", description="The audit, or why not."),
]
