"""Rows the money tests stand on, made as the API makes them."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from db.enums import Asset, EntryKind, LedgerAccount
from db.ledger import Leg, post_journal
from db.models import Market, User
from engine import OrderKind


async def make_user(session: AsyncSession, name: str = "ada") -> int:
    user = User(email=f"{name}@example.test", display_name=name)
    session.add(user)
    await session.commit()
    assert user.id is not None
    return user.id


async def make_market(session: AsyncSession, creator: int) -> int:
    market = Market(
        title="Will it rain?", closes_at=datetime.now(UTC) + timedelta(days=1), created_by=creator
    )
    session.add(market)
    await session.commit()
    assert market.id is not None
    return market.id


async def insert_order(
    session: AsyncSession,
    market: int,
    user: int,
    side: str,
    outcome: str,
    price: int,
    qty: int,
    kind: OrderKind = OrderKind.GTC,
    budget: int | None = None,
) -> int:
    """A PENDING order with its reservation and ledger journal, by the API's rule: a LIMIT
    BUY holds price x qty cents, a MARKET BUY its budget, a SELL its shares."""
    db_kind = "MARKET" if kind == OrderKind.MARKET else "LIMIT"
    tif = {OrderKind.IOC: "IOC", OrderKind.FOK: "FOK", OrderKind.GTD: "GTD"}.get(kind, "GTC")
    if db_kind == "MARKET":
        tif = "IOC"
    cash = (budget or price * qty) if side == "BUY" else 0
    shares = qty if side == "SELL" else 0
    order_id = (
        await session.execute(
            text(
                "INSERT INTO orders (user_id, market_id, side, outcome, kind,"
                " time_in_force, post_only, stp, price, quantity, budget, reserved_cash,"
                " reserved_shares, status, expires_at) VALUES (:u, :m, :side, :outcome,"
                " :kind, :tif, :post, 'CANCEL_RESTING', :price, :qty, :budget, :cash,"
                " :shares, 'PENDING', CASE WHEN :tif = 'GTD' THEN now() END)"
                " RETURNING id"
            ),
            {
                "u": user,
                "m": market,
                "side": side,
                "outcome": outcome,
                "kind": db_kind,
                "tif": tif,
                "post": kind == OrderKind.POST_ONLY,
                "price": price,
                "qty": qty,
                "budget": budget,
                "cash": cash,
                "shares": shares,
            },
        )
    ).scalar_one()
    if cash:
        await session.execute(
            text(
                "UPDATE accounts SET cash_available = cash_available - :c,"
                " cash_reserved = cash_reserved + :c WHERE user_id = :u"
            ),
            {"c": cash, "u": user},
        )
        legs = [
            Leg(LedgerAccount.USER_AVAILABLE, Asset.CASH, -cash, user, None, order_id),
            Leg(LedgerAccount.USER_RESERVED, Asset.CASH, cash, user, None, order_id),
        ]
        await post_journal(session, EntryKind.RESERVE, legs)
    if shares:
        await session.execute(
            text(
                "UPDATE positions SET shares_available = shares_available - :q,"
                " shares_reserved = shares_reserved + :q"
                " WHERE user_id = :u AND market_id = :m AND outcome = :o"
            ),
            {"q": shares, "u": user, "m": market, "o": outcome},
        )
        asset = Asset(outcome)
        legs = [
            Leg(LedgerAccount.USER_AVAILABLE, asset, -shares, user, market, order_id),
            Leg(LedgerAccount.USER_RESERVED, asset, shares, user, market, order_id),
        ]
        await post_journal(session, EntryKind.RESERVE, legs)

    return int(order_id)
