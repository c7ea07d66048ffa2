import strawberry
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from auth.viewer import Viewer
from db import money
from db.audit import run_audit
from db.enums import EntryKind as EntryKindRow
from db.ledger import entries_of_user
from db.users import user_by_id
from resolvers.access import admin, session_user, signed_in
from resolvers.paging import PAGE_MAX, id_cursor, page_start, parse_id
from schema.common import (
    Cents,
    InsufficientFunds,
    InvalidInput,
    LimitExceeded,
    NotFound,
    PageInfo,
)
from schema.context import Context
from schema.money import (
    Account,
    AccountResult,
    AuditReport,
    AuditResult,
    CreditAccountResult,
    Credited,
    Deposited,
    DepositResult,
    LedgerConnection,
    LedgerEdge,
    LedgerEntry,
    LedgerResult,
    Withdrawn,
    WithdrawResult,
)

MAX_CREDIT = 10**12  # ten billion dollars: anything above is a typo


def _amount_problem(amount: int, limit: int = MAX_CREDIT) -> InvalidInput | None:
    if amount <= 0:
        return InvalidInput(
            message="The amount must be a positive number of cents.", field="amount"
        )
    if amount > limit:
        return InvalidInput(message=f"The amount may be at most {limit} cents.", field="amount")
    return None


async def _account(session: AsyncSession, user_id: int) -> Account:
    row = (
        await session.execute(
            text("SELECT cash_available, cash_reserved FROM accounts WHERE user_id = :u"),
            {"u": user_id},
        )
    ).first()
    return Account.from_balances(*(row or (0, 0)))


async def account(info: Info[Context, None]) -> AccountResult:
    viewer = signed_in(info)
    if not isinstance(viewer, Viewer):
        return viewer
    async with info.context.connections.sessions() as session:
        return await _account(session, viewer.user_id)


async def ledger(
    info: Info[Context, None], first: int = 20, after: str | None = None
) -> LedgerResult:
    viewer = signed_in(info)
    if not isinstance(viewer, Viewer):
        return viewer
    before = page_start(first, after, "ledger")
    if isinstance(before, InvalidInput):
        return before
    async with info.context.connections.sessions() as session:
        rows = await entries_of_user(session, viewer.user_id, before, first + 1)
    page = rows[:first]
    edges = [
        LedgerEdge(cursor=id_cursor("ledger", row.id or 0), node=LedgerEntry.from_model(row))
        for row in page
    ]
    return LedgerConnection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=len(rows) > first, end_cursor=edges[-1].cursor if edges else None
        ),
    )


async def deposit(info: Info[Context, None], amount: Cents) -> DepositResult:
    viewer = session_user(info)
    if not isinstance(viewer, Viewer):
        return viewer
    problem = _amount_problem(amount)
    if problem:
        return problem
    cap = info.context.connections.settings.faucet_daily_cap
    async with info.context.connections.sessions() as session:
        try:
            remaining = await money.faucet_deposit(
                session, viewer.user_id, amount, info.context.now, cap
            )
        except money.FaucetLimit as limit:
            return LimitExceeded(
                message=str(limit).capitalize() + ".",
                field="amount",
                limit=cap,
                remaining=limit.remaining,
            )
        await session.commit()
        balances = await _account(session, viewer.user_id)
    return Deposited(amount=amount, account=balances, remaining_today=Cents(remaining))


async def credit_account(
    info: Info[Context, None], user_id: strawberry.ID, amount: Cents
) -> CreditAccountResult:
    viewer = admin(info)
    if not isinstance(viewer, Viewer):
        return viewer
    problem = _amount_problem(amount)
    if problem:
        return problem
    user = parse_id(user_id)
    async with info.context.connections.sessions() as session:
        if user is None or await user_by_id(session, user) is None:
            return NotFound(message="No such user.", field="userId")
        await money.add_cash(session, user, amount, EntryKindRow.CREDIT)
        await session.commit()
        balances = await _account(session, user)
    return Credited(user_id=user_id, amount=amount, account=balances)


async def withdraw(info: Info[Context, None], amount: Cents) -> WithdrawResult:
    viewer = session_user(info)
    if not isinstance(viewer, Viewer):
        return viewer
    problem = _amount_problem(amount)
    if problem:
        return problem
    async with info.context.connections.sessions() as session:
        try:
            await money.remove_cash(session, viewer.user_id, amount)
        except money.InsufficientCash:
            await session.rollback()
            balances = await _account(session, viewer.user_id)
            return InsufficientFunds(
                message="Not enough available cash.",
                field="amount",
                available=balances.available,
                required=amount,
            )
        await session.commit()
        balances = await _account(session, viewer.user_id)
    return Withdrawn(amount=amount, account=balances)


async def audit(info: Info[Context, None]) -> AuditResult:
    viewer = admin(info)
    if not isinstance(viewer, Viewer):
        return viewer
    async with info.context.connections.sessions() as session:
        return AuditReport.from_report(await run_audit(session))


@strawberry.type
class MoneyQuery:
    account: AccountResult = strawberry.field(
        resolver=account, description="The signed-in user's cash balances."
    )
    ledger: LedgerResult = strawberry.field(
        resolver=ledger,
        description=f"The signed-in user's ledger entries, newest first (`first` 1..{PAGE_MAX}).",
    )
    audit: AuditResult = strawberry.field(
        resolver=audit, description="The conservation audit of all money (administrators)."
    )


@strawberry.type
class MoneyMutation:
    deposit: DepositResult = strawberry.mutation(
        resolver=deposit,
        description="Play money from the faucet, up to a daily cap per user (session only).",
    )
    withdraw: WithdrawResult = strawberry.mutation(
        resolver=withdraw, description="Take available cash out (session only)."
    )
    credit_account: CreditAccountResult = strawberry.mutation(
        resolver=credit_account, description="Add cash to any user's account (administrators)."
    )
