"""Order entry in the database: each order reserves exactly what the matcher expects, with a
balanced journal and a command row; refusals write nothing; client ids make retries safe."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from db import orders
from db.audit import run_audit
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
from db.money import add_cash
from tests.db.factories import make_market, make_user


def _limit(
    market: int,
    side: Side = Side.BUY,
    outcome: Outcome = Outcome.YES,
    price: int = 40,
    quantity: int = 10,
    client: str | None = None,
) -> orders.NewOrder:
    return orders.NewOrder(
        market_id=market,
        side=side,
        outcome=outcome,
        kind=OrderKind.LIMIT,
        time_in_force=TimeInForce.GTC,
        post_only=False,
        stp=SelfTradePrevention.CANCEL_RESTING,
        price=price,
        quantity=quantity,
        client_order_id=client,
    )


async def _balances(session: AsyncSession, user: int) -> tuple[int, int]:
    row = (
        await session.execute(
            text("SELECT cash_available, cash_reserved FROM accounts WHERE user_id = :u"),
            {"u": user},
        )
    ).one()
    return int(row[0]), int(row[1])


async def _shares(session: AsyncSession, user: int, market: int, outcome: str) -> tuple[int, int]:
    row = (
        await session.execute(
            text(
                "SELECT shares_available, shares_reserved FROM positions"
                " WHERE user_id = :u AND market_id = :m AND outcome = :o"
            ),
            {"u": user, "m": market, "o": outcome},
        )
    ).one()
    return int(row[0]), int(row[1])


async def _count(session: AsyncSession, table: str) -> int:
    return int((await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())


async def _give_shares(
    session: AsyncSession, user: int, market: int, outcome: Outcome, shares: int
) -> None:
    """Shares from the market's issuance, backed by collateral paid from outside (a
    ledger-consistent shortcut: both outcomes are issued, the other to nobody's loss)."""
    other = Outcome.NO if outcome is Outcome.YES else Outcome.YES
    await post_journal(
        session,
        EntryKind.CREDIT,
        [
            Leg(LedgerAccount.EXTERNAL, Asset.CASH, -100 * shares),
            Leg(LedgerAccount.MARKET_COLLATERAL, Asset.CASH, 100 * shares, market_id=market),
            Leg(LedgerAccount.MARKET_ISSUANCE, Asset(outcome.value), -shares, market_id=market),
            Leg(LedgerAccount.USER_AVAILABLE, Asset(outcome.value), shares, user, market),
            Leg(LedgerAccount.MARKET_ISSUANCE, Asset(other.value), -shares, market_id=market),
            Leg(LedgerAccount.USER_AVAILABLE, Asset(other.value), shares, user, market),
        ],
    )
    for held in (outcome, other):
        await session.execute(
            text(
                "INSERT INTO positions (user_id, market_id, outcome, shares_available)"
                " VALUES (:u, :m, :o, :s)"
            ),
            {"u": user, "m": market, "o": held.value, "s": shares},
        )
    await session.execute(
        text(
            "UPDATE markets SET collateral = collateral + :c,"
            " pairs_outstanding = pairs_outstanding + :s WHERE id = :m"
        ),
        {"c": 100 * shares, "s": shares, "m": market},
    )


async def _audit_ok(session: AsyncSession) -> None:
    report = await run_audit(session)
    assert report.ok, report.discrepancies


async def test_a_limit_buy_reserves_price_times_quantity(session: AsyncSession) -> None:
    ada = await make_user(session, "ada")
    market = await make_market(session, ada)
    await add_cash(session, ada, 1_000)
    await session.commit()

    [placed] = await orders.place_orders(
        session, ada, [_limit(market, price=40, quantity=10)], datetime.now(UTC)
    )
    await session.commit()

    assert isinstance(placed, orders.Accepted)
    assert placed.command_id is not None
    assert await _balances(session, ada) == (600, 400)
    [row] = await orders.orders_by_ids(session, ada, [placed.order_id])
    assert (row.status, row.reserved_cash, row.reserved_shares) == (OrderStatus.PENDING, 400, 0)
    command = (
        await session.execute(
            text("SELECT kind, order_id, user_id, market_id FROM commands WHERE id = :c"),
            {"c": placed.command_id},
        )
    ).one()
    assert tuple(command) == ("PLACE", placed.order_id, ada, market)
    await _audit_ok(session)


async def _setup(session: AsyncSession, cash: int = 10_000) -> tuple[int, int]:
    ada = await make_user(session, "ada")
    market = await make_market(session, ada)
    await add_cash(session, ada, cash)
    await session.commit()
    return ada, market


