"""The portfolio over real HTTP: each viewer reads their own positions, orders and trades,
and nobody else's. The rows are written straight to the database as the matcher would,
with balanced ledger journals, so the audit after each test stays exact."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from auth.tokens import digest
from db.enums import ApiScope, Asset, EntryKind, LedgerAccount, Role
from db.ledger import Leg, post_journal
from db.markets import create_market
from db.money import add_cash
from db.users import create_api_key
from resolvers.paging import encode_cursor
from tests.api.factories import Member, gql, member
from workers.connections import Connections

POSITIONS = """
query($market: ID) {
  positions(marketId: $market) {
    __typename
    ... on PositionList {
      positions {
        market { title } outcome shares sharesAvailable sharesReserved costBasis averageCost
        markValue unrealizedPnl realizedPnl
      }
    }
    ... on Error { code message field }
  }
}"""
ORDER_FIELDS = """
  id clientOrderId side outcome kind timeInForce postOnly stp price quantity budget filled
  remaining filledCost averageFillPrice reservedCash reservedShares status reason expiresAt
  createdAt updatedAt market { title }
"""
ORDERS = f"""
query($status: [OrderStatus!], $market: ID, $first: Int!, $after: String) {{
  orders(status: $status, marketId: $market, first: $first, after: $after) {{
    __typename
    ... on OrderConnection {{
      edges {{ cursor node {{ {ORDER_FIELDS} }} }}
      pageInfo {{ hasNextPage endCursor }}
      totalCount
    }}
    ... on Error {{ code message field }}
  }}
}}"""
ORDER = f"""
query($id: ID!) {{
  order(id: $id) {{
    __typename
    ... on Order {{ {ORDER_FIELDS} }}
    ... on Error {{ code message field }}
  }}
}}"""
TRADES = """
query($market: ID, $first: Int!, $after: String) {
  trades(marketId: $market, first: $first, after: $after) {
    __typename
    ... on TradeConnection {
      edges {
        cursor
        node {
          id seq kind yesPrice price quantity side outcome role orderId createdAt
          market { title }
        }
      }
      pageInfo { hasNextPage endCursor }
      totalCount
    }
    ... on Error { code message field }
  }
}"""


@dataclass(frozen=True)
class Book:
    """What `_trade_a_little` made: the markets and every order id, by name."""

    rain: int
    snow: int
    orders: dict[str, int]
    trades: dict[str, int]


async def _order(
    session: AsyncSession,
    user: int,
    market: int,
    side: str,
    outcome: str,
    price: int,
    quantity: int,
    status: str,
    *,
    filled: int = 0,
    reserved_cash: int = 0,
    reserved_shares: int = 0,
    reason: str | None = None,
    client_order_id: str | None = None,
) -> int:
    inserted = await session.execute(
        text(
            "INSERT INTO orders (user_id, market_id, client_order_id, side, outcome, kind,"
            " time_in_force, post_only, stp, price, quantity, filled, filled_cost, reserved_cash,"
            " reserved_shares, status, reason) VALUES (:user, :market, :client, :side, :outcome,"
            " 'LIMIT', 'GTC', false, 'CANCEL_RESTING', :price, :quantity, :filled, :cost,"
            " :reserved_cash, :reserved_shares, :status, :reason) RETURNING id"
        ),
        {
            "user": user,
            "market": market,
            "client": client_order_id,
            "side": side,
            "outcome": outcome,
            "price": price,
            "quantity": quantity,
            "filled": filled,
            "cost": filled * price,
            "reserved_cash": reserved_cash,
            "reserved_shares": reserved_shares,
            "status": status,
            "reason": reason,
        },
    )
    return int(inserted.scalar_one())


async def _add_shares(
    session: AsyncSession, user: int, market: int, outcome: str, shares: int, cost: int
) -> None:
    await session.execute(
        text(
            "INSERT INTO positions (user_id, market_id, outcome, shares_available, cost_basis)"
            " VALUES (:user, :market, :outcome, :shares, :cost)"
            " ON CONFLICT (user_id, market_id, outcome) DO UPDATE SET"
            " shares_available = positions.shares_available + EXCLUDED.shares_available,"
            " cost_basis = positions.cost_basis + EXCLUDED.cost_basis"
        ),
        {"user": user, "market": market, "outcome": outcome, "shares": shares, "cost": cost},
    )


async def _mint(
    session: AsyncSession,
    market: int,
    seq: int,
    yes_price: int,
    quantity: int,
    maker: tuple[int, int],
    taker: tuple[int, int],
) -> int:
    """A MINT: the maker (user, order) bought YES, the taker bought NO; 100 cents a pair
    move into the market's collateral and both sides receive new shares."""
    (yes_user, yes_order), (no_user, no_order) = maker, taker
    yes_cost, no_cost = yes_price * quantity, (100 - yes_price) * quantity
    trade = (
        await session.execute(
            text(
                "INSERT INTO trades (market_id, seq, kind, yes_price, quantity, maker_order_id,"
                " taker_order_id, maker_user_id, taker_user_id) VALUES (:market, :seq, 'MINT',"
                " :price, :quantity, :maker_order, :taker_order, :maker, :taker) RETURNING id"
            ),
            {
                "market": market,
                "seq": seq,
                "price": yes_price,
                "quantity": quantity,
                "maker_order": yes_order,
                "taker_order": no_order,
                "maker": yes_user,
                "taker": no_user,
            },
        )
    ).scalar_one()
    await post_journal(
        session,
        EntryKind.TRADE,
        [
            Leg(LedgerAccount.USER_AVAILABLE, Asset.CASH, -yes_cost, user_id=yes_user),
            Leg(LedgerAccount.USER_AVAILABLE, Asset.CASH, -no_cost, user_id=no_user),
            Leg(LedgerAccount.MARKET_COLLATERAL, Asset.CASH, 100 * quantity, market_id=market),
            Leg(LedgerAccount.MARKET_ISSUANCE, Asset.YES, -quantity, market_id=market),
            Leg(LedgerAccount.USER_AVAILABLE, Asset.YES, quantity, yes_user, market),
            Leg(LedgerAccount.MARKET_ISSUANCE, Asset.NO, -quantity, market_id=market),
            Leg(LedgerAccount.USER_AVAILABLE, Asset.NO, quantity, no_user, market),
        ],
    )
    for user, cost in ((yes_user, yes_cost), (no_user, no_cost)):
        await session.execute(
            text("UPDATE accounts SET cash_available = cash_available - :cost WHERE user_id = :u"),
            {"cost": cost, "u": user},
        )
    await session.execute(
        text(
            "UPDATE markets SET collateral = collateral + :c, pairs_outstanding ="
            " pairs_outstanding + :q WHERE id = :m"
        ),
        {"c": 100 * quantity, "q": quantity, "m": market},
    )
    await _add_shares(session, yes_user, market, "YES", quantity, yes_cost)
    await _add_shares(session, no_user, market, "NO", quantity, no_cost)
    return int(trade)


