"""Trading scenarios over real HTTP, end to end: GraphQL -> order entry -> Kafka -> the matcher
-> Postgres -> Redis -> GraphQL. Each mutation's answer already shows the matched order; after
each step every user's cash and shares equal the hand calculation beside it, and the audit
after each test (the `connections` fixture) is exact.

Everyone starts with 10,000 cents. Prices are cents of the order's own outcome; a BUY NO @q
is a YES ask at 100 - q and a SELL NO @q a YES bid at 100 - q, and a trade happens at the
resting order's YES price (DESIGN.md, "Matching")."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import text

import engine
from db.enums import OrderKind, Outcome, Role, SelfTradePrevention, Side, TimeInForce
from db.orders import Accepted, NewOrder, place_orders
from tests.api.factories import Member, gql, member
from tests.e2e.conftest import Stack
from workers import dispatch
from workers.commands import Place, Resolve

T = TypeVar("T")
START = 10_000

ORDER = """id status price quantity filled remaining filledCost averageFillPrice
           reservedCash reservedShares"""
ERROR = "... on Error { code message field }"
PLACE = f"""
mutation($input: PlaceOrderInput!) {{
  placeOrder(input: $input) {{
    __typename ... on OrderPlaced {{ order {{ {ORDER} }} }} ... on MarketClosed {{ status }} {ERROR}
  }}
}}"""
CANCEL = f"""mutation($id: ID!) {{
  cancelOrder(id: $id) {{ __typename ... on OrderCancelRequested {{ order {{ {ORDER} }} }} }}
}}"""
AMEND = f"""mutation($id: ID!, $price: Int, $quantity: Int) {{
  amendOrder(id: $id, price: $price, quantity: $quantity) {{
    __typename ... on OrderAmendRequested {{ order {{ {ORDER} }} }} {ERROR}
  }}
}}"""
CANCEL_ALL = f"""mutation {{
  cancelAllOrders {{ __typename ... on CancelAllRequested {{ requested orders {{ {ORDER} }} }} }}
}}"""
READ_ORDER = f"query($id: ID!) {{ order(id: $id) {{ ... on Order {{ {ORDER} }} }} }}"
ACCOUNT = "{ account { ... on Account { available reserved } } }"
POSITIONS = """query($market: ID) { positions(marketId: $market) { ... on PositionList {
  positions { outcome sharesAvailable sharesReserved costBasis realizedPnl } } } }"""
TRADES = """query($market: ID) { trades(marketId: $market, first: 50) { ... on TradeConnection {
  edges { node { kind yesPrice price quantity role outcome } } } } }"""
BOOK = """query($market: ID!, $view: BookView) { orderBook(marketId: $market, view: $view) {
  ... on OrderBook { seq bids { price quantity } asks { price quantity } lastPrice } } }"""
MARKET = """query($id: ID!) { market(id: $id) { ... on Market {
  status resolution collateral lastPrice bestBid bestAsk volume volume24h } } }"""
CREATE = """mutation($input: CreateMarketInput!) {
  createMarket(input: $input) { ... on MarketCreated { market { id } } } }"""
CREDIT = """mutation($user: ID!, $amount: Cents!) {
  creditAccount(userId: $user, amount: $amount) { __typename } }"""
HALT = f"""mutation($id: ID!) {{
  haltMarket(id: $id) {{ __typename ... on MarketHalted {{ market {{ status }} }} {ERROR} }} }}"""
RESUME = f"""mutation($id: ID!) {{
  resumeMarket(id: $id) {{ __typename ... on MarketResumed {{ market {{ status }} }} {ERROR} }}
}}"""
RESOLVE = f"""mutation($id: ID!, $outcome: Resolution!) {{
  resolveMarket(id: $id, outcome: $outcome) {{
    __typename
    ... on MarketResolutionRequested {{ market {{ status resolution collateral }} }}
    {ERROR}
  }}
}}"""
PAYOUTS = """{ ledger(first: 50) { ... on LedgerConnection {
  edges { node { kind asset bucket amount } } } } }"""


@dataclass
class Exchange:
    """A GraphQL client of the running exchange, with an administrator."""

    stack: Stack
    http: httpx.AsyncClient
    root: Member

    async def trader(self, name: str, cash: int = START) -> Member:
        who = await member(self.stack.connections, name)
        credited = await gql(
            self.http, CREDIT, {"user": str(who.id), "amount": cash}, self.root.headers
        )
        assert credited["creditAccount"]["__typename"] == "Credited"
        return who

    async def market(self, closes_in: timedelta = timedelta(days=7)) -> str:
        closes_at = (datetime.now(UTC) + closes_in).isoformat()
        made = await gql(
            self.http,
            CREATE,
            {"input": {"title": "Will it rain?", "closesAt": closes_at}},
            self.root.headers,
        )
        market_id: str = made["createMarket"]["market"]["id"]
        return market_id

    async def submit(
        self,
        who: Member,
        market: str,
        side: str,
        outcome: str,
        price: int,
        quantity: int,
        **more: Any,
    ) -> dict[str, Any]:
        given = {"marketId": market, "side": side, "outcome": outcome, "price": price}
        data = await gql(
            self.http, PLACE, {"input": given | {"quantity": quantity} | more}, who.headers
        )
        result: dict[str, Any] = data["placeOrder"]
        return result

    async def place(
        self,
        who: Member,
        market: str,
        side: str,
        outcome: str,
        price: int,
        quantity: int,
        **more: Any,
    ) -> dict[str, Any]:
        """Place an order; the order as the mutation returns it, already matched (the
        `x == x | {...}` asserts below check some of its fields)."""
        placed = await self.submit(who, market, side, outcome, price, quantity, **more)
        assert placed["__typename"] == "OrderPlaced", placed
        order: dict[str, Any] = placed["order"]
        assert order["status"] != "PENDING", "the matcher did not answer within the wait"
        return order

    async def order(self, who: Member, order: dict[str, Any]) -> dict[str, Any]:
        found: dict[str, Any] = (
            await gql(self.http, READ_ORDER, {"id": order["id"]}, who.headers)
        )["order"]
        return found

    async def status(self, who: Member, order: dict[str, Any]) -> str:
        status: str = (await self.order(who, order))["status"]
        return status

    async def cancel(self, who: Member, order: dict[str, Any]) -> dict[str, Any]:
        done = (await gql(self.http, CANCEL, {"id": order["id"]}, who.headers))["cancelOrder"]
        assert done["__typename"] == "OrderCancelRequested", done
        cancelled: dict[str, Any] = done["order"]
        return cancelled

    async def amend(self, who: Member, order: dict[str, Any], **change: int) -> dict[str, Any]:
        done = (await gql(self.http, AMEND, {"id": order["id"], **change}, who.headers))[
            "amendOrder"
        ]
        assert done["__typename"] == "OrderAmendRequested", done
        amended: dict[str, Any] = done["order"]
        return amended

    async def cash(self, who: Member) -> tuple[int, int]:
        """(available, reserved) cents."""
        account = (await gql(self.http, ACCOUNT, headers=who.headers))["account"]
        return account["available"], account["reserved"]

    async def shares(self, who: Member, market: str) -> dict[str, tuple[int, int]]:
        """Outcome -> (available, reserved) shares of the positions listed: those holding
        shares or with realized PnL."""
        return {
            p["outcome"]: (p["sharesAvailable"], p["sharesReserved"])
            for p in await self.positions(who, market)
        }

    async def positions(self, who: Member, market: str) -> list[dict[str, Any]]:
        found = await gql(self.http, POSITIONS, {"market": market}, who.headers)
        positions: list[dict[str, Any]] = found["positions"]["positions"]
        return positions

    async def money(self, who: Member, market: str) -> tuple[int, int, dict[str, tuple[int, int]]]:
        """Cash (available, reserved) and shares (outcome -> available, reserved)."""
        available, reserved = await self.cash(who)
        return available, reserved, await self.shares(who, market)

    async def pnl(self, who: Member, market: str) -> dict[str, tuple[int, int]]:
        """Outcome -> (cost basis, realized PnL) of the positions listed."""
        return {
            p["outcome"]: (p["costBasis"], p["realizedPnl"])
            for p in await self.positions(who, market)
        }

    async def trades(self, who: Member, market: str) -> list[tuple[str, int, int, str]]:
        """The viewer's trades, oldest first: (kind, YES price, quantity, role)."""
        found = await gql(self.http, TRADES, {"market": market}, who.headers)
        edges = found["trades"]["edges"]
        return [
            (t["kind"], t["yesPrice"], t["quantity"], t["role"])
            for t in reversed([e["node"] for e in edges])
        ]

    async def book(self, market: str, view: str = "YES") -> dict[str, Any]:
        found: dict[str, Any] = (await gql(self.http, BOOK, {"market": market, "view": view}))[
            "orderBook"
        ]
        return found

    async def sides(
        self, market: str, view: str = "YES"
    ) -> tuple[list[dict[str, int]], list[dict[str, int]], int | None]:
        """(bids, asks, last price) of the published book."""
        book = await self.book(market, view)
        return book["bids"], book["asks"], book["lastPrice"]

    async def live(self, market: str) -> tuple[Any, Any, Any, Any]:
        """The market's (lastPrice, bestBid, bestAsk, volume)."""
        f = await self.figures(market)
        return f["lastPrice"], f["bestBid"], f["bestAsk"], f["volume"]

    async def status_of(self, market: str) -> str:
        status: str = (await self.figures(market))["status"]
        return status

    async def figures(self, market: str) -> dict[str, Any]:
        found: dict[str, Any] = (await gql(self.http, MARKET, {"id": market}))["market"]
        return found

    async def admin(self, document: str, market: str, **more: str) -> dict[str, Any]:
        data = await gql(self.http, document, {"id": market, **more}, self.root.headers)
        answer: dict[str, Any] = next(iter(data.values()))
        return answer


