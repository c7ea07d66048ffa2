"""Settlement against hand calculations: the real engine's events, settled in real Postgres.
Each row of DESIGN.md's settlement table, price improvement, cost basis, and every way an
order ends. The conservation audit runs after every test (the `connections` fixture)."""

from dataclasses import dataclass, field

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from db import settlement
from db.audit import run_audit
from db.enums import Asset, EntryKind, LedgerAccount
from db.ledger import Leg, post_journal
from db.money import add_cash
from db.resolution import AlreadyResolved, lock_set, resolve_market
from engine import Book, OrderKind, Outcome, Side
from engine.events import Event
from tests.db.factories import insert_order, make_market, make_user
from workers.connections import Connections

SIDES = {"BUY": Side.BUY, "SELL": Side.SELL}
OUTCOMES = {"YES": Outcome.YES, "NO": Outcome.NO}


@dataclass
class Desk:
    """A market's book and its Postgres state, driven like the API and matcher do."""

    connections: Connections
    market: int
    book: Book
    users: dict[str, int] = field(default_factory=dict)

    async def user(self, name: str, cash: int = 10_000) -> int:
        async with self.connections.sessions() as session:
            user = await make_user(session, name)
            await add_cash(session, user, cash)
            await session.commit()
        self.users[name] = user
        return user

    async def place(
        self,
        name: str,
        side: str,
        outcome: str,
        price: int,
        qty: int,
        kind: OrderKind = OrderKind.GTC,
        budget: int | None = None,
        expires_at: int | None = None,
    ) -> tuple[int, list[Event]]:
        """Reserve and insert the order as the API does, then match and settle it."""
        order_id, events = await self.enter(
            name, side, outcome, price, qty, kind, budget, expires_at
        )
        await self.settle(events)
        return order_id, events

    async def enter(
        self,
        name: str,
        side: str,
        outcome: str,
        price: int,
        qty: int,
        kind: OrderKind = OrderKind.GTC,
        budget: int | None = None,
        expires_at: int | None = None,
    ) -> tuple[int, list[Event]]:
        """Reserve and insert the order as the API does and match it (not settled)."""
        user = self.users[name]
        async with self.connections.sessions() as session:
            order_id = await insert_order(
                session, self.market, user, side, outcome, price, qty, kind, budget
            )
            await session.commit()
        events = self.book.place(
            order_id,
            user,
            SIDES[side],
            OUTCOMES[outcome],
            price,
            qty,
            kind=kind,
            budget=budget,
            expires_at=expires_at,
        )
        return order_id, events

    async def settle(self, events: list[Event]) -> settlement.BatchEffects:
        orders, users = settlement.touched_by(events)
        async with self.connections.sessions() as session:
            batch = await settlement.load(session, self.market, orders, users)
            batch.apply(events)
            effects = await batch.write(session, [])
            await session.commit()
        return effects

    async def cash(self, name: str) -> tuple[int, int]:
        async with self.connections.sessions() as session:
            row = (
                await session.execute(
                    text("SELECT cash_available, cash_reserved FROM accounts WHERE user_id = :u"),
                    {"u": self.users[name]},
                )
            ).one()
        return int(row[0]), int(row[1])

    async def position(self, name: str, outcome: str) -> tuple[int, int, int, int]:
        """(available, reserved, cost basis, realized PnL)"""
        async with self.connections.sessions() as session:
            row = (
                await session.execute(
                    text(
                        "SELECT shares_available, shares_reserved, cost_basis, realized_pnl"
                        " FROM positions WHERE user_id = :u AND market_id = :m AND outcome = :o"
                    ),
                    {"u": self.users[name], "m": self.market, "o": outcome},
                )
            ).first()
        return (0, 0, 0, 0) if row is None else (int(row[0]), int(row[1]), int(row[2]), int(row[3]))

    async def order(self, order_id: int) -> tuple[str, int, int, int]:
        """(status, filled, reserved cash, reserved shares)"""
        async with self.connections.sessions() as session:
            row = (
                await session.execute(
                    text(
                        "SELECT status, filled, reserved_cash, reserved_shares FROM orders"
                        " WHERE id = :o"
                    ),
                    {"o": order_id},
                )
            ).one()
        return str(row[0]), int(row[1]), int(row[2]), int(row[3])

    async def market_row(self) -> tuple[int, int, int]:
        """(collateral, pairs outstanding, stored sequence)"""
        async with self.connections.sessions() as session:
            row = (
                await session.execute(
                    text(
                        "SELECT m.collateral, m.pairs_outstanding, s.seq FROM markets m"
                        " JOIN market_sequences s ON s.market_id = m.id WHERE m.id = :m"
                    ),
                    {"m": self.market},
                )
            ).one()
        return int(row[0]), int(row[1]), int(row[2])

    async def audit_ok(self) -> None:
        async with self.connections.sessions() as session:
            report = await run_audit(session)
        assert report.ok, report.discrepancies


