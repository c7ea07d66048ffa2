"""Cash entering and leaving the exchange: the balance and its ledger journal move together,
in the caller's transaction."""

from datetime import UTC, datetime

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


class FaucetLimit(ValueError):
    def __init__(self, cap: int, remaining: int) -> None:
        super().__init__(f"the daily deposit cap is {cap} cents; {remaining} remain today")
        self.cap = cap
        self.remaining = remaining


async def faucet_deposit(
    session: AsyncSession, user_id: int, amount: int, now: datetime, cap: int
) -> int:
    """Play money, at most `cap` cents per user per UTC day; returns what remains today."""
    if amount <= 0:
        raise ValueError("amount must be a positive number of cents")
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    row = (
        await session.execute(
            text(
                "SELECT CASE WHEN faucet_day = :today THEN faucet_used ELSE 0 END"
                " FROM accounts WHERE user_id = :user_id FOR UPDATE"
            ),
            {"user_id": user_id, "today": today},
        )
    ).first()
    used = int(row[0]) if row else 0
    if used + amount > cap:
        raise FaucetLimit(cap, cap - used)
    await add_cash(session, user_id, amount, EntryKind.DEPOSIT)
    await session.execute(
        text("UPDATE accounts SET faucet_day = :today, faucet_used = :used WHERE user_id = :u"),
        {"today": today, "used": used + amount, "u": user_id},
    )
    return cap - used - amount