async def _reserve_shares(
    session: AsyncSession, user: int, market: int, outcome: str, shares: int, order: int
) -> None:
    asset = Asset(outcome)
    await post_journal(
        session,
        EntryKind.RESERVE,
        [
            Leg(LedgerAccount.USER_AVAILABLE, asset, -shares, user, market, order),
            Leg(LedgerAccount.USER_RESERVED, asset, shares, user, market, order),
        ],
    )
    await session.execute(
        text(
            "UPDATE positions SET shares_available = shares_available - :s,"
            " shares_reserved = shares_reserved + :s"
            " WHERE user_id = :u AND market_id = :m AND outcome = :o"
        ),
        {"s": shares, "u": user, "m": market, "o": outcome},
    )


async def _reserve_cash(session: AsyncSession, user: int, cents: int, order: int) -> None:
    await post_journal(
        session,
        EntryKind.RESERVE,
        [
            Leg(LedgerAccount.USER_AVAILABLE, Asset.CASH, -cents, user_id=user, order_id=order),
            Leg(LedgerAccount.USER_RESERVED, Asset.CASH, cents, user_id=user, order_id=order),
        ],
    )
    await session.execute(
        text(
            "UPDATE accounts SET cash_available = cash_available - :c,"
            " cash_reserved = cash_reserved + :c WHERE user_id = :u"
        ),
        {"c": cents, "u": user},
    )