async def desk(connections: Connections, *names: str) -> Desk:
    async with connections.sessions() as session:
        admin = await make_user(session, "admin")
        market = await make_market(session, admin)
        await session.execute(
            text("INSERT INTO market_sequences (market_id, seq) VALUES (:m, 0)"), {"m": market}
        )
        await session.commit()
    d = Desk(connections, market, Book(market))
    for name in names:
        await d.user(name)
    return d


async def minted(connections: Connections) -> Desk:
    """ada holds 10 YES (cost 600) and bob 10 NO (cost 400), from one mint at YES 60."""
    d = await desk(connections, "ada", "bob", "carl", "dan")
    await d.place("ada", "BUY", "YES", 60, 10)
    await d.place("bob", "BUY", "NO", 40, 10)
    return d


async def test_mint_buy_yes_against_buy_no(connections: Connections) -> None:
    d = await minted(connections)
    assert await d.cash("ada") == (9_400, 0)
    assert await d.cash("bob") == (9_600, 0)
    assert await d.position("ada", "YES") == (10, 0, 600, 0)
    assert await d.position("bob", "NO") == (10, 0, 400, 0)
    collateral, pairs, seq = await d.market_row()
    assert (collateral, pairs) == (1_000, 10)
    assert seq == d.book.seq
    async with connections.sessions() as session:
        trade = (await session.execute(text("SELECT kind, yes_price, quantity FROM trades"))).one()
    assert tuple(trade) == ("MINT", 60, 10)
    await d.audit_ok()


async def test_a_batch_is_one_transaction_holding_its_locks_until_commit(
    connections: Connections,
) -> None:
    """What `load` locks stays locked until the session ends, and `write` commits with the
    session (SQLAlchemy begins its transaction lazily: statements sent straight to asyncpg
    before it has would each commit on their own)."""
    d = await desk(connections, "ada", "bob")
    await d.place("ada", "BUY", "YES", 60, 10)
    bob_order, events = await d.enter("bob", "BUY", "NO", 40, 10)
    orders, users = settlement.touched_by(events)

    async with connections.sessions() as session:
        batch = await settlement.load(session, d.market, orders, users)
        async with connections.engine.connect() as other:
            for user in d.users.values():
                with pytest.raises(DBAPIError) as taken:
                    await other.execute(
                        text("SELECT 1 FROM accounts WHERE user_id = :u FOR UPDATE NOWAIT"),
                        {"u": user},
                    )
                assert getattr(taken.value.orig, "sqlstate", None) == "55P03"  # lock held
                await other.rollback()
        batch.apply(events)
        await batch.write(session, [])
        await session.rollback()

    # nothing of the batch stayed: no trade, bob's order still waits with its reservation
    async with connections.sessions() as session:
        trades = await session.scalar(
            text("SELECT count(*) FROM trades WHERE market_id = :m"), {"m": d.market}
        )
    assert trades == 0
    assert await d.order(bob_order) == ("PENDING", 0, 400, 0)
    assert await d.cash("bob") == (9_600, 400)
    await d.audit_ok()


