"""Cash in and out: balance and ledger move together, the audit proves it, and the database
itself refuses what would break the books."""

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from db.audit import run_audit
from db.enums import Asset, EntryKind, LedgerAccount
from db.ledger import Leg, UnbalancedJournal, post_journal
from db.money import InsufficientCash, add_cash, remove_cash
from tests.db.factories import insert_order, make_market, make_user


async def _cash(session: AsyncSession, user_id: int) -> tuple[int, int]:
    row = (
        await session.execute(
            text("SELECT cash_available, cash_reserved FROM accounts WHERE user_id = :u"),
            {"u": user_id},
        )
    ).one()
    return int(row[0]), int(row[1])


async def test_deposit_and_withdrawal_move_balance_and_ledger_together(
    session: AsyncSession,
) -> None:
    ada = await make_user(session, "ada")
    await add_cash(session, ada, 10_000)
    await add_cash(session, ada, 2_500)
    await remove_cash(session, ada, 4_000)
    await session.commit()

    assert await _cash(session, ada) == (8_500, 0)
    report = await run_audit(session)
    assert report.ok, report.discrepancies
    assert (report.deposits, report.withdrawals, report.users_cash) == (12_500, 4_000, 8_500)
    legs = (
        await session.execute(
            text("SELECT count(*), count(DISTINCT journal_id) FROM ledger_entries")
        )
    ).one()
    assert tuple(legs) == (6, 3)


async def test_withdrawal_beyond_available_is_refused_and_changes_nothing(
    session: AsyncSession,
) -> None:
    ada = await make_user(session, "ada")
    await add_cash(session, ada, 1_000)
    await session.commit()
    with pytest.raises(InsufficientCash):
        await remove_cash(session, ada, 1_001)
    await session.rollback()
    assert await _cash(session, ada) == (1_000, 0)
    assert (await run_audit(session)).ok


@pytest.mark.parametrize("amount", [0, -5])
async def test_non_positive_amounts_are_refused(session: AsyncSession, amount: int) -> None:
    ada = await make_user(session, "ada")
    with pytest.raises(ValueError, match="positive"):
        await add_cash(session, ada, amount)
    with pytest.raises(ValueError, match="positive"):
        await remove_cash(session, ada, amount)


async def test_audit_catches_a_balance_changed_behind_the_ledger(session: AsyncSession) -> None:
    ada = await make_user(session, "ada")
    await add_cash(session, ada, 1_000)
    await session.commit()
    await session.execute(text("UPDATE accounts SET cash_available = 1100"))
    report = await run_audit(session)
    await session.rollback()  # undo the tampering so the fixture's audit is exact again
    assert not report.ok
    assert any("cash not conserved" in p for p in report.discrepancies)
    assert any("ledger 1000/0, accounts 1100/0" in p for p in report.discrepancies)


async def test_audit_catches_a_ledger_leg_naming_what_does_not_exist(
    session: AsyncSession,
) -> None:
    """The ledger has no foreign keys (migration 0004): the audit checks what they did."""
    ada = await make_user(session, "ada")
    market = await make_market(session, ada)
    await post_journal(
        session,
        EntryKind.TRADE,
        [
            Leg(LedgerAccount.MARKET_ISSUANCE, Asset.YES, -5, market_id=market, order_id=10**9),
            Leg(LedgerAccount.MARKET_ISSUANCE, Asset.YES, 5, market_id=market + 1, trade_id=7),
        ],
    )
    report = await run_audit(session)
    await session.rollback()
    found = [p for p in report.discrepancies if p.startswith("ledger names what does not exist")]
    assert len(found) == 2
    assert found[0].endswith(f": order {10**9}")
    assert found[1].endswith(f": market {market + 1}, trade 7")


async def test_audit_catches_an_order_command_or_trade_naming_what_does_not_exist(
    session: AsyncSession,
) -> None:
    """Orders, commands and trades have no foreign keys (migration 0005): the audit checks
    what they did, and finds nothing to say of rows that name what exists."""
    ada = await make_user(session, "ada")
    market = await make_market(session, ada)
    await add_cash(session, ada, 1_000)
    good = await insert_order(session, market, ada, "BUY", "YES", 40, 5)
    ghost_user, ghost_market, ghost_order = ada + 1000, market + 1000, good + 1000
    ghost_maker, ghost_maker_order = ada + 2000, good + 2000
    stray = await insert_order(session, ghost_market, ghost_user, "SELL", "YES", 40, 5)
    names = {
        "m": market,
        "good": good,
        "u": ada,
        "ghost_m": ghost_market,
        "ghost_o": ghost_order,
        "ghost_u": ghost_user,
        "ghost_mo": ghost_maker_order,
        "ghost_mu": ghost_maker,
    }
    await session.execute(
        text(
            "INSERT INTO commands (market_id, kind, order_id, user_id, payload)"
            " VALUES (:m, 'PLACE', :good, :u, '{}'), (:m, 'HALT', NULL, NULL, '{}'),"
            " (:ghost_m, 'CANCEL', :ghost_o, :ghost_u, '{}')"
        ),
        names,
    )
    command = await session.scalar(text("SELECT max(id) FROM commands"))
    await session.execute(
        text(
            "INSERT INTO trades (market_id, seq, kind, yes_price, quantity, maker_order_id,"
            " taker_order_id, maker_user_id, taker_user_id)"
            " VALUES (:m, 1, 'MINT', 40, 1, :good, :good, :u, :u),"
            " (:ghost_m, 1, 'MINT', 40, 1, :ghost_mo, :ghost_o, :ghost_mu, :ghost_u)"
        ),
        names,
    )
    trade = await session.scalar(text("SELECT max(id) FROM trades"))
    report = await run_audit(session)
    await session.rollback()
    name = "order flow names what does not exist: "
    found = [p.removeprefix(name) for p in report.discrepancies if p.startswith(name)]
    assert sorted(found) == sorted(
        [
            f"command {command}: market {ghost_market}",
            f"command {command}: order {ghost_order}",
            f"command {command}: user {ghost_user}",
            f"order {stray}: market {ghost_market}",
            f"order {stray}: user {ghost_user}",
            f"trade {trade}: market {ghost_market}",
            f"trade {trade}: order {ghost_maker_order}",
            f"trade {trade}: order {ghost_order}",
            f"trade {trade}: user {ghost_maker}",
            f"trade {trade}: user {ghost_user}",
        ]
    )


