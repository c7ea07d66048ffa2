"""Cash entering and leaving the exchange: the balance and its ledger journal move together,
in the caller's transaction."""

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from db.enums import Asset, EntryKind, LedgerAccount
from db.ledger import Leg, post_journal


class InsufficientCash(ValueError):
    pass


async def add_cash(
    session: AsyncSession, user_id: int, amount: int, kind: EntryKind = EntryKind.DEPOSIT
) -> int:
    """Bring `amount` cents from outside into the user's available cash; returns the journal."""
    if amount <= 0:
        raise ValueError("amount must be a positive number of cents")
    await session.execute(
        text(
            "INSERT INTO accounts (user_id, cash_available) VALUES (:user_id, :amount)"
            " ON CONFLICT (user_id) DO UPDATE"
            " SET cash_available = accounts.cash_available + EXCLUDED.cash_available"
        ),
        {"user_id": user_id, "amount": amount},
    )
    return await post_journal(
        session,
        kind,
        [
            Leg(LedgerAccount.EXTERNAL, Asset.CASH, -amount),
            Leg(LedgerAccount.USER_AVAILABLE, Asset.CASH, amount, user_id=user_id),
        ],
    )


async def remove_cash(session: AsyncSession, user_id: int, amount: int) -> int:
    """Send `amount` cents of the user's available cash out; refused beyond what is available."""
    if amount <= 0:
        raise ValueError("amount must be a positive number of cents")
    updated = await session.execute(
        text(
            "UPDATE accounts SET cash_available = cash_available - :amount"
            " WHERE user_id = :user_id AND cash_available >= :amount RETURNING cash_available"
        ),
        {"user_id": user_id, "amount": amount},
    )
    if updated.first() is None:
        raise InsufficientCash(f"user {user_id} has less than {amount} cents available")
    return await post_journal(
        session,
        EntryKind.WITHDRAWAL,
        [
            Leg(LedgerAccount.USER_AVAILABLE, Asset.CASH, -amount, user_id=user_id),
            Leg(LedgerAccount.EXTERNAL, Asset.CASH, amount),
        ],
    )