async def test_a_batch_of_several_markets_locks_them_all_first(connections: Connections) -> None:
    """`lock` takes what `load` would take in each market: the orders, their owners' and the
    given users' accounts, and those users' positions in every market of the batch."""
    one = await minted(connections)  # ada YES and bob NO in market one
    async with connections.sessions() as session:
        market = await make_market(session, one.users["dan"])
        await session.execute(
            text("INSERT INTO market_sequences (market_id, seq) VALUES (:m, 0)"), {"m": market}
        )
        await session.commit()
    two = Desk(connections, market, Book(market), dict(one.users))
    await two.place("ada", "BUY", "YES", 30, 2)
    await two.place("bob", "BUY", "NO", 70, 2)  # ada and bob hold shares in market two too
    carl_bid, _ = await one.place("carl", "BUY", "YES", 20, 1)  # rests in market one
    ada, bob, carl, dan = (one.users[n] for n in ("ada", "bob", "carl", "dan"))

    async with connections.sessions() as session:
        await settlement.lock(session, {one.market, two.market}, {carl_bid}, {ada, bob})
        async with connections.engine.connect() as other:

            async def taken(query: str, **values: int) -> bool:
                """Whether the row is locked (NOWAIT: 55P03, lock not available)."""
                state = None
                try:
                    await other.execute(text(query + " FOR UPDATE NOWAIT"), values)
                except DBAPIError as refused:
                    state = getattr(refused.orig, "sqlstate", None)
                finally:
                    await other.rollback()
                assert state in (None, "55P03")
                return state is not None

            accounts = "SELECT 1 FROM accounts WHERE user_id = :u"
            assert [await taken(accounts, u=u) for u in (ada, bob, carl, dan)] == [
                True,
                True,
                True,  # the owner of a locked order
                False,
            ]
            positions = "SELECT 1 FROM positions WHERE user_id = :u AND market_id = :m"
            for market in (one.market, two.market):
                assert await taken(positions, u=ada, m=market)
                assert await taken(positions, u=bob, m=market)
            assert await taken("SELECT 1 FROM orders WHERE id = :o", o=carl_bid)
        await session.rollback()
    await one.audit_ok()


async def test_price_improvement_is_released_to_the_taker(connections: Connections) -> None:
    d = await desk(connections, "ada", "bob")
    await d.place("ada", "BUY", "YES", 60, 10)  # rests: bid 60
    bob_order, _ = await d.place("bob", "BUY", "NO", 45, 10)  # would pay 45, pays 40
    assert await d.cash("bob") == (9_600, 0)  # 450 reserved, 400 paid, 50 back
    assert await d.order(bob_order) == ("FILLED", 10, 0, 0)
    assert await d.position("bob", "NO") == (10, 0, 400, 0)


async def test_transfer_yes_seller_to_buyer(connections: Connections) -> None:
    d = await minted(connections)
    sell, _ = await d.place("ada", "SELL", "YES", 70, 4)  # rests: ask 70
    assert await d.position("ada", "YES") == (6, 4, 600, 0)
    buy, _ = await d.place("carl", "BUY", "YES", 75, 4)  # pays the maker's 70
    assert await d.cash("carl") == (10_000 - 280, 0)
    assert await d.cash("ada") == (9_400 + 280, 0)
    # ada sold 4 of 10 shares that cost 600: 240 of basis leaves, 40 realized
    assert await d.position("ada", "YES") == (6, 0, 360, 40)
    assert await d.position("carl", "YES") == (4, 0, 280, 0)
    assert await d.order(sell) == ("FILLED", 4, 0, 0)
    assert await d.order(buy) == ("FILLED", 4, 0, 0)
    assert (await d.market_row())[:2] == (1_000, 10)  # no pair created or burned


async def test_merge_sell_yes_against_sell_no(connections: Connections) -> None:
    d = await minted(connections)
    await d.place("ada", "SELL", "YES", 55, 6)  # ask 55
    await d.place("bob", "SELL", "NO", 45, 6)  # bid 100-45 = 55: crosses, merges at 55
    assert await d.cash("ada") == (9_400 + 330, 0)
    assert await d.cash("bob") == (9_600 + 270, 0)
    assert (await d.market_row())[:2] == (400, 4)  # 6 pairs burned, 600 released
    assert await d.position("ada", "YES") == (4, 0, 240, 330 - 360)
    assert await d.position("bob", "NO") == (4, 0, 160, 270 - 240)
    await d.audit_ok()