async def _place(
    session: AsyncSession, user: int, *wanted: orders.NewOrder
) -> list[orders.Placement]:
    placed = await orders.place_orders(session, user, list(wanted), datetime.now(UTC))
    await session.commit()
    return placed


async def _legs(session: AsyncSession, order: int) -> list[tuple[str, str, str, int, int | None]]:
    rows = await session.execute(
        text(
            "SELECT kind, asset, account, amount, market_id FROM ledger_entries"
            " WHERE order_id = :o ORDER BY id"
        ),
        {"o": order},
    )
    return [tuple(row) for row in rows]


async def test_a_market_buy_reserves_its_budget(session: AsyncSession) -> None:
    ada, market = await _setup(session)
    wanted = orders.NewOrder(
        market_id=market,
        side=Side.BUY,
        outcome=Outcome.NO,
        kind=OrderKind.MARKET,
        time_in_force=TimeInForce.IOC,
        post_only=False,
        stp=SelfTradePrevention.CANCEL_TAKER,
        price=90,
        quantity=1_000,
        budget=2_500,
    )
    [placed] = await _place(session, ada, wanted)
    assert isinstance(placed, orders.Accepted)
    assert await _balances(session, ada) == (7_500, 2_500)
    assert await _legs(session, placed.order_id) == [
        ("RESERVE", "CASH", "USER_AVAILABLE", -2_500, None),
        ("RESERVE", "CASH", "USER_RESERVED", 2_500, None),
    ]
    [row] = await orders.orders_by_ids(session, ada, [placed.order_id])
    assert (row.kind, row.time_in_force, row.budget, row.reserved_cash, row.stp) == (
        OrderKind.MARKET,
        TimeInForce.IOC,
        2_500,
        2_500,
        SelfTradePrevention.CANCEL_TAKER,
    )
    await _audit_ok(session)


async def test_sells_reserve_shares_of_their_outcome(session: AsyncSession) -> None:
    ada, market = await _setup(session)
    await _give_shares(session, ada, market, Outcome.YES, 30)
    await session.commit()

    yes, no = await _place(
        session,
        ada,
        _limit(market, Side.SELL, Outcome.YES, price=70, quantity=12),
        _limit(market, Side.SELL, Outcome.NO, price=20, quantity=30),
    )

    assert isinstance(yes, orders.Accepted)
    assert isinstance(no, orders.Accepted)
    assert await _shares(session, ada, market, "YES") == (18, 12)
    assert await _shares(session, ada, market, "NO") == (0, 30)
    assert await _balances(session, ada) == (10_000, 0)
    assert await _legs(session, yes.order_id) == [
        ("RESERVE", "YES", "USER_AVAILABLE", -12, market),
        ("RESERVE", "YES", "USER_RESERVED", 12, market),
    ]
    await _audit_ok(session)


async def test_funds_are_checked_cumulatively_and_refusals_write_nothing(
    session: AsyncSession,
) -> None:
    ada, market = await _setup(session, cash=1_000)
    await _give_shares(session, ada, market, Outcome.YES, 5)
    await session.commit()

    results = await _place(
        session,
        ada,
        _limit(market, price=50, quantity=12),  # 600
        _limit(market, price=50, quantity=10),  # 500 > 400 left
        _limit(market, price=40, quantity=10),  # 400: fits exactly
        _limit(market, Side.SELL, Outcome.YES, quantity=4),
        _limit(market, Side.SELL, Outcome.YES, quantity=2),  # 1 left
        _limit(market, Side.SELL, Outcome.NO, quantity=1),
    )

    assert [type(r).__name__ for r in results] == [
        "Accepted",
        "Shortfall",
        "Accepted",
        "Accepted",
        "Shortfall",
        "Accepted",
    ]
    assert results[1] == orders.Shortfall(Asset.CASH, 400, 500)
    assert results[4] == orders.Shortfall(Asset.YES, 1, 2)
    assert await _balances(session, ada) == (0, 1_000)
    assert await _shares(session, ada, market, "YES") == (1, 4)
    assert await _count(session, "orders") == 4
    assert await _count(session, "commands") == 4
    await _audit_ok(session)


async def test_a_refused_order_alone_writes_nothing(session: AsyncSession) -> None:
    ada, market = await _setup(session, cash=399)
    results = await _place(
        session, ada, _limit(market, price=40, quantity=10), _limit(market, Side.SELL)
    )
    assert results == [
        orders.Shortfall(Asset.CASH, 399, 400),
        orders.Shortfall(Asset.YES, 0, 10),
    ]
    assert await _balances(session, ada) == (399, 0)
    for table in ("orders", "commands", "positions"):
        assert await _count(session, table) == 0
    assert await _count(session, "ledger_entries") == 2  # the deposit
    await _audit_ok(session)