async def test_audit_catches_shares_without_collateral(session: AsyncSession) -> None:
    ada = await make_user(session, "ada")
    market = await make_market(session, ada)
    await post_journal(
        session,
        EntryKind.TRADE,
        [
            Leg(LedgerAccount.MARKET_ISSUANCE, Asset.YES, -5, market_id=market),
            Leg(LedgerAccount.USER_AVAILABLE, Asset.YES, 5, user_id=ada, market_id=market),
        ],
    )
    await session.execute(
        text(
            "INSERT INTO positions (user_id, market_id, outcome, shares_available)"
            " VALUES (:u, :m, 'YES', 5)"
        ),
        {"u": ada, "m": market},
    )
    report = await run_audit(session)
    await session.rollback()
    assert [p for p in report.discrepancies if "collateral does not back" in p] == [
        f"collateral does not back the shares outstanding: market {market}: "
        "collateral 0, 100 x YES = 500, 100 x NO = 0"
    ]


async def test_an_unbalanced_journal_is_refused_in_python(session: AsyncSession) -> None:
    ada = await make_user(session, "ada")
    with pytest.raises(UnbalancedJournal):
        await post_journal(
            session,
            EntryKind.DEPOSIT,
            [Leg(LedgerAccount.USER_AVAILABLE, Asset.CASH, 100, user_id=ada)],
        )


async def test_an_unbalanced_journal_is_refused_by_the_database(session: AsyncSession) -> None:
    ada = await make_user(session, "ada")
    with pytest.raises(DBAPIError, match="does not balance"):
        await session.execute(
            text(
                "INSERT INTO ledger_entries (journal_id, kind, asset, account, user_id, amount)"
                " VALUES (1, 'DEPOSIT', 'CASH', 'USER_AVAILABLE', :u, 100)"
            ),
            {"u": ada},
        )
    await session.rollback()


@pytest.mark.parametrize(
    "statement", ["UPDATE ledger_entries SET amount = 1", "DELETE FROM ledger_entries"]
)
async def test_the_ledger_is_append_only(session: AsyncSession, statement: str) -> None:
    ada = await make_user(session, "ada")
    await add_cash(session, ada, 500)
    await session.commit()
    with pytest.raises(DBAPIError, match="append-only"):
        await session.execute(text(statement))
    await session.rollback()


@pytest.mark.parametrize(
    ("statement", "constraint"),
    [
        ("UPDATE accounts SET cash_available = -1", "cash_available_nonnegative"),
        ("UPDATE accounts SET cash_reserved = -1", "cash_reserved_nonnegative"),
        ("UPDATE markets SET collateral = 100", "collateral_backs_pairs"),
        ("UPDATE markets SET status = 'MAYBE'", "status_valid"),
        ("UPDATE markets SET status = 'RESOLVED'", "resolution_iff_resolved"),
    ],
)
async def test_the_database_guards_money_columns(
    session: AsyncSession, statement: str, constraint: str
) -> None:
    ada = await make_user(session, "ada")
    await make_market(session, ada)
    await add_cash(session, ada, 500)
    await session.commit()
    with pytest.raises(IntegrityError, match=constraint):
        await session.execute(text(statement))
    await session.rollback()


@pytest.mark.parametrize(
    ("values", "constraint"),
    [
        ("'BUY', 'YES', 'LIMIT', 0, 10", "price_in_range"),
        ("'BUY', 'YES', 'LIMIT', 100, 10", "price_in_range"),
        ("'BUY', 'YES', 'LIMIT', 50, 0", "quantity_positive"),
        ("'BUY', 'MAYBE', 'LIMIT', 50, 1", "outcome_valid"),
        ("'BUY', 'YES', 'MARKET', 50, 1", "market_buys_have_budget"),
    ],
)
async def test_the_database_guards_orders(
    session: AsyncSession, values: str, constraint: str
) -> None:
    ada = await make_user(session, "ada")
    market = await make_market(session, ada)
    with pytest.raises(IntegrityError, match=constraint):
        await session.execute(
            text(
                "INSERT INTO orders (user_id, market_id, side, outcome, kind, price, quantity,"
                f" time_in_force, post_only, stp, status) VALUES (:u, :m, {values},"
                " 'GTC', false, 'CANCEL_RESTING', 'PENDING')"
            ),
            {"u": ada, "m": market},
        )
    await session.rollback()