async def trade_a_little(connections: Connections, ada: Member, bob: Member) -> Book:
    """ada and bob mint pairs in two markets; each also has an order resting or cancelled."""
    async with connections.sessions() as session:
        markets = []
        for title in ("Will it rain?", "Will it snow?"):
            row = await create_market(
                session,
                title=title,
                description="",
                rules="",
                image_url=None,
                category="weather",
                closes_at=datetime.now(UTC) + timedelta(days=7),
                created_by=ada.id,
            )
            assert row.id is not None
            markets.append(row.id)
        rain, snow = markets
        await add_cash(session, ada.id, 10_000)
        await add_cash(session, bob.id, 10_000)
        o: dict[str, int] = {}
        t: dict[str, int] = {}
        o["ada_rain_yes"] = await _order(
            session, ada.id, rain, "BUY", "YES", 60, 10, "FILLED", filled=10, client_order_id="a1"
        )
        o["bob_rain_no"] = await _order(
            session, bob.id, rain, "BUY", "NO", 40, 10, "FILLED", filled=10
        )
        t["rain"] = await _mint(
            session, rain, 1, 60, 10, (ada.id, o["ada_rain_yes"]), (bob.id, o["bob_rain_no"])
        )
        o["bob_snow_yes"] = await _order(
            session, bob.id, snow, "BUY", "YES", 25, 4, "FILLED", filled=4
        )
        o["ada_snow_no"] = await _order(
            session, ada.id, snow, "BUY", "NO", 75, 4, "FILLED", filled=4
        )
        t["snow"] = await _mint(
            session, snow, 1, 25, 4, (bob.id, o["bob_snow_yes"]), (ada.id, o["ada_snow_no"])
        )
        o["ada_rain_sell"] = await _order(
            session, ada.id, rain, "SELL", "YES", 70, 4, "OPEN", reserved_shares=4
        )
        await _reserve_shares(session, ada.id, rain, "YES", 4, o["ada_rain_sell"])
        o["ada_snow_cancelled"] = await _order(
            session, ada.id, snow, "BUY", "YES", 30, 10, "CANCELLED", reason="cancelled by user"
        )
        o["bob_rain_bid"] = await _order(
            session, bob.id, rain, "BUY", "YES", 50, 2, "OPEN", reserved_cash=100
        )
        await _reserve_cash(session, bob.id, 100, o["bob_rain_bid"])
        await session.commit()
    return Book(rain, snow, o, t)


async def test_a_trader_reads_their_positions(
    http: httpx.AsyncClient, connections: Connections
) -> None:
    ada = await member(connections, "ada")
    bob = await member(connections, "bob")
    book = await trade_a_little(connections, ada, bob)

    mine = (await gql(http, POSITIONS, headers=ada.headers))["positions"]

    assert mine == {
        "__typename": "PositionList",
        "positions": [
            {
                "market": {"title": "Will it rain?"},
                "outcome": "YES",
                "shares": 10,
                "sharesAvailable": 6,
                "sharesReserved": 4,
                "costBasis": 600,
                "averageCost": 60.0,
                "markValue": None,
                "unrealizedPnl": None,
                "realizedPnl": 0,
            },
            {
                "market": {"title": "Will it snow?"},
                "outcome": "NO",
                "shares": 4,
                "sharesAvailable": 4,
                "sharesReserved": 0,
                "costBasis": 300,
                "averageCost": 75.0,
                "markValue": None,
                "unrealizedPnl": None,
                "realizedPnl": 0,
            },
        ],
    }
    bobs = (await gql(http, POSITIONS, headers=bob.headers))["positions"]["positions"]
    assert [(p["market"]["title"], p["outcome"], p["shares"]) for p in bobs] == [
        ("Will it rain?", "NO", 10),
        ("Will it snow?", "YES", 4),
    ]
    only_snow = await gql(http, POSITIONS, {"market": str(book.snow)}, ada.headers)
    assert [p["outcome"] for p in only_snow["positions"]["positions"]] == ["NO"]


async def test_a_trader_reads_their_orders(
    http: httpx.AsyncClient, connections: Connections
) -> None:
    ada = await member(connections, "ada")
    bob = await member(connections, "bob")
    book = await trade_a_little(connections, ada, bob)
    o = book.orders

    everything = (await gql(http, ORDERS, {"first": 10}, ada.headers))["orders"]

    assert everything["__typename"] == "OrderConnection"
    assert everything["totalCount"] == 4
    assert [e["node"]["id"] for e in everything["edges"]] == [
        str(o[name])
        for name in ("ada_snow_cancelled", "ada_rain_sell", "ada_snow_no", "ada_rain_yes")
    ]
    first = everything["edges"][-1]["node"]
    assert {k: v for k, v in first.items() if k not in ("createdAt", "updatedAt")} == {
        "id": str(o["ada_rain_yes"]),
        "clientOrderId": "a1",
        "side": "BUY",
        "outcome": "YES",
        "kind": "LIMIT",
        "timeInForce": "GTC",
        "postOnly": False,
        "stp": "CANCEL_RESTING",
        "price": 60,
        "quantity": 10,
        "budget": None,
        "filled": 10,
        "remaining": 0,
        "filledCost": 600,
        "averageFillPrice": 60.0,
        "reservedCash": 0,
        "reservedShares": 0,
        "status": "FILLED",
        "reason": None,
        "expiresAt": None,
        "market": {"title": "Will it rain?"},
    }
    resting = everything["edges"][1]["node"]
    assert (resting["status"], resting["remaining"], resting["reservedShares"]) == ("OPEN", 4, 4)
    assert resting["averageFillPrice"] is None
    assert everything["edges"][0]["node"]["reason"] == "cancelled by user"

    async def ids(variables: dict[str, Any]) -> list[int]:
        found = (await gql(http, ORDERS, {"first": 10, **variables}, ada.headers))["orders"]
        return [int(e["node"]["id"]) for e in found["edges"]]

    assert await ids({"status": ["OPEN", "PARTIALLY_FILLED", "PENDING"]}) == [o["ada_rain_sell"]]
    assert await ids({"status": "CANCELLED"}) == [o["ada_snow_cancelled"]]
    assert await ids({"market": str(book.rain)}) == [o["ada_rain_sell"], o["ada_rain_yes"]]
    assert await ids({"market": str(book.rain), "status": ["FILLED"]}) == [o["ada_rain_yes"]]
    assert await ids({"status": []}) == []

    one = (await gql(http, ORDER, {"id": str(o["ada_rain_yes"])}, ada.headers))["order"]
    assert one == {"__typename": "Order", **first}