async def eventually(read: Callable[[], Awaitable[T]], expected: object, seconds: float = 8) -> T:
    """Read until it equals `expected` (the matcher's timers, the closer, and book snapshots
    that are written just after the matcher answers); fail with the last value read."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        value = await read()
        if value == expected or asyncio.get_running_loop().time() > deadline:
            assert value == expected
            return value
        await asyncio.sleep(0.05)


def levels(*pairs: tuple[int, int]) -> list[dict[str, int]]:
    return [{"price": p, "quantity": q} for p, q in pairs]


@pytest.fixture
async def ex(clean_stack: Stack) -> AsyncIterator[Exchange]:
    async with httpx.AsyncClient(base_url=clean_stack.url, timeout=15) as http:
        root = await member(clean_stack.connections, "root", Role.ADMIN)
        yield Exchange(clean_stack, http, root)


async def _mint(
    ex: Exchange, market: str, yes: Member, no: Member, yes_price: int, pairs: int
) -> None:
    """`yes` buys YES at `yes_price`, then `no` buys NO at 100 - yes_price: `pairs` new pairs."""
    await ex.place(yes, market, "BUY", "YES", yes_price, pairs)
    taker = await ex.place(no, market, "BUY", "NO", 100 - yes_price, pairs)
    assert taker["status"] == "FILLED"


# -- DESIGN.md's settlement table, one row each ------------------------------------------------


async def test_mint_buy_yes_against_buy_no_with_price_improvement_and_a_partial_fill(
    ex: Exchange,
) -> None:
    ada, bob = await ex.trader("ada"), await ex.trader("bob")
    market = await ex.market()

    bid = await ex.place(ada, market, "BUY", "YES", 60, 10)
    assert (bid["status"], bid["filled"], bid["reservedCash"]) == ("OPEN", 0, 600)
    assert await ex.money(ada, market) == (START - 600, 600, {})

    # BUY NO @45 is a YES ask at 55: it crosses the bid at 60 and trades there, so bob pays
    # 100 - 60 = 40 a share, 5 less than his limit; 6 new pairs lock 600 cents.
    taker = await ex.place(bob, market, "BUY", "NO", 45, 6)
    assert taker == taker | {
        "status": "FILLED",
        "filled": 6,
        "remaining": 0,
        "filledCost": 240,
        "averageFillPrice": 40.0,
        "reservedCash": 0,
    }
    maker = await ex.order(ada, bid)
    assert maker == maker | {"status": "PARTIALLY_FILLED", "filled": 6, "remaining": 4}
    assert maker["reservedCash"] == 4 * 60
    assert await ex.money(ada, market) == (START - 600, 240, {"YES": (6, 0)})
    assert await ex.money(bob, market) == (START - 240, 0, {"NO": (6, 0)})
    assert await ex.pnl(ada, market) == {"YES": (360, 0)}
    assert await ex.pnl(bob, market) == {"NO": (240, 0)}
    assert await ex.trades(bob, market) == [("MINT", 60, 6, "TAKER")]
    assert await ex.trades(ada, market) == [("MINT", 60, 6, "MAKER")]

    # the book snapshot is written just after the matcher answers: read until it is there
    await eventually(lambda: ex.sides(market), (levels((60, 4)), [], 60))
    assert await ex.sides(market, "NO") == ([], levels((40, 4)), 40)  # NO asks = 100 - bids
    assert await eventually(lambda: ex.live(market), (60, 60, None, 6))
    assert (await ex.figures(market))["collateral"] == 6 * 100
    assert (await ex.figures(market))["volume24h"] == 6


async def test_transfer_yes_sell_yes_to_buy_yes(ex: Exchange) -> None:
    ada, bob, carl = await ex.trader("ada"), await ex.trader("bob"), await ex.trader("carl")
    market = await ex.market()
    await _mint(ex, market, ada, bob, 50, 10)
    assert await ex.money(ada, market) == (START - 500, 0, {"YES": (10, 0)})

    ask = await ex.place(ada, market, "SELL", "YES", 55, 4)
    assert (ask["status"], ask["reservedShares"]) == ("OPEN", 4)
    assert await ex.money(ada, market) == (START - 500, 0, {"YES": (6, 4)})

    # carl bids 58, the ask rests at 55: he pays 55 a share, 3 less than his limit
    taker = await ex.place(carl, market, "BUY", "YES", 58, 4)
    assert taker == taker | {"status": "FILLED", "filledCost": 220, "reservedCash": 0}
    assert (await ex.order(ada, ask))["status"] == "FILLED"
    assert await ex.money(carl, market) == (START - 220, 0, {"YES": (4, 0)})
    assert await ex.money(ada, market) == (START - 500 + 220, 0, {"YES": (6, 0)})
    assert await ex.money(bob, market) == (START - 500, 0, {"NO": (10, 0)})
    # ada sold 4 of 10 shares that cost 500: 200 of cost basis goes, 220 came in
    assert await ex.pnl(ada, market) == {"YES": (300, 20)}
    assert await ex.pnl(carl, market) == {"YES": (220, 0)}
    assert await ex.trades(carl, market) == [("TRANSFER_YES", 55, 4, "TAKER")]
    assert (await ex.figures(market))["collateral"] == 10 * 100  # no pair made or burned
    await eventually(lambda: ex.live(market), (55, None, None, 14))
    assert (await ex.figures(market))["volume24h"] == 14


async def test_merge_sell_no_against_sell_yes_burns_pairs(ex: Exchange) -> None:
    ada, bob = await ex.trader("ada"), await ex.trader("bob")
    market = await ex.market()
    await _mint(ex, market, ada, bob, 50, 10)

    ask = await ex.place(ada, market, "SELL", "YES", 45, 6)
    assert ask["status"] == "OPEN"
    # SELL NO @50 is a YES bid at 50: it meets the ask at 45, so ada gets 45 a share and bob
    # 100 - 45 = 55, 5 more than he asked; 6 pairs are burned, 600 cents leave collateral
    taker = await ex.place(bob, market, "SELL", "NO", 50, 6)
    assert taker == taker | {"status": "FILLED", "filled": 6, "filledCost": 330}
    assert taker["averageFillPrice"] == 55.0
    assert (await ex.order(ada, ask))["status"] == "FILLED"
    assert await ex.money(ada, market) == (START - 500 + 270, 0, {"YES": (4, 0)})
    assert await ex.money(bob, market) == (START - 500 + 330, 0, {"NO": (4, 0)})
    assert await ex.pnl(ada, market) == {"YES": (200, 270 - 300)}
    assert await ex.pnl(bob, market) == {"NO": (200, 330 - 300)}
    assert await ex.trades(bob, market) == [("MINT", 50, 10, "TAKER"), ("MERGE", 45, 6, "TAKER")]
    assert (await ex.figures(market))["collateral"] == 4 * 100


async def test_transfer_no_sell_no_to_buy_no(ex: Exchange) -> None:
    ada, bob, carl = await ex.trader("ada"), await ex.trader("bob"), await ex.trader("carl")
    market = await ex.market()
    await _mint(ex, market, ada, bob, 50, 10)

    ask = await ex.place(bob, market, "SELL", "NO", 48, 5)  # a YES bid at 52
    assert await ex.money(bob, market) == (START - 500, 0, {"NO": (5, 5)})
    # BUY NO @50 is a YES ask at 50: it meets the bid at 52, so carl pays 100 - 52 = 48
    taker = await ex.place(carl, market, "BUY", "NO", 50, 5)
    assert taker == taker | {"status": "FILLED", "filledCost": 240, "reservedCash": 0}
    assert (await ex.order(bob, ask))["status"] == "FILLED"
    assert await ex.money(carl, market) == (START - 240, 0, {"NO": (5, 0)})
    assert await ex.money(bob, market) == (START - 500 + 240, 0, {"NO": (5, 0)})
    assert await ex.money(ada, market) == (START - 500, 0, {"YES": (10, 0)})
    assert await ex.pnl(bob, market) == {"NO": (250, 240 - 250)}
    assert await ex.trades(carl, market) == [("TRANSFER_NO", 52, 5, "TAKER")]
    assert (await ex.figures(market))["collateral"] == 10 * 100


# -- order kinds -----------------------------------------------------------------------------


async def test_gtd_rests_then_expires_and_releases_its_cash(ex: Exchange) -> None:
    ada = await ex.trader("ada")
    market = await ex.market()
    expires = datetime.now(UTC) + timedelta(seconds=1.5)

    bid = await ex.place(
        ada, market, "BUY", "YES", 30, 5, timeInForce="GTD", expiresAt=expires.isoformat()
    )
    assert (bid["status"], bid["reservedCash"]) == ("OPEN", 150)
    assert await ex.cash(ada) == (START - 150, 150)
    await eventually(lambda: ex.sides(market), (levels((30, 5)), [], None))

    await eventually(lambda: ex.status(ada, bid), "EXPIRED")  # the matcher's next tick
    expired = await ex.order(ada, bid)
    assert (expired["remaining"], expired["reservedCash"]) == (5, 0)
    assert await ex.cash(ada) == (START, 0)
    await eventually(lambda: ex.sides(market), ([], [], None))


async def test_ioc_trades_what_it_can_and_cancels_the_rest(ex: Exchange) -> None:
    ada, bob = await ex.trader("ada"), await ex.trader("bob")
    market = await ex.market()
    await ex.place(ada, market, "BUY", "YES", 40, 5)

    ioc = await ex.place(bob, market, "BUY", "NO", 60, 8, timeInForce="IOC")
    assert ioc == ioc | {
        "status": "CANCELLED",
        "filled": 5,
        "remaining": 3,
        "filledCost": 300,
        "reservedCash": 0,
    }
    assert await ex.money(bob, market) == (START - 300, 0, {"NO": (5, 0)})
    assert await ex.money(ada, market) == (START - 200, 0, {"YES": (5, 0)})
    await eventually(lambda: ex.sides(market), ([], [], 40))


async def test_fok_fills_entirely_or_is_rejected_holding_nothing(ex: Exchange) -> None:
    ada, bob = await ex.trader("ada"), await ex.trader("bob")
    market = await ex.market()
    bid = await ex.place(ada, market, "BUY", "YES", 40, 5)

    refused = await ex.place(bob, market, "BUY", "NO", 60, 8, timeInForce="FOK")
    assert refused == refused | {"status": "REJECTED", "filled": 0, "reservedCash": 0}
    assert await ex.money(bob, market) == (START, 0, {})
    assert (await ex.order(ada, bid))["status"] == "OPEN"
    await eventually(lambda: ex.sides(market), (levels((40, 5)), [], None))

    whole = await ex.place(bob, market, "BUY", "NO", 60, 5, timeInForce="FOK")
    assert whole == whole | {"status": "FILLED", "filled": 5, "filledCost": 300}
    assert await ex.money(bob, market) == (START - 300, 0, {"NO": (5, 0)})
    assert await ex.money(ada, market) == (START - 200, 0, {"YES": (5, 0)})


async def test_market_buy_stops_at_its_budget_then_at_its_worst_price(ex: Exchange) -> None:
    ada, bob = await ex.trader("ada"), await ex.trader("bob")
    carl, dave = await ex.trader("carl"), await ex.trader("dave")
    market = await ex.market()
    await ex.place(bob, market, "BUY", "NO", 60, 3)  # YES asks: 3 at 40,
    await ex.place(carl, market, "BUY", "NO", 55, 5)  # 5 at 45,
    await ex.place(dave, market, "BUY", "NO", 50, 5)  # 5 at 50

    # 300 cents: 3 at 40 (120), then 180 / 45 = 4 at 45 (180); the rest is cancelled
    spent = await ex.place(ada, market, "BUY", "YES", 45, 100, kind="MARKET", budget=300)
    assert spent == spent | {
        "status": "CANCELLED",
        "filled": 7,
        "filledCost": 300,
        "reservedCash": 0,
    }
    assert await ex.money(ada, market) == (START - 300, 0, {"YES": (7, 0)})
    assert await ex.money(bob, market) == (START - 180, 0, {"NO": (3, 0)})
    assert await ex.money(carl, market) == (START - 275, 55, {"NO": (4, 0)})

    # a budget of 1,000 stops at the worst price: carl's last share at 45, not dave's at 50
    capped = await ex.place(ada, market, "BUY", "YES", 45, 100, kind="MARKET", budget=1_000)
    assert capped == capped | {"status": "CANCELLED", "filled": 1, "filledCost": 45}
    assert await ex.money(ada, market) == (START - 345, 0, {"YES": (8, 0)})
    assert await ex.money(carl, market) == (START - 275, 0, {"NO": (5, 0)})
    assert await ex.money(dave, market) == (START - 250, 250, {})
    await eventually(lambda: ex.sides(market), ([], levels((50, 5)), 45))


async def test_market_sell_walks_the_bids_down_to_its_worst_price(ex: Exchange) -> None:
    ada, bob = await ex.trader("ada"), await ex.trader("bob")
    carl, dave = await ex.trader("carl"), await ex.trader("dave")
    market = await ex.market()
    await _mint(ex, market, ada, dave, 50, 10)
    await ex.place(bob, market, "BUY", "YES", 55, 3)
    await ex.place(carl, market, "BUY", "YES", 50, 3)

    sold = await ex.place(ada, market, "SELL", "YES", 50, 5, kind="MARKET")
    assert sold == sold | {"status": "FILLED", "filled": 5, "filledCost": 3 * 55 + 2 * 50}
    assert sold["averageFillPrice"] == 53.0
    assert await ex.money(ada, market) == (START - 500 + 265, 0, {"YES": (5, 0)})
    assert await ex.pnl(ada, market) == {"YES": (250, 265 - 250)}
    assert await ex.money(bob, market) == (START - 165, 0, {"YES": (3, 0)})
    assert await ex.money(carl, market) == (START - 150, 50, {"YES": (2, 0)})
    await eventually(lambda: ex.sides(market), (levels((50, 1)), [], 50))


async def test_post_only_is_rejected_when_it_would_cross(ex: Exchange) -> None:
    ada, bob = await ex.trader("ada"), await ex.trader("bob")
    market = await ex.market()
    await ex.place(ada, market, "BUY", "YES", 50, 5)

    crossing = await ex.place(bob, market, "BUY", "NO", 50, 5, postOnly=True)
    assert crossing == crossing | {"status": "REJECTED", "filled": 0, "reservedCash": 0}
    assert await ex.money(bob, market) == (START, 0, {})

    maker = await ex.place(bob, market, "BUY", "NO", 45, 5, postOnly=True)  # a YES ask at 55
    assert maker["status"] == "OPEN"
    assert await ex.money(bob, market) == (START - 225, 225, {})
    await eventually(lambda: ex.sides(market), (levels((50, 5)), levels((55, 5)), None))
    await eventually(lambda: ex.live(market), (None, 50, 55, 0))


# -- amend, cancel, cancel-all ---------------------------------------------------------------


async def test_amend_a_size_decrease_keeps_priority_a_price_change_loses_it(ex: Exchange) -> None:
    ada, bob = await ex.trader("ada"), await ex.trader("bob")
    carl, dave = await ex.trader("carl"), await ex.trader("dave")
    market = await ex.market()
    first = await ex.place(ada, market, "BUY", "YES", 50, 5)
    second = await ex.place(bob, market, "BUY", "YES", 50, 5)
    third = await ex.place(carl, market, "BUY", "YES", 50, 5)

    smaller = await ex.amend(ada, first, quantity=3)
    assert (smaller["quantity"], smaller["reservedCash"]) == (3, 150)
    assert await ex.cash(ada) == (START - 150, 150)
    moved = await ex.amend(bob, second, price=51)
    assert (moved["price"], moved["reservedCash"]) == (51, 255)
    back = await ex.amend(bob, second, price=50)  # the same level, now behind carl
    assert (back["price"], back["reservedCash"]) == (50, 250)
    assert await ex.cash(bob) == (START - 250, 250)

    # 6 shares at 50: ada's 3 first (she kept her place), then carl's, not bob's
    taker = await ex.place(dave, market, "BUY", "NO", 50, 6)
    assert taker == taker | {"status": "FILLED", "filledCost": 300}
    assert (await ex.order(ada, first))["status"] == "FILLED"
    partly = await ex.order(carl, third)
    assert (partly["status"], partly["filled"]) == ("PARTIALLY_FILLED", 3)
    assert (await ex.order(bob, second))["filled"] == 0
    assert await ex.money(ada, market) == (START - 150, 0, {"YES": (3, 0)})
    assert await ex.money(carl, market) == (START - 250, 100, {"YES": (3, 0)})
    assert await ex.money(bob, market) == (START - 250, 250, {})
    assert await ex.money(dave, market) == (START - 300, 0, {"NO": (6, 0)})
    await eventually(lambda: ex.sides(market), (levels((50, 7)), [], 50))


async def test_cancel_one_order_then_cancel_all_in_every_market(ex: Exchange) -> None:
    ada, bob = await ex.trader("ada"), await ex.trader("bob")
    rain, snow = await ex.market(), await ex.market()
    await _mint(ex, rain, ada, bob, 50, 10)
    bid = await ex.place(ada, rain, "BUY", "YES", 40, 5)
    ask = await ex.place(ada, rain, "SELL", "YES", 70, 4)
    other = await ex.place(ada, snow, "BUY", "NO", 30, 10)
    assert await ex.money(ada, rain) == (START - 500 - 200 - 300, 500, {"YES": (6, 4)})

    cancelled = await ex.cancel(ada, bid)
    assert (cancelled["status"], cancelled["reservedCash"]) == ("CANCELLED", 0)
    assert await ex.cash(ada) == (START - 500 - 300, 300)

    done = (await gql(ex.http, CANCEL_ALL, headers=ada.headers))["cancelAllOrders"]
    assert done["requested"] == 2  # one command per market with live orders
    assert sorted(o["id"] for o in done["orders"]) == sorted([ask["id"], other["id"]])
    assert {o["status"] for o in done["orders"]} == {"CANCELLED"}
    assert await ex.money(ada, rain) == (START - 500, 0, {"YES": (10, 0)})
    assert await ex.money(bob, rain) == (START - 500, 0, {"NO": (10, 0)})
    await eventually(lambda: ex.sides(rain), ([], [], 50))
    await eventually(lambda: ex.sides(snow), ([], [], None))


# -- the market's life -----------------------------------------------------------------------


async def test_halt_refuses_orders_keeps_the_book_and_resume_trades_again(ex: Exchange) -> None:
    ada, bob = await ex.trader("ada"), await ex.trader("bob")
    market = await ex.market()
    bid = await ex.place(ada, market, "BUY", "YES", 40, 5)

    assert await ex.admin(HALT, market) == {
        "__typename": "MarketHalted",
        "market": {"status": "HALTED"},
    }
    refused = await ex.submit(bob, market, "BUY", "NO", 60, 5)
    assert (refused["__typename"], refused["status"]) == ("MarketClosed", "HALTED")
    amend = (await gql(ex.http, AMEND, {"id": bid["id"], "price": 41}, ada.headers))["amendOrder"]
    assert amend["__typename"] == "MarketClosed"
    assert await ex.money(bob, market) == (START, 0, {})
    assert (await ex.order(ada, bid))["status"] == "OPEN"
    await eventually(lambda: ex.sides(market), (levels((40, 5)), [], None))
    # the HALT went to the matcher too, ordered after the bid
    await eventually(lambda: _commands(ex, market), [("PLACE", True), ("HALT", True)])

    assert await ex.admin(RESUME, market) == {
        "__typename": "MarketResumed",
        "market": {"status": "OPEN"},
    }
    taker = await ex.place(bob, market, "BUY", "NO", 60, 5)  # meets the bid kept through the halt
    assert taker == taker | {"status": "FILLED", "filledCost": 300}
    assert await ex.money(ada, market) == (START - 200, 0, {"YES": (5, 0)})
    assert await ex.money(bob, market) == (START - 300, 0, {"NO": (5, 0)})
    assert [kind for kind, _ in await _commands(ex, market)] == [
        "PLACE",
        "HALT",
        "RESUME",
        "PLACE",
    ]


async def test_close_at_closes_at_cancels_resting_orders_then_resolve_no_pays_no(
    ex: Exchange,
) -> None:
    ada, bob = await ex.trader("ada"), await ex.trader("bob")
    market = await ex.market(closes_in=timedelta(seconds=2.5))
    bid = await ex.place(ada, market, "BUY", "YES", 60, 10)
    await ex.place(bob, market, "BUY", "NO", 40, 4)  # 4 pairs at 60
    ask = await ex.place(bob, market, "SELL", "NO", 70, 2)  # a YES bid at 30
    assert await ex.money(ada, market) == (START - 600, 360, {"YES": (4, 0)})
    assert await ex.money(bob, market) == (START - 160, 0, {"NO": (2, 2)})

    # the closer closes it on time and sends CLOSE; the matcher cancels what rests
    await eventually(lambda: ex.status(ada, bid), "CANCELLED")
    closed = await ex.order(ada, bid)
    assert (closed["filled"], closed["reservedCash"]) == (4, 0)
    assert (await ex.order(bob, ask))["status"] == "CANCELLED"
    assert await ex.money(ada, market) == (START - 240, 0, {"YES": (4, 0)})
    assert await ex.money(bob, market) == (START - 160, 0, {"NO": (4, 0)})
    assert (await ex.figures(market))["status"] == "CLOSED"
    assert await _commands(ex, market) == [("PLACE", True)] * 3 + [("CLOSE", True)]
    late = await ex.submit(ada, market, "BUY", "YES", 50, 1)
    assert (late["__typename"], late["status"]) == ("MarketClosed", "CLOSED")
    await eventually(lambda: ex.sides(market), ([], [], 60))

    resolved = await ex.admin(RESOLVE, market, outcome="NO")
    assert resolved == {
        "__typename": "MarketResolutionRequested",
        "market": {"status": "RESOLVED", "resolution": "NO", "collateral": 0},
    }
    assert await ex.money(bob, market) == (START - 160 + 4 * 100, 0, {"NO": (0, 0)})
    assert await ex.money(ada, market) == (START - 240, 0, {"YES": (0, 0)})
    assert await ex.pnl(bob, market) == {"NO": (0, 400 - 160)}
    assert await ex.pnl(ada, market) == {"YES": (0, -240)}


async def test_resolve_yes_pays_winners_once(ex: Exchange) -> None:
    ada, bob, carl = await ex.trader("ada"), await ex.trader("bob"), await ex.trader("carl")
    market = await ex.market()
    await _mint(ex, market, ada, bob, 70, 10)
    await ex.place(ada, market, "SELL", "YES", 80, 4)
    await ex.place(carl, market, "BUY", "YES", 80, 4)
    bid = await ex.place(bob, market, "BUY", "YES", 20, 5)
    assert await ex.pnl(ada, market) == {"YES": (420, 320 - 280)}
    assert await ex.money(bob, market) == (START - 300 - 100, 100, {"NO": (10, 0)})

    early = await ex.admin(RESOLVE, market, outcome="YES")
    assert (early["__typename"], early["message"]) == (
        "InvalidState",
        "The market is OPEN; this needs it CLOSED or HALTED.",
    )
    assert (await ex.admin(HALT, market))["__typename"] == "MarketHalted"
    resolved = await ex.admin(RESOLVE, market, outcome="YES")
    assert resolved == {
        "__typename": "MarketResolutionRequested",
        "market": {"status": "RESOLVED", "resolution": "YES", "collateral": 0},
    }
    paid = {
        ada: (START - 700 + 320 + 6 * 100, 0, {"YES": (0, 0)}),
        carl: (START - 320 + 4 * 100, 0, {"YES": (0, 0)}),
        bob: (START - 300, 0, {"NO": (0, 0)}),  # his resting bid was cancelled, 100 released
    }
    for who, expected in paid.items():
        assert await ex.money(who, market) == expected
    assert (await ex.order(bob, bid))["status"] == "CANCELLED"
    # paid shares leave the position; what they cost turns into realized PnL
    assert await ex.pnl(ada, market) == {"YES": (0, 40 + 600 - 420)}
    assert await ex.pnl(carl, market) == {"YES": (0, 400 - 320)}
    assert await ex.pnl(bob, market) == {"NO": (0, -300)}
    payouts = (await gql(ex.http, PAYOUTS, headers=ada.headers))["ledger"]["edges"]
    assert [e["node"] for e in payouts if e["node"]["kind"] == "PAYOUT"] == [
        {"kind": "PAYOUT", "asset": "CASH", "bucket": "AVAILABLE", "amount": 600},
        {"kind": "PAYOUT", "asset": "YES", "bucket": "AVAILABLE", "amount": -6},
    ]

    again = await ex.admin(RESOLVE, market, outcome="NO")
    assert (again["__typename"], again["message"]) == (
        "InvalidState",
        "The market is RESOLVED; this needs it CLOSED or HALTED.",
    )
    # a RESOLVE that reaches the matcher anyway (sent twice) is applied as nothing
    connections = ex.stack.connections
    async with connections.sessions() as session:
        duplicate = await dispatch.queue(session, Resolve, int(market), "NO")
        await session.commit()
    await dispatch.send(connections, [duplicate])
    await eventually(lambda: _applied(ex, duplicate.command_id), True)
    for who, expected in paid.items():
        assert await ex.money(who, market) == expected
    assert (await ex.figures(market))["resolution"] == "YES"


async def _commands(ex: Exchange, market: str) -> list[tuple[str, bool]]:
    """(kind, applied) of the commands queued for the market, in order (from Postgres)."""
    async with ex.stack.connections.sessions() as session:
        rows = await session.execute(
            text(
                "SELECT kind, applied_at IS NOT NULL FROM commands WHERE market_id = :m ORDER BY id"
            ),
            {"m": int(market)},
        )
        return [(kind, bool(applied)) for kind, applied in rows]


async def _applied(ex: Exchange, command_id: int) -> bool:
    async with ex.stack.connections.sessions() as session:
        applied = await session.scalar(
            text("SELECT applied_at IS NOT NULL FROM commands WHERE id = :c"), {"c": command_id}
        )
    return bool(applied)


async def test_resolve_void_pays_fifty_a_share_once_when_asked_twice_at_once(
    ex: Exchange,
) -> None:
    ada, bob = await ex.trader("ada"), await ex.trader("bob")
    market = await ex.market()
    await _mint(ex, market, ada, bob, 60, 10)
    assert (await ex.admin(HALT, market))["__typename"] == "MarketHalted"

    answers = await asyncio.gather(
        ex.admin(RESOLVE, market, outcome="VOID"), ex.admin(RESOLVE, market, outcome="VOID")
    )
    kinds = sorted(a["__typename"] for a in answers)
    assert kinds == ["InvalidState", "MarketResolutionRequested"]
    [done] = [a for a in answers if a["__typename"] == "MarketResolutionRequested"]
    assert done["market"] == {"status": "VOIDED", "resolution": None, "collateral": 0}
    assert await ex.money(ada, market) == (START - 600 + 10 * 50, 0, {"YES": (0, 0)})
    assert await ex.money(bob, market) == (START - 400 + 10 * 50, 0, {"NO": (0, 0)})
    assert await ex.pnl(ada, market) == {"YES": (0, 500 - 600)}
    assert await ex.pnl(bob, market) == {"NO": (0, 500 - 400)}


async def test_only_an_admin_resolves_and_only_once_while_a_resolution_is_on_its_way(
    ex: Exchange,
) -> None:
    ada, bob = await ex.trader("ada"), await ex.trader("bob")
    market = await ex.market()
    await _mint(ex, market, ada, bob, 30, 10)
    assert (await ex.admin(HALT, market))["__typename"] == "MarketHalted"
    asked = {"id": market, "outcome": "YES"}
    by_ada = (await gql(ex.http, RESOLVE, asked, ada.headers))["resolveMarket"]
    assert (by_ada["__typename"], by_ada["code"]) == ("Forbidden", "FORBIDDEN")
    anonymous = (await gql(ex.http, RESOLVE, asked))["resolveMarket"]
    assert anonymous["__typename"] == "NotAuthenticated"
    for missing in ("424242", "abc"):
        nothing = await ex.admin(RESOLVE, missing, outcome="YES")
        assert (nothing["__typename"], nothing["field"]) == ("NotFound", "id")

    # a RESOLVE committed but not yet delivered (the API died before producing it)
    connections = ex.stack.connections
    async with connections.sessions() as session:
        queued = await dispatch.queue(session, Resolve, int(market), "YES")
        await session.commit()
    refused = await ex.admin(RESOLVE, market, outcome="NO")
    assert (refused["__typename"], refused["message"]) == (
        "InvalidState",
        "The market's resolution is already on its way.",
    )
    await dispatch.send(connections, [queued])  # as the matcher's sweeper re-sends it
    await eventually(lambda: ex.status_of(market), "RESOLVED")
    assert (await ex.figures(market))["resolution"] == "YES"
    assert await ex.money(ada, market) == (START - 300 + 10 * 100, 0, {"YES": (0, 0)})
    assert await ex.money(bob, market) == (START - 700, 0, {"NO": (0, 0)})
    assert await ex.pnl(ada, market) == {"YES": (0, 1_000 - 300)}
    assert await ex.pnl(bob, market) == {"NO": (0, -700)}


async def test_no_resolution_while_an_order_has_not_reached_the_matcher(ex: Exchange) -> None:
    ada, bob = await ex.trader("ada"), await ex.trader("bob")
    market = await ex.market()
    await _mint(ex, market, ada, bob, 50, 4)
    # ada's sell is committed (its shares reserved) but its message is lost
    sell = NewOrder(
        market_id=int(market),
        side=Side.SELL,
        outcome=Outcome.YES,
        kind=OrderKind.LIMIT,
        time_in_force=TimeInForce.GTC,
        post_only=False,
        stp=SelfTradePrevention.CANCEL_RESTING,
        price=60,
        quantity=4,
    )
    async with ex.stack.connections.sessions() as session:
        [accepted] = await place_orders(session, ada.id, [sell], datetime.now(UTC))
        await session.commit()
    assert isinstance(accepted, Accepted)
    assert accepted.command_id is not None
    assert (await ex.admin(HALT, market))["__typename"] == "MarketHalted"
    assert await ex.money(ada, market) == (START - 200, 0, {"YES": (0, 4)})

    refused = await ex.admin(RESOLVE, market, outcome="YES")
    assert (refused["__typename"], refused["message"]) == (
        "InvalidState",
        "Orders of the market are still on their way to its matcher; try again in a moment.",
    )
    # the sweeper re-sends it; the halted book refuses it and its shares come back
    late = Place(
        accepted.command_id,
        int(market),
        accepted.order_id,
        ada.id,
        int(engine.Side.SELL),
        int(engine.Outcome.YES),
        60,
        4,
        int(engine.OrderKind.GTC),
        None,
        None,
        int(engine.Stp.CANCEL_RESTING),
    )
    await dispatch.send(ex.stack.connections, [late])
    await eventually(lambda: ex.status(ada, {"id": str(accepted.order_id)}), "REJECTED")
    assert await ex.money(ada, market) == (START - 200, 0, {"YES": (4, 0)})

    resolved = await ex.admin(RESOLVE, market, outcome="YES")
    assert resolved["__typename"] == "MarketResolutionRequested"
    assert await ex.money(ada, market) == (START - 200 + 400, 0, {"YES": (0, 0)})
    assert await ex.pnl(ada, market) == {"YES": (0, 400 - 200)}
    assert await ex.money(bob, market) == (START - 200, 0, {"NO": (0, 0)})


async def test_close_reaching_a_matcher_that_rebuilds_the_book_cancels_resting_orders(
    ex: Exchange,
) -> None:
    ada = await ex.trader("ada")
    market = await ex.market(closes_in=timedelta(seconds=1.5))
    bid = await ex.place(ada, market, "BUY", "YES", 40, 5)
    ex.stack.matcher.books.pop(int(market))  # as after a restart: rebuilt on its next command
    await eventually(lambda: ex.status(ada, bid), "CANCELLED", seconds=4)
    assert await ex.cash(ada) == (START, 0)