async def test_transfer_no_seller_to_buyer(connections: Connections) -> None:
    d = await minted(connections)
    await d.place("bob", "SELL", "NO", 45, 5)  # bid at YES 55
    await d.place("dan", "BUY", "NO", 50, 5)  # ask at YES 50: crosses the bid 55, pays 45
    assert await d.cash("dan") == (10_000 - 225, 0)
    assert await d.cash("bob") == (9_600 + 225, 0)
    assert await d.position("dan", "NO") == (5, 0, 225, 0)
    assert await d.position("bob", "NO") == (5, 0, 200, 25)
    assert (await d.market_row())[:2] == (1_000, 10)


async def test_partial_fill_rests_the_rest_and_cancel_releases_it(
    connections: Connections,
) -> None:
    d = await desk(connections, "ada", "bob")
    big, _ = await d.place("ada", "BUY", "YES", 30, 10)
    await d.place("bob", "BUY", "NO", 70, 4)  # mints 4 at YES 30
    assert await d.order(big) == ("PARTIALLY_FILLED", 4, 180, 0)
    assert await d.cash("ada") == (10_000 - 300, 180)
    await d.settle(d.book.cancel(big))
    assert await d.order(big) == ("CANCELLED", 4, 0, 0)
    assert await d.cash("ada") == (10_000 - 120, 0)


async def test_ioc_remainder_and_fok_and_post_only(connections: Connections) -> None:
    d = await desk(connections, "ada", "bob")
    await d.place("ada", "BUY", "YES", 50, 3)
    ioc, _ = await d.place("bob", "BUY", "NO", 50, 5, kind=OrderKind.IOC)
    assert await d.order(ioc) == ("CANCELLED", 3, 0, 0)
    assert await d.cash("bob") == (10_000 - 150, 0)
    fok, _ = await d.place("bob", "BUY", "NO", 60, 5, kind=OrderKind.FOK)
    assert await d.order(fok) == ("REJECTED", 0, 0, 0)
    await d.place("ada", "BUY", "YES", 50, 2)
    post, _ = await d.place("bob", "BUY", "NO", 50, 1, kind=OrderKind.POST_ONLY)
    assert await d.order(post) == ("REJECTED", 0, 0, 0)
    assert await d.cash("bob") == (10_000 - 150, 0)


async def test_market_buy_spends_within_its_budget(connections: Connections) -> None:
    d = await desk(connections, "ada", "bob")
    await d.place("ada", "BUY", "NO", 60, 2)  # ask YES 40
    await d.place("ada", "BUY", "NO", 55, 5)  # ask YES 45
    order, _ = await d.place("bob", "BUY", "YES", 99, 100, kind=OrderKind.MARKET, budget=200)
    # 2 at 40 = 80, then 120 buys 2 at 45 = 90 (a third would cost 135): 170 spent
    assert await d.order(order) == ("CANCELLED", 4, 0, 0)
    assert await d.cash("bob") == (10_000 - 170, 0)
    assert await d.position("bob", "YES") == (4, 0, 170, 0)


async def test_gtd_orders_expire_and_release(connections: Connections) -> None:
    d = await desk(connections, "ada")
    order, _ = await d.place("ada", "BUY", "YES", 40, 5, kind=OrderKind.GTD, expires_at=1_000)
    assert await d.cash("ada") == (9_800, 200)
    await d.settle(d.book.expire(1_000))
    assert await d.order(order) == ("EXPIRED", 0, 0, 0)
    assert await d.cash("ada") == (10_000, 0)


async def test_amend_down_releases_and_close_out_releases_everything(
    connections: Connections,
) -> None:
    d = await minted(connections)
    buy, _ = await d.place("carl", "BUY", "YES", 50, 10)
    sell, _ = await d.place("ada", "SELL", "YES", 80, 10)
    await d.settle(d.book.amend(buy, new_price=45, new_qty=6))
    assert await d.order(buy) == ("OPEN", 0, 270, 0)
    assert await d.cash("carl") == (10_000 - 270, 270)
    await d.settle(d.book.close_out())
    assert await d.order(buy) == ("CANCELLED", 0, 0, 0)
    assert await d.order(sell) == ("CANCELLED", 0, 0, 0)
    assert await d.cash("carl") == (10_000, 0)
    assert await d.position("ada", "YES") == (10, 0, 600, 0)