async def test_a_trader_reads_their_trades_from_their_own_side(
    http: httpx.AsyncClient, connections: Connections
) -> None:
    ada = await member(connections, "ada")
    bob = await member(connections, "bob")
    book = await trade_a_little(connections, ada, bob)

    def seen(found: dict[str, Any]) -> list[tuple[Any, ...]]:
        return [
            (
                int(n["id"]),
                n["kind"],
                n["yesPrice"],
                n["price"],
                n["quantity"],
                n["side"],
                n["outcome"],
                n["role"],
                int(n["orderId"]),
                n["market"]["title"],
                n["seq"],
            )
            for n in (e["node"] for e in found["trades"]["edges"])
        ]

    adas = await gql(http, TRADES, {"first": 10}, ada.headers)
    bobs = await gql(http, TRADES, {"first": 10}, bob.headers)

    rain, snow, o = book.trades["rain"], book.trades["snow"], book.orders
    assert seen(adas) == [
        (snow, "MINT", 25, 75, 4, "BUY", "NO", "TAKER", o["ada_snow_no"], "Will it snow?", 1),
        (rain, "MINT", 60, 60, 10, "BUY", "YES", "MAKER", o["ada_rain_yes"], "Will it rain?", 1),
    ]
    assert seen(bobs) == [
        (snow, "MINT", 25, 25, 4, "BUY", "YES", "MAKER", o["bob_snow_yes"], "Will it snow?", 1),
        (rain, "MINT", 60, 40, 10, "BUY", "NO", "TAKER", o["bob_rain_no"], "Will it rain?", 1),
    ]
    assert adas["trades"]["totalCount"] == 2
    in_rain = await gql(http, TRADES, {"first": 10, "market": str(book.rain)}, ada.headers)
    assert [t[0] for t in seen(in_rain)] == [rain]
    assert in_rain["trades"]["totalCount"] == 1


async def test_pages_of_orders_and_trades_walk_without_gaps(
    http: httpx.AsyncClient, connections: Connections
) -> None:
    ada = await member(connections, "ada")
    bob = await member(connections, "bob")
    await trade_a_little(connections, ada, bob)

    for document, name, total in ((ORDERS, "orders", 4), (TRADES, "trades", 2)):
        whole = (await gql(http, document, {"first": 100}, ada.headers))[name]
        walked: list[str] = []
        after = None
        while True:
            page = (await gql(http, document, {"first": 1, "after": after}, ada.headers))[name]
            assert page["totalCount"] == total
            walked += [e["cursor"] for e in page["edges"]]
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        assert walked == [e["cursor"] for e in whole["edges"]]
        assert len(set(walked)) == total