async def test_a_client_order_id_places_once(session: AsyncSession) -> None:
    ada, market = await _setup(session)
    [first] = await _place(session, ada, _limit(market, client="mm-1"))
    [again] = await _place(session, ada, _limit(market, price=10, quantity=1, client="mm-1"))
    twice = await _place(session, ada, _limit(market, client="mm-2"), _limit(market, client="mm-2"))

    assert isinstance(first, orders.Accepted)
    assert again == orders.Accepted(first.order_id, None)
    assert isinstance(twice[0], orders.Accepted)
    assert twice[1] == orders.RepeatedClientId()
    assert await _balances(session, ada) == (9_200, 800)
    assert await _count(session, "commands") == 2
    await _audit_ok(session)


async def test_markets_must_exist_trade_now_and_allow_the_size(session: AsyncSession) -> None:
    ada, market = await _setup(session)
    halted = await make_market(session, ada)
    past = await make_market(session, ada)
    await session.execute(text("UPDATE markets SET status = 'HALTED' WHERE id = :m"), {"m": halted})
    await session.execute(
        text("UPDATE markets SET closes_at = :t, max_order_qty = 5 WHERE id = :m"),
        {"m": past, "t": datetime.now(UTC) - timedelta(seconds=1)},
    )
    await session.execute(text("UPDATE markets SET max_order_qty = 5 WHERE id = :m"), {"m": market})
    await session.commit()

    results = await _place(
        session,
        ada,
        _limit(market + 1000),
        _limit(halted),
        _limit(past),
        _limit(market, quantity=6),
        _limit(market, quantity=5),
    )

    assert results[:4] == [
        orders.MarketMissing(),
        orders.MarketNotOpen(MarketStatus.HALTED),
        orders.MarketNotOpen(MarketStatus.CLOSED),
        orders.TooLarge(5),
    ]
    assert isinstance(results[4], orders.Accepted)
    await _audit_ok(session)


async def test_cancel_queues_a_command_for_live_orders_of_their_owner(
    session: AsyncSession,
) -> None:
    ada, market = await _setup(session)
    bob = await make_user(session, "bob")
    [placed] = await _place(session, ada, _limit(market))
    assert isinstance(placed, orders.Accepted)

    assert await orders.cancel_order(session, bob, placed.order_id) == orders.NoSuchOrder()
    assert await orders.cancel_order(session, ada, placed.order_id + 1) == orders.NoSuchOrder()
    cancelled = await orders.cancel_order(session, ada, placed.order_id)
    await session.commit()
    assert isinstance(cancelled, orders.Requested)
    assert (cancelled.order_id, cancelled.market_id) == (placed.order_id, market)

    await session.execute(
        text("UPDATE orders SET status = 'FILLED' WHERE id = :o"), {"o": placed.order_id}
    )
    over = await orders.cancel_order(session, ada, placed.order_id)
    assert over == orders.OrderOver(OrderStatus.FILLED)
    await session.rollback()
    kinds = (await session.execute(text("SELECT kind FROM commands ORDER BY id"))).scalars()
    assert list(kinds) == ["PLACE", "CANCEL"]
    assert await _balances(session, ada) == (9_600, 400)  # the matcher releases, not us


async def test_amend_reserves_what_more_it_needs_and_never_releases(
    session: AsyncSession,
) -> None:
    ada, market = await _setup(session, cash=1_000)
    [placed] = await _place(session, ada, _limit(market, price=40, quantity=10))
    assert isinstance(placed, orders.Accepted)
    await session.execute(
        text("UPDATE orders SET filled = 4, status = 'PARTIALLY_FILLED' WHERE id = :o"),
        {"o": placed.order_id},
    )
    await session.commit()

    async def amend(price: int | None, quantity: int | None) -> orders.AmendOutcome:
        outcome = await orders.amend_order(
            session, ada, placed.order_id, price, quantity, datetime.now(UTC)
        )
        await session.commit()
        return outcome

    # 60 x (10 - 4) = 360 needs nothing beyond the 400 held
    assert isinstance(await amend(60, None), orders.Requested)
    assert await _balances(session, ada) == (600, 400)
    # 50 x (20 - 4) = 800: 400 more
    assert isinstance(await amend(50, 20), orders.Requested)
    assert await _balances(session, ada) == (200, 800)
    [row] = await orders.orders_by_ids(session, ada, [placed.order_id])
    assert row.reserved_cash == 800
    assert await amend(99, 20) == orders.Shortfall(Asset.CASH, 200, 99 * 16 - 800)
    assert await amend(None, 4) == orders.NotAboveFilled(4)
    assert await amend(None, 1_000_001) == orders.TooLarge(1_000_000)
    assert isinstance(await amend(None, 5), orders.Requested)
    assert await _balances(session, ada) == (200, 800)
    payloads = await session.execute(
        text("SELECT payload FROM commands WHERE kind = 'AMEND' ORDER BY id")
    )
    assert list(payloads.scalars()) == [
        '{"new_price":60,"new_qty":null}',
        '{"new_price":50,"new_qty":20}',
        '{"new_price":null,"new_qty":5}',
    ]
    await _audit_ok(session)