async def test_self_trade_cancels_the_resting_order(connections: Connections) -> None:
    d = await minted(connections)
    resting, _ = await d.place("ada", "SELL", "YES", 65, 3)
    taker, _ = await d.place("ada", "BUY", "YES", 70, 2)
    assert (await d.order(resting))[0] == "CANCELLED"
    assert (await d.order(taker))[:2] == ("OPEN", 0)
    assert await d.position("ada", "YES") == (10, 0, 600, 0)
    assert await d.cash("ada") == (9_400 - 140, 140)


async def test_a_pending_amend_keeps_what_the_api_reserved_for_it(
    connections: Connections,
) -> None:
    d = await minted(connections)
    buy, _ = await d.place("carl", "BUY", "YES", 50, 10)  # 500 held
    carl = d.users["carl"]
    async with connections.sessions() as session:  # the API's amend: price 55, 50 more held
        await session.execute(
            text(
                "UPDATE accounts SET cash_available = cash_available - 50,"
                " cash_reserved = cash_reserved + 50 WHERE user_id = :u"
            ),
            {"u": carl},
        )
        await session.execute(
            text("UPDATE orders SET reserved_cash = reserved_cash + 50 WHERE id = :o"),
            {"o": buy},
        )
        await post_journal(
            session,
            EntryKind.RESERVE,
            [
                Leg(LedgerAccount.USER_AVAILABLE, Asset.CASH, -50, carl, None, buy),
                Leg(LedgerAccount.USER_RESERVED, Asset.CASH, 50, carl, None, buy),
            ],
        )
        amend_id = (
            await session.execute(
                text(
                    "INSERT INTO commands (market_id, kind, order_id, user_id, payload)"
                    " VALUES (:m, 'AMEND', :o, :u, '{}') RETURNING id"
                ),
                {"m": d.market, "o": buy, "u": carl},
            )
        ).scalar_one()
        await session.commit()
    # before the amend reaches the matcher, ada sells 4 into the order at 50
    _, sale = await d.enter("ada", "SELL", "YES", 50, 4)
    orders, users = settlement.touched_by(sale)
    async with connections.sessions() as session:
        batch = await settlement.load(session, d.market, orders, users)
        batch.apply(sale, amend_id - 1)
        await batch.write(session, [])
        await session.commit()
    assert await d.order(buy) == ("PARTIALLY_FILLED", 4, 350, 0)  # 550 - 200 paid, kept
    amended = d.book.amend(buy, new_price=55)
    async with connections.sessions() as session:
        batch = await settlement.load(session, d.market, *settlement.touched_by(amended))
        batch.apply(amended, amend_id)
        await batch.write(session, [amend_id])
        await session.commit()
    assert await d.order(buy) == ("PARTIALLY_FILLED", 4, 330, 0)  # 55 x 6 held
    assert await d.cash("carl") == (10_000 - 200 - 330, 330)


async def test_resolution_refuses_orders_the_matcher_never_saw_and_pays_once(
    connections: Connections,
) -> None:
    d = await minted(connections)
    async with connections.sessions() as session:  # committed, never delivered
        late = await insert_order(session, d.market, d.users["ada"], "SELL", "YES", 90, 4)
        await session.commit()
    await d.settle(d.book.close_out())
    async with connections.sessions() as session:
        # what it will lock first, in key order: the late order, and the holders' rows
        assert await lock_set(session, d.market) == ({late}, {d.users["ada"], d.users["bob"]})
        paid = await resolve_market(session, d.market, "YES")
        await session.commit()
    assert paid == 1_000
    assert await d.order(late) == ("REJECTED", 0, 0, 0)
    assert await d.cash("ada") == (9_400 + 1_000, 0)
    assert await d.position("ada", "YES") == (0, 0, 0, 400)
    assert await d.position("bob", "NO") == (0, 0, 0, -400)
    assert (await d.market_row())[:2] == (0, 0)
    async with connections.sessions() as session:
        with pytest.raises(AlreadyResolved):
            await resolve_market(session, d.market, "NO")