async def test_another_user_sees_nothing_and_their_orders_are_not_found(
    http: httpx.AsyncClient, connections: Connections
) -> None:
    ada = await member(connections, "ada")
    bob = await member(connections, "bob")
    cy = await member(connections, "cy")
    book = await trade_a_little(connections, ada, bob)

    assert (await gql(http, POSITIONS, headers=cy.headers))["positions"] == {
        "__typename": "PositionList",
        "positions": [],
    }
    for document, name in ((ORDERS, "orders"), (TRADES, "trades")):
        empty = (await gql(http, document, {"first": 10}, cy.headers))[name]
        assert (empty["edges"], empty["totalCount"], empty["pageInfo"]["hasNextPage"]) == (
            [],
            0,
            False,
        )
        filtered = (await gql(http, document, {"first": 10, "market": str(book.rain)}, cy.headers))[
            name
        ]
        assert filtered["edges"] == []

    # Another user's order reads exactly like one that does not exist.
    adas_order = str(book.orders["ada_rain_yes"])
    missing = str(max(book.orders.values()) + 1000)
    theirs = (await gql(http, ORDER, {"id": adas_order}, cy.headers))["order"]
    nothing = (await gql(http, ORDER, {"id": missing}, cy.headers))["order"]
    assert theirs == {
        "__typename": "NotFound",
        "code": "NOT_FOUND",
        "message": f"You have no order with the id '{adas_order}'.",
        "field": "id",
    }
    assert nothing == {**theirs, "message": f"You have no order with the id '{missing}'."}
    # Nor can bob see ada's side of the very trade they made together.
    bobs_view = (await gql(http, ORDER, {"id": adas_order}, bob.headers))["order"]
    assert bobs_view["__typename"] == "NotFound"


@pytest.mark.parametrize(
    ("document", "name", "variables"),
    [
        (POSITIONS, "positions", {}),
        (ORDERS, "orders", {"first": 5}),
        (ORDER, "order", {"id": "1"}),
        (TRADES, "trades", {"first": 5}),
    ],
)
async def test_anonymous_callers_are_not_authenticated(
    http: httpx.AsyncClient,
    connections: Connections,
    document: str,
    name: str,
    variables: dict[str, Any],
) -> None:
    ada = await member(connections, "ada")
    bob = await member(connections, "bob")
    await trade_a_little(connections, ada, bob)
    for headers in (None, {"Authorization": "Bearer tampered.token.here"}):
        refused = (await gql(http, document, variables, headers))[name]
        assert (refused["__typename"], refused["code"]) == (
            "NotAuthenticated",
            "NOT_AUTHENTICATED",
        )


async def test_api_keys_need_the_read_scope(
    http: httpx.AsyncClient, connections: Connections
) -> None:
    ada = await member(connections, "ada")
    bob = await member(connections, "bob")
    await trade_a_little(connections, ada, bob)
    async with connections.sessions() as session:
        for secret, scopes in (("pk_reader", [ApiScope.READ]), ("pk_trader", [ApiScope.TRADE])):
            await create_api_key(session, ada.id, secret, secret[:6], digest(secret), scopes)
        await session.commit()

    reader = {"X-Api-Key": "pk_reader"}
    read = (await gql(http, ORDERS, {"first": 10}, reader))["orders"]
    assert read["totalCount"] == 4
    for document, name, variables in (
        (POSITIONS, "positions", {}),
        (ORDERS, "orders", {"first": 5}),
        (ORDER, "order", {"id": "1"}),
        (TRADES, "trades", {"first": 5}),
    ):
        refused = (await gql(http, document, variables, {"X-Api-Key": "pk_trader"}))[name]
        assert (refused["__typename"], refused["code"]) == ("Forbidden", "FORBIDDEN")


@pytest.mark.parametrize(
    ("variables", "field"),
    [
        ({"first": 0}, "first"),
        ({"first": 101}, "first"),
        ({"first": 5, "after": "garbage"}, "after"),
        ({"first": 5, "after": encode_cursor("market", 1)}, "after"),  # another list's
        ({"first": 5, "after": encode_cursor("order", -1)}, "after"),
        ({"first": 5, "after": encode_cursor("order", "1")}, "after"),
        ({"first": 5, "market": "rain"}, "marketId"),
    ],
)
async def test_bad_portfolio_arguments_get_invalid_input(
    http: httpx.AsyncClient, connections: Connections, variables: dict[str, Any], field: str
) -> None:
    ada = await member(connections, "ada")
    for document, name in ((ORDERS, "orders"), (TRADES, "trades")):
        refused = (await gql(http, document, variables, ada.headers))[name]
        assert (refused["__typename"], refused["field"]) == ("InvalidInput", field)
    if "market" in variables:
        refused = (await gql(http, POSITIONS, {"market": "rain"}, ada.headers))["positions"]
        assert (refused["__typename"], refused["field"]) == ("InvalidInput", "marketId")


@pytest.mark.parametrize("given", ["0", "abc", "-3", "99999999999999999999"])
async def test_a_malformed_order_id_is_not_found(
    http: httpx.AsyncClient, connections: Connections, given: str
) -> None:
    ada = await member(connections, "ada", Role.USER)
    found = (await gql(http, ORDER, {"id": given}, ada.headers))["order"]
    assert (found["__typename"], found["field"]) == ("NotFound", "id")
