"""Resolution pays out a closed market, once: 100¢ per winning share (50¢ per share, YES or
NO, when VOID), from the collateral that backed them. Every position's shares go back to the
market and its cost basis turns into realized PnL. The caller has already cancelled the
book in the same transaction; orders the matcher has not seen yet are refused here, so
nothing stays reserved."""

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from db import settlement
from db.enums import Asset, EntryKind, LedgerAccount
from db.ledger import Leg, post_journals

PAYOUT = {
    "YES": {"YES": 100, "NO": 0},
    "NO": {"YES": 0, "NO": 100},
    "VOID": {"YES": 50, "NO": 50},
}


class AlreadyResolved(ValueError):
    pass


async def lock_set(session: AsyncSession, market_id: int) -> tuple[set[int], set[int]]:
    """What resolving `market_id` changes, for `settlement.lock`: the orders the matcher has
    not seen yet, and the users holding its shares. Neither changes meanwhile: only the
    market's matcher settles its orders and shares."""
    pending = await session.scalars(
        text("SELECT id FROM orders WHERE market_id = :m AND status = 'PENDING'"),
        {"m": market_id},
    )
    holders = await session.scalars(
        text(
            "SELECT user_id FROM positions"
            " WHERE market_id = :m AND shares_available + shares_reserved > 0"
        ),
        {"m": market_id},
    )
    return {int(o) for o in pending}, {int(u) for u in holders}


async def resolve_market(session: AsyncSession, market_id: int, outcome: str) -> int:
    """Pay out `market_id` as `outcome` (YES, NO or VOID); returns the cents paid. Its rows
    are locked in the key order order entry and settlement use (orders, accounts,
    positions) before any is written; the market row only against other writers of it
    (NO KEY UPDATE: an order entry's reference to the market does not wait for it)."""
    status = await session.scalar(
        text("SELECT status FROM markets WHERE id = :m FOR NO KEY UPDATE"), {"m": market_id}
    )
    if status in ("RESOLVED", "VOIDED"):
        raise AlreadyResolved(f"market {market_id} is already {status}")
    pending, holders = await lock_set(session, market_id)
    await settlement.lock(session, {market_id}, pending, holders)
    late = await settlement.load(session, market_id, pending, set())
    late.reject_pending("the market was resolved before this order reached it")
    await late.write(session, [])
    rows = (
        await session.execute(
            text(
                "SELECT user_id, outcome, shares_available, shares_reserved"
                " FROM positions WHERE market_id = :m AND shares_available + shares_reserved > 0"
                " ORDER BY user_id, outcome FOR UPDATE"
            ),
            {"m": market_id},
        )
    ).all()
    prices = PAYOUT[outcome]
    journals: list[tuple[EntryKind, list[Leg]]] = []
    credits: list[dict[str, int]] = []
    paid_total = 0
    for user, side, available, reserved in rows:
        if reserved:
            raise ValueError(f"user {user} still has {reserved} {side} shares reserved")
        paid = available * prices[side]
        asset = Asset(side)
        legs = [
            Leg(LedgerAccount.USER_AVAILABLE, asset, -available, user, market_id),
            Leg(LedgerAccount.MARKET_ISSUANCE, asset, available, None, market_id),
        ]
        if paid:
            legs += [
                Leg(LedgerAccount.MARKET_COLLATERAL, Asset.CASH, -paid, None, market_id),
                Leg(LedgerAccount.USER_AVAILABLE, Asset.CASH, paid, user),
            ]
            credits.append({"user_id": user, "paid": paid})
        journals.append((EntryKind.PAYOUT, legs))
        paid_total += paid
    await post_journals(session, journals)
    await session.execute(
        text(
            "UPDATE positions SET realized_pnl = realized_pnl - cost_basis + shares_available"
            " * CASE outcome WHEN 'YES' THEN CAST(:p_yes AS bigint)"
            " ELSE CAST(:p_no AS bigint) END,"
            " shares_available = 0, cost_basis = 0 WHERE market_id = :m"
        ),
        {"m": market_id, "p_yes": prices["YES"], "p_no": prices["NO"]},
    )
    if credits:
        await session.execute(
            text(
                "UPDATE accounts SET cash_available = cash_available + d.paid"
                " FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS d(user_id bigint, paid bigint)"
                " WHERE accounts.user_id = d.user_id"
            ),
            {"rows": orjson.dumps(credits).decode()},
        )
    await session.execute(
        text(
            "UPDATE markets SET collateral = collateral - :paid, pairs_outstanding = 0,"
            " status = CASE WHEN :o = 'VOID' THEN 'VOIDED' ELSE 'RESOLVED' END,"
            " resolution = CASE WHEN :o = 'VOID' THEN NULL ELSE :o END, resolved_at = now()"
            " WHERE id = :m"
        ),
        {"paid": paid_total, "o": outcome, "m": market_id},
    )
    return paid_total