async def test_amending_a_sell_reserves_more_shares(session: AsyncSession) -> None:
    ada, market = await _setup(session)
    await _give_shares(session, ada, market, Outcome.NO, 10)
    await session.commit()
    [placed] = await _place(session, ada, _limit(market, Side.SELL, Outcome.NO, quantity=4))
    assert isinstance(placed, orders.Accepted)

    more = await orders.amend_order(session, ada, placed.order_id, None, 9, datetime.now(UTC))
    await session.commit()
    too_many = await orders.amend_order(session, ada, placed.order_id, None, 11, datetime.now(UTC))
    await session.rollback()

    assert isinstance(more, orders.Requested)
    assert too_many == orders.Shortfall(Asset.NO, 1, 2)
    assert await _shares(session, ada, market, "NO") == (1, 9)
    await _audit_ok(session)


async def test_only_live_limit_orders_in_open_markets_are_amended(
    session: AsyncSession,
) -> None:
    ada, market = await _setup(session)
    bob = await make_user(session, "bob")
    market_buy = orders.NewOrder(
        market_id=market,
        side=Side.BUY,
        outcome=Outcome.YES,
        kind=OrderKind.MARKET,
        time_in_force=TimeInForce.IOC,
        post_only=False,
        stp=SelfTradePrevention.CANCEL_RESTING,
        price=99,
        quantity=10,
        budget=100,
    )
    limit, market_order, done = await _place(
        session, ada, _limit(market), market_buy, _limit(market)
    )
    assert isinstance(limit, orders.Accepted)
    assert isinstance(market_order, orders.Accepted)
    assert isinstance(done, orders.Accepted)
    await session.execute(
        text("UPDATE orders SET status = 'CANCELLED' WHERE id = :o"), {"o": done.order_id}
    )
    await session.commit()
    now = datetime.now(UTC)

    assert await orders.amend_order(session, bob, limit.order_id, 50, None, now) == (
        orders.NoSuchOrder()
    )
    assert await orders.amend_order(session, ada, done.order_id, 50, None, now) == (
        orders.OrderOver(OrderStatus.CANCELLED)
    )
    assert await orders.amend_order(session, ada, market_order.order_id, 50, None, now) == (
        orders.NotLimit()
    )
    await session.execute(text("UPDATE markets SET status = 'HALTED' WHERE id = :m"), {"m": market})
    assert await orders.amend_order(session, ada, limit.order_id, 50, None, now) == (
        orders.MarketNotOpen(MarketStatus.HALTED)
    )
    await session.rollback()


async def test_cancel_all_queues_one_command_per_market_with_live_orders(
    session: AsyncSession,
) -> None:
    ada, rain = await _setup(session)
    snow = await make_market(session, ada)
    await make_market(session, ada)  # nothing of ada's there
    placed = await _place(session, ada, _limit(rain), _limit(rain), _limit(snow), _limit(snow))
    ids = [p.order_id for p in placed if isinstance(p, orders.Accepted)]
    await session.execute(text("UPDATE orders SET status = 'FILLED' WHERE id = :o"), {"o": ids[3]})
    await session.commit()

    everywhere = await orders.cancel_all_orders(session, ada, None)
    only_snow = await orders.cancel_all_orders(session, ada, snow)
    await session.commit()

    assert everywhere.order_ids == ids[:3]
    assert set(everywhere.commands) == {rain, snow}
    assert only_snow.order_ids == [ids[2]]
    assert list(only_snow.commands) == [snow]
    rows = await session.execute(
        text("SELECT market_id, user_id, order_id FROM commands WHERE kind = 'CANCEL_ALL'")
    )
    assert sorted(tuple(r) for r in rows) == [
        (rain, ada, None),
        (snow, ada, None),
        (snow, ada, None),
    ]
    assert await orders.cancel_all_orders(session, ada + 100, None) == (
        orders.CancelAllRequested([], {})
    )
