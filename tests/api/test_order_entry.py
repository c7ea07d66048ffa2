"""Order entry over real HTTP: placeOrder, placeOrders, cancelOrder, amendOrder and
cancelAllOrders reserve exactly what the matcher relies on, refuse with typed errors that
change nothing, and put the right command on Kafka. No matcher runs here, so orders stay
PENDING and each mutation waits `WAIT_MS` for an answer that does not come (unless a test
publishes it)."""

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from sqlalchemy import text

from auth.tokens import digest
from db import orders as orders_repository
from db.enums import ApiScope, Asset, EntryKind, LedgerAccount
from db.ledger import Leg, post_journal
from db.markets import create_market
from db.money import add_cash
from db.users import create_api_key
from engine import OrderKind, Outcome, Side, Stp
from schema.app import create_app
from settings import Settings
from tests.api.factories import Member, gql, member
from tests.api.server import serve
from workers.commands import (
    RESULTS_CHANNEL,
    Amend,
    Cancel,
    CancelAll,
    Command,
    Place,
    decode,
)
from workers.connections import Connections
from workers.kafka import ORDERS
from workers.results import ResultWaiter

WAIT_MS = 50

ORDER_FIELDS = """
  id clientOrderId side outcome kind timeInForce postOnly stp price quantity budget filled
  remaining reservedCash reservedShares status expiresAt market { id }
"""
RESULT = f"""
  __typename
  ... on OrderPlaced {{ duplicate order {{ {ORDER_FIELDS} }} }}
  ... on InsufficientFunds {{ available required }}
  ... on MarketClosed {{ status }}
  ... on Error {{ code message field }}
"""
PLACE = f"mutation($input: PlaceOrderInput!) {{ placeOrder(input: $input) {{ {RESULT} }} }}"
PLACE_MANY = f"""
mutation($inputs: [PlaceOrderInput!]!) {{
  placeOrders(inputs: $inputs) {{
    __typename
    ... on OrdersPlaced {{ results {{ {RESULT} }} }}
    ... on Error {{ code message field }}
  }}
}}"""
CANCEL = f"""
mutation($id: ID!) {{
  cancelOrder(id: $id) {{
    __typename
    ... on OrderCancelRequested {{ order {{ {ORDER_FIELDS} }} }}
    ... on Error {{ code message field }}
  }}
}}"""
AMEND = f"""
mutation($id: ID!, $price: Int, $quantity: Int) {{
  amendOrder(id: $id, price: $price, quantity: $quantity) {{
    __typename
    ... on OrderAmendRequested {{ order {{ {ORDER_FIELDS} }} }}
    ... on InsufficientFunds {{ available required }}
    ... on MarketClosed {{ status }}
    ... on Error {{ code message field }}
  }}
}}"""
CANCEL_ALL = """
mutation($market: ID) {
  cancelAllOrders(marketId: $market) {
    __typename
    ... on CancelAllRequested { requested orders { id status market { id } } }
    ... on Error { code message field }
  }
}"""
ACCOUNT = "{ account { ... on Account { available reserved } } }"
POSITIONS = """
query($market: ID) {
  positions(marketId: $market) {
    ... on PositionList { positions { outcome sharesAvailable sharesReserved } }
  }
}"""
LEDGER = """
{ ledger(first: 50) { ... on LedgerConnection {
    edges { node { journalId kind asset bucket amount marketId orderId } } } } }"""


@pytest.fixture(scope="module")
async def quick_app_url(settings: Settings, session_connections: Connections) -> AsyncIterator[str]:
    """The API with a short wait for the matcher (none runs in these tests)."""
    quick = settings.model_copy(update={"order_wait_ms": WAIT_MS})
    async with serve(create_app(quick, _with(session_connections, quick), background=False)) as url:
        yield url


@pytest.fixture
async def http(quick_app_url: str, connections: Connections) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=quick_app_url, timeout=10) as client:
        yield client


def _with(connections: Connections, settings: Settings) -> Connections:
    return Connections(
        settings, connections.engine, connections.sessions, connections.redis, connections.producer
    )


async def _market(
    connections: Connections,
    creator: Member,
    *,
    status: str = "OPEN",
    closes_in: timedelta = timedelta(days=7),
    max_order_qty: int = 1_000_000,
) -> str:
    async with connections.sessions() as session:
        row = await create_market(
            session,
            title="Will it rain?",
            description="",
            rules="",
            image_url=None,
            category="weather",
            closes_at=datetime.now(UTC) + closes_in,
            created_by=creator.id,
        )
        await session.execute(
            text("UPDATE markets SET status = :s, max_order_qty = :q WHERE id = :m"),
            {"s": status, "q": max_order_qty, "m": row.id},
        )
        await session.commit()
    return str(row.id)


async def _cash(connections: Connections, who: Member, cents: int) -> None:
    async with connections.sessions() as session:
        await add_cash(session, who.id, cents)
        await session.commit()


async def _ada_and_market(connections: Connections, cash: int, **market: Any) -> tuple[Member, str]:
    """The usual start: ada, with `cash` cents, and a market she made (`_market`'s options)."""
    ada = await member(connections, "ada")
    made = await _market(connections, ada, **market)
    await _cash(connections, ada, cash)
    return ada, made


async def _buy_pairs(connections: Connections, who: Member, market: str, pairs: int) -> None:
    """`who` pays 100 cents a pair into the market's collateral and holds both outcomes."""
    market_id = int(market)
    async with connections.sessions() as session:
        await post_journal(
            session,
            EntryKind.TRADE,
            [
                Leg(LedgerAccount.USER_AVAILABLE, Asset.CASH, -100 * pairs, who.id),
                Leg(LedgerAccount.MARKET_COLLATERAL, Asset.CASH, 100 * pairs, market_id=market_id),
                Leg(LedgerAccount.MARKET_ISSUANCE, Asset.YES, -pairs, market_id=market_id),
                Leg(LedgerAccount.USER_AVAILABLE, Asset.YES, pairs, who.id, market_id),
                Leg(LedgerAccount.MARKET_ISSUANCE, Asset.NO, -pairs, market_id=market_id),
                Leg(LedgerAccount.USER_AVAILABLE, Asset.NO, pairs, who.id, market_id),
            ],
        )
        await session.execute(
            text("UPDATE accounts SET cash_available = cash_available - :c WHERE user_id = :u"),
            {"c": 100 * pairs, "u": who.id},
        )
        await session.execute(
            text(
                "UPDATE markets SET collateral = collateral + :c,"
                " pairs_outstanding = pairs_outstanding + :p WHERE id = :m"
            ),
            {"c": 100 * pairs, "p": pairs, "m": market_id},
        )
        await session.execute(
            text(
                "INSERT INTO positions (user_id, market_id, outcome, shares_available, cost_basis)"
                " VALUES (:u, :m, 'YES', :p, :half), (:u, :m, 'NO', :p, :half)"
            ),
            {"u": who.id, "m": market_id, "p": pairs, "half": 50 * pairs},
        )
        await session.commit()


def _order(market: str, **given: Any) -> dict[str, Any]:
    return {
        "marketId": market,
        "side": "BUY",
        "outcome": "YES",
        "price": 40,
        "quantity": 10,
        **given,
    }


async def _place(http: httpx.AsyncClient, who: Member, **given: Any) -> dict[str, Any]:
    placed: dict[str, Any] = (await gql(http, PLACE, {"input": given}, who.headers))["placeOrder"]
    return placed


async def _account(http: httpx.AsyncClient, who: Member) -> tuple[int, int]:
    account = (await gql(http, ACCOUNT, headers=who.headers))["account"]
    return account["available"], account["reserved"]


async def _positions(
    http: httpx.AsyncClient, who: Member, market: str
) -> dict[str, tuple[int, int]]:
    listed = (await gql(http, POSITIONS, {"market": market}, who.headers))["positions"]
    return {p["outcome"]: (p["sharesAvailable"], p["sharesReserved"]) for p in listed["positions"]}


async def _reserve_entries(http: httpx.AsyncClient, who: Member) -> list[dict[str, Any]]:
    edges = (await gql(http, LEDGER, headers=who.headers))["ledger"]["edges"]
    return [e["node"] for e in edges if e["node"]["kind"] == "RESERVE"]


async def _count(connections: Connections, query: str) -> int:
    async with connections.sessions() as session:
        return int((await session.execute(text(query))).scalar_one())


class Topic:
    """Reads what the API produced to the `orders` topic since it was opened."""

    def __init__(self, connections: Connections) -> None:
        self.connections = connections
        self.name = connections.settings.topic(ORDERS)
        self.consumer = AIOKafkaConsumer(bootstrap_servers=connections.settings.kafka_bootstrap)

    async def __aenter__(self) -> "Topic":
        await self.consumer.start()
        partitions = await self.connections.producer.partitions_for(self.name)
        self.partitions = [TopicPartition(self.name, p) for p in sorted(partitions)]
        self.consumer.assign(self.partitions)
        ends = await self.consumer.end_offsets(self.partitions)
        for partition, offset in ends.items():
            self.consumer.seek(partition, offset)
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.consumer.stop()

    async def read(self, count: int) -> list[tuple[bytes | None, Command]]:
        """The next `count` messages, with their keys, in the order of their command ids."""
        got: list[tuple[bytes | None, Command]] = []
        deadline = time.monotonic() + 10
        while len(got) < count and time.monotonic() < deadline:
            batches = await self.consumer.getmany(*self.partitions, timeout_ms=500)
            got += [
                (r.key, decode(r.value))
                for records in batches.values()
                for r in records
                if r.value is not None
            ]
        assert len(got) == count, got
        return sorted(got, key=lambda message: message[1].command_id)


# -- placing -----------------------------------------------------------------------------------


@pytest.mark.parametrize("outcome", ["YES", "NO"])
async def test_a_limit_buy_reserves_price_times_quantity(
    http: httpx.AsyncClient, connections: Connections, outcome: str
) -> None:
    ada, market = await _ada_and_market(connections, 10_000)

    placed = await _place(
        http, ada, **_order(market, outcome=outcome, price=35, quantity=20, clientOrderId="a-1")
    )

    assert placed["__typename"] == "OrderPlaced"
    assert placed["duplicate"] is False
    order = placed["order"]
    assert {k: v for k, v in order.items() if k not in ("id", "market")} == {
        "clientOrderId": "a-1",
        "side": "BUY",
        "outcome": outcome,
        "kind": "LIMIT",
        "timeInForce": "GTC",
        "postOnly": False,
        "stp": "CANCEL_RESTING",
        "price": 35,
        "quantity": 20,
        "budget": None,
        "filled": 0,
        "remaining": 20,
        "reservedCash": 700,
        "reservedShares": 0,
        "status": "PENDING",
        "expiresAt": None,
    }
    assert order["market"] == {"id": market}
    assert await _account(http, ada) == (9_300, 700)
    entries = await _reserve_entries(http, ada)
    assert sorted((e["bucket"], e["amount"]) for e in entries) == [
        ("AVAILABLE", -700),
        ("RESERVED", 700),
    ]
    assert {(e["asset"], e["orderId"], e["journalId"]) for e in entries} == {
        ("CASH", order["id"], entries[0]["journalId"])
    }
    assert await _count(connections, "SELECT count(*) FROM commands WHERE kind = 'PLACE'") == 1


async def test_a_market_buy_reserves_its_budget(
    http: httpx.AsyncClient, connections: Connections
) -> None:
    ada, market = await _ada_and_market(connections, 10_000)

    placed = await _place(
        http, ada, **_order(market, kind="MARKET", price=95, quantity=500, budget=1_234)
    )

    order = placed["order"]
    assert (order["kind"], order["timeInForce"], order["budget"]) == ("MARKET", "IOC", 1_234)
    assert (order["reservedCash"], order["reservedShares"]) == (1_234, 0)
    assert await _account(http, ada) == (8_766, 1_234)


@pytest.mark.parametrize(("outcome", "kind"), [("YES", "LIMIT"), ("NO", "LIMIT"), ("NO", "MARKET")])
async def test_a_sell_reserves_shares_of_its_outcome(
    http: httpx.AsyncClient, connections: Connections, outcome: str, kind: str
) -> None:
    ada, market = await _ada_and_market(connections, 5_000)
    await _buy_pairs(connections, ada, market, 30)

    placed = await _place(
        http, ada, **_order(market, side="SELL", outcome=outcome, kind=kind, price=60, quantity=12)
    )

    order = placed["order"]
    assert (order["side"], order["reservedCash"], order["reservedShares"]) == ("SELL", 0, 12)
    other = "NO" if outcome == "YES" else "YES"
    assert await _positions(http, ada, market) == {outcome: (18, 12), other: (30, 0)}
    assert await _account(http, ada) == (2_000, 0)
    entries = await _reserve_entries(http, ada)
    assert sorted((e["asset"], e["bucket"], e["amount"], e["marketId"]) for e in entries) == [
        (outcome, "AVAILABLE", -12, market),
        (outcome, "RESERVED", 12, market),
    ]


async def test_without_enough_cash_or_shares_nothing_changes(
    http: httpx.AsyncClient, connections: Connections
) -> None:
    ada, market = await _ada_and_market(connections, 1_000)
    await _buy_pairs(connections, ada, market, 3)

    short_cash = await _place(http, ada, **_order(market, price=71, quantity=10))
    short_budget = await _place(
        http, ada, **_order(market, kind="MARKET", price=99, quantity=10, budget=701)
    )
    short_shares = await _place(http, ada, **_order(market, side="SELL", quantity=4))
    elsewhere = await _market(connections, ada)
    no_position = await _place(http, ada, **_order(elsewhere, side="SELL", quantity=1))

    assert short_cash == {
        "__typename": "InsufficientFunds",
        "available": 700,
        "required": 710,
        "code": "INSUFFICIENT_FUNDS",
        "message": "Not enough available cash.",
        "field": "quantity",
    }
    assert (short_budget["available"], short_budget["required"], short_budget["field"]) == (
        700,
        701,
        "budget",
    )
    assert (short_shares["available"], short_shares["required"]) == (3, 4)
    assert short_shares["message"] == "Not enough available YES shares."
    assert (no_position["available"], no_position["required"]) == (0, 1)
    assert await _account(http, ada) == (700, 0)
    assert await _positions(http, ada, market) == {"YES": (3, 0), "NO": (3, 0)}
    assert await _reserve_entries(http, ada) == []
    assert await _count(connections, "SELECT count(*) FROM orders") == 0
    assert await _count(connections, "SELECT count(*) FROM commands") == 0


IN_AN_HOUR = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
AN_HOUR_AGO = (datetime.now(UTC) - timedelta(hours=1)).isoformat()


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({"marketId": "nope"}, "marketId"),
        ({"marketId": "0"}, "marketId"),
        ({"marketId": "999999"}, "marketId"),
        ({"price": 0}, "price"),
        ({"price": 100}, "price"),
        ({"quantity": 0}, "quantity"),
        ({"quantity": 11}, "quantity"),  # the market's max_order_qty is 10
        ({"kind": "MARKET", "budget": 100, "timeInForce": "GTC"}, "timeInForce"),
        ({"kind": "MARKET", "budget": 100, "timeInForce": "FOK"}, "timeInForce"),
        ({"kind": "MARKET", "budget": 100, "postOnly": True}, "postOnly"),
        ({"timeInForce": "IOC", "postOnly": True}, "postOnly"),
        ({"timeInForce": "GTD", "expiresAt": IN_AN_HOUR, "postOnly": True}, "postOnly"),
        ({"timeInForce": "GTD"}, "expiresAt"),
        ({"timeInForce": "GTD", "expiresAt": AN_HOUR_AGO}, "expiresAt"),
        ({"expiresAt": IN_AN_HOUR}, "expiresAt"),
        ({"kind": "MARKET"}, "budget"),
        ({"kind": "MARKET", "budget": 0}, "budget"),
        ({"kind": "MARKET", "budget": 10**12 + 1}, "budget"),
        ({"budget": 100}, "budget"),
        ({"kind": "MARKET", "side": "SELL", "budget": 100}, "budget"),
        ({"clientOrderId": ""}, "clientOrderId"),
        ({"clientOrderId": "x" * 65}, "clientOrderId"),
        ({"clientOrderId": "has space"}, "clientOrderId"),
        ({"clientOrderId": "ünïcode"}, "clientOrderId"),
    ],
)
async def test_invalid_orders_name_the_field_at_fault(
    http: httpx.AsyncClient, connections: Connections, given: dict[str, Any], field: str
) -> None:
    ada, market = await _ada_and_market(connections, 10_000, max_order_qty=10)
    await _buy_pairs(connections, ada, market, 20)

    refused = await _place(http, ada, **_order(market, **given))

    expected = "NotFound" if field == "marketId" else "InvalidInput"
    assert (refused["__typename"], refused["field"]) == (expected, field), refused
    assert await _account(http, ada) == (8_000, 0)
    assert await _count(connections, "SELECT count(*) FROM orders") == 0


async def test_the_largest_allowed_values_are_accepted(
    http: httpx.AsyncClient, connections: Connections
) -> None:
    ada, market = await _ada_and_market(connections, 10**12, max_order_qty=10)

    edge = await _place(http, ada, **_order(market, price=99, quantity=10, clientOrderId="A" * 64))
    budget = await _place(
        http, ada, **_order(market, kind="MARKET", timeInForce="IOC", budget=10**12 - 990)
    )

    assert edge["order"]["reservedCash"] == 990
    assert budget["order"]["reservedCash"] == 10**12 - 990
    assert await _account(http, ada) == (0, 10**12)


async def test_a_retry_with_the_same_client_order_id_returns_the_first_order(
    http: httpx.AsyncClient, connections: Connections
) -> None:
    ada = await member(connections, "ada")
    bob = await member(connections, "bob")
    market = await _market(connections, ada)
    for who in (ada, bob):
        await _cash(connections, who, 10_000)

    first = await _place(http, ada, **_order(market, clientOrderId="mm:7"))
    again = await _place(http, ada, **_order(market, price=10, quantity=3, clientOrderId="mm:7"))
    concurrent = await asyncio.gather(
        *(_place(http, ada, **_order(market, clientOrderId="mm:8")) for _ in range(5))
    )
    bobs = await _place(http, bob, **_order(market, clientOrderId="mm:7"))

    assert again == {**first, "duplicate": True}
    assert len({c["order"]["id"] for c in concurrent}) == 1
    assert sorted(c["duplicate"] for c in concurrent) == [False, True, True, True, True]
    assert bobs["order"]["id"] != first["order"]["id"]  # client ids are per user
    assert await _account(http, ada) == (9_200, 800)
    assert len(await _reserve_entries(http, ada)) == 4
    assert await _count(connections, "SELECT count(*) FROM commands") == 3


async def test_calls_that_arrive_together_share_one_statement_at_a_time(
    http: httpx.AsyncClient, connections: Connections, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Order entry writes the calls that arrive while a statement is under way together in
    the next one, never two at once, and a user's calls in different statements (two
    statements under way that both held a user would wait on each other's row locks)."""
    people = [await member(connections, name) for name in ("ada", "bob", "cy", "dee")]
    market = await _market(connections, people[0])
    for who in people:
        await _cash(connections, who, 10_000)
    under_way: list[int] = []
    statements: list[list[int]] = []
    overlaps: list[list[int]] = []
    running: list[int] = []  # statements under way, after each start and end
    place_groups = orders_repository.place_groups_at_once

    async def watched(conn: Any, groups: Any) -> Any:
        users = [user for user, _, _ in groups]
        statements.append(users)
        if set(users) & set(under_way):
            overlaps.append(users)
        under_way.extend(users)
        running.append(running[-1] + 1 if running else 1)
        try:
            await asyncio.sleep(0.02)  # under way while the other calls arrive
            return await place_groups(conn, groups)
        finally:
            running.append(running[-1] - 1)
            for user in users:
                under_way.remove(user)

    monkeypatch.setattr(orders_repository, "place_groups_at_once", watched)
    placed = await asyncio.gather(
        *(
            _place(http, who, **_order(market, price=10 + i, quantity=2))
            for i in range(10)
            for who in people
        )
    )

    assert [p["__typename"] for p in placed] == ["OrderPlaced"] * 40
    assert overlaps == []
    assert max(running) == 1
    assert sum(len(users) for users in statements) == 40
    assert all(len(set(users)) == len(users) for users in statements)
    assert len(statements) < 40  # and calls did share statements
    reserved = sum(2 * (10 + i) for i in range(10))
    for who in people:
        assert await _account(http, who) == (10_000 - reserved, reserved)
        assert len(await _reserve_entries(http, who)) == 2 * 10  # available -> reserved


@pytest.mark.parametrize(
    ("status", "closes_in", "seen"),
    [
        ("HALTED", timedelta(days=1), "HALTED"),
        ("CLOSED", timedelta(days=1), "CLOSED"),
        ("OPEN", timedelta(seconds=-1), "CLOSED"),
        ("VOIDED", timedelta(days=1), "VOIDED"),
    ],
)
async def test_a_market_that_does_not_trade_refuses_orders(
    http: httpx.AsyncClient,
    connections: Connections,
    status: str,
    closes_in: timedelta,
    seen: str,
) -> None:
    ada, market = await _ada_and_market(connections, 10_000, status=status, closes_in=closes_in)

    refused = await _place(http, ada, **_order(market))

    assert refused == {
        "__typename": "MarketClosed",
        "status": seen,
        "code": "MARKET_CLOSED",
        "message": f"The market is {seen.lower()}: it does not trade now.",
        "field": "marketId",
    }
    assert await _account(http, ada) == (10_000, 0)


async def test_trading_needs_a_session_or_a_key_with_the_trade_scope(
    http: httpx.AsyncClient, connections: Connections
) -> None:
    ada, market = await _ada_and_market(connections, 10_000)
    async with connections.sessions() as session:
        for secret, scopes in (("pk_reader", [ApiScope.READ]), ("pk_trader", [ApiScope.TRADE])):
            await create_api_key(session, ada.id, secret, secret[:6], digest(secret), scopes)
        await session.commit()
    variables = {"input": _order(market)}

    anonymous = (await gql(http, PLACE, variables))["placeOrder"]
    reader = (await gql(http, PLACE, variables, {"X-Api-Key": "pk_reader"}))["placeOrder"]
    trader = (await gql(http, PLACE, variables, {"X-Api-Key": "pk_trader"}))["placeOrder"]

    assert (anonymous["__typename"], anonymous["code"]) == ("NotAuthenticated", "NOT_AUTHENTICATED")
    assert (reader["__typename"], reader["code"]) == ("Forbidden", "FORBIDDEN")
    assert reader["message"] == "This API key lacks the TRADE scope."
    assert trader["__typename"] == "OrderPlaced"
    order_id = trader["order"]["id"]
    for document, name, more in (
        (PLACE_MANY, "placeOrders", {"inputs": [_order(market)]}),
        (CANCEL, "cancelOrder", {"id": order_id}),
        (AMEND, "amendOrder", {"id": order_id, "price": 41}),
        (CANCEL_ALL, "cancelAllOrders", {}),
    ):
        refused = (await gql(http, document, more, {"X-Api-Key": "pk_reader"}))[name]
        assert refused["__typename"] == "Forbidden", name
        nobody = (await gql(http, document, more))[name]
        assert nobody["__typename"] == "NotAuthenticated", name
    assert await _account(http, ada) == (9_600, 400)


# -- the command on Kafka, and the wait for the matcher ---------------------------------------


async def test_each_mutation_produces_its_command_keyed_by_market(
    http: httpx.AsyncClient, connections: Connections
) -> None:
    ada, market = await _ada_and_market(connections, 10_000)
    await _buy_pairs(connections, ada, market, 5)
    expires = datetime.now(UTC).replace(microsecond=123_000) + timedelta(hours=2)
    market_id = int(market)

    async with Topic(connections) as topic:
        gtd = await _place(
            http,
            ada,
            **_order(
                market,
                outcome="NO",
                price=30,
                quantity=7,
                timeInForce="GTD",
                expiresAt=expires.isoformat(),
                selfTradePrevention="CANCEL_TAKER",
            ),
        )
        market_buy = await _place(
            http, ada, **_order(market, kind="MARKET", price=90, quantity=50, budget=900)
        )
        post_only = await _place(
            http, ada, **_order(market, side="SELL", postOnly=True, quantity=2)
        )
        fok = await _place(http, ada, **_order(market, timeInForce="FOK", quantity=1))
        gtd_id = int(gtd["order"]["id"])
        await gql(http, AMEND, {"id": str(gtd_id), "quantity": 9, "price": 31}, ada.headers)
        await gql(http, CANCEL, {"id": str(gtd_id)}, ada.headers)
        await gql(http, CANCEL_ALL, {}, ada.headers)
        messages = await topic.read(7)

    assert {k for k, _ in messages} == {market.encode()}
    commands = [c for _, c in messages]
    ids = [c.command_id for c in commands]
    assert ids == list(range(ids[0], ids[0] + 7))
    ada_id = ada.id
    assert commands[0] == Place(
        ids[0], market_id, gtd_id, ada_id, Side.BUY, Outcome.NO, 30, 7, OrderKind.GTD,
        int(expires.timestamp()) * 1000 + 123, None, Stp.CANCEL_TAKER,
    )  # fmt: skip
    assert commands[1] == Place(
        ids[1], market_id, int(market_buy["order"]["id"]), ada_id, Side.BUY, Outcome.YES, 90,
        50, OrderKind.MARKET, None, 900, Stp.CANCEL_RESTING,
    )  # fmt: skip
    assert commands[2] == Place(
        ids[2], market_id, int(post_only["order"]["id"]), ada_id, Side.SELL, Outcome.YES, 40, 2,
        OrderKind.POST_ONLY, None, None, Stp.CANCEL_RESTING,
    )  # fmt: skip
    assert isinstance(commands[3], Place)
    assert (commands[3].order_id, commands[3].kind) == (int(fok["order"]["id"]), OrderKind.FOK)
    assert commands[4] == Amend(ids[4], market_id, gtd_id, ada_id, 31, 9)
    assert commands[5] == Cancel(ids[5], market_id, gtd_id, ada_id)
    assert commands[6] == CancelAll(ids[6], market_id, ada_id)
    async with connections.sessions() as session:
        rows = await session.execute(
            text("SELECT id, kind, order_id, market_id, user_id FROM commands ORDER BY id")
        )
        stored = [tuple(row) for row in rows]
    assert stored == [
        (ids[0], "PLACE", gtd_id, market_id, ada_id),
        (ids[1], "PLACE", commands[1].order_id, market_id, ada_id),
        (ids[2], "PLACE", commands[2].order_id, market_id, ada_id),
        (ids[3], "PLACE", commands[3].order_id, market_id, ada_id),
        (ids[4], "AMEND", gtd_id, market_id, ada_id),
        (ids[5], "CANCEL", gtd_id, market_id, ada_id),
        (ids[6], "CANCEL_ALL", None, market_id, ada_id),
    ]


async def test_the_answer_comes_as_soon_as_the_matcher_says_it_applied_the_command(
    settings: Settings, connections: Connections
) -> None:
    patient = settings.model_copy(update={"order_wait_ms": 5_000})
    ada, market = await _ada_and_market(connections, 10_000)

    async def matcher() -> None:
        """Applies the first command it sees, and says so."""
        while True:
            async with connections.sessions() as session:
                found = (await session.execute(text("SELECT max(id) FROM commands"))).scalar()
                if found is not None:
                    await session.execute(
                        text("UPDATE orders SET status = 'OPEN', queue_seq = 1"),
                    )
                    await session.commit()
                    await connections.redis.publish(RESULTS_CHANNEL, orjson.dumps([7, found]))
                    return
            await asyncio.sleep(0.005)

    async with (
        serve(create_app(patient, _with(connections, patient), background=False)) as url,
        httpx.AsyncClient(base_url=url, timeout=10) as http,
    ):
        answering = asyncio.create_task(matcher())
        started = time.monotonic()
        placed = await _place(http, ada, **_order(market))
        elapsed = time.monotonic() - started
        await answering

    assert placed["order"]["status"] == "OPEN"  # re-read after the matcher's word
    assert elapsed < 2.0


async def test_without_an_answer_the_order_comes_back_pending_after_the_wait(
    http: httpx.AsyncClient, connections: Connections
) -> None:
    ada, market = await _ada_and_market(connections, 10_000)

    started = time.monotonic()
    placed = await _place(http, ada, **_order(market))
    elapsed = time.monotonic() - started

    assert placed["order"]["status"] == "PENDING"
    assert WAIT_MS / 1000 <= elapsed < 2.0


async def test_an_order_committed_but_not_sent_is_still_placed(
    settings: Settings, connections: Connections, caplog: pytest.LogCaptureFixture
) -> None:
    ada, market = await _ada_and_market(connections, 10_000)
    stopped = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    await stopped.start()
    await stopped.stop()
    quick = settings.model_copy(update={"order_wait_ms": WAIT_MS})
    broken = Connections(
        quick, connections.engine, connections.sessions, connections.redis, stopped
    )

    async with (
        serve(create_app(quick, broken, background=False)) as url,
        httpx.AsyncClient(base_url=url, timeout=10) as http,
    ):
        placed = await _place(http, ada, **_order(market))

    assert (placed["__typename"], placed["order"]["status"]) == ("OrderPlaced", "PENDING")
    assert await _count(connections, "SELECT count(*) FROM commands WHERE kind = 'PLACE'") == 1
    assert any("could not produce commands" in r.getMessage() for r in caplog.records)


async def test_the_waiter_sees_what_is_published_after_it_expects_it(
    connections: Connections,
) -> None:
    waiter = ResultWaiter(connections.redis)
    await waiter.start()
    try:
        await connections.redis.publish(RESULTS_CHANNEL, b"[1]")  # before anyone expects it
        await asyncio.sleep(0.05)
        with waiter.expect([1, 2, 3]) as expected:
            for junk in (b"not json", b'{"not": "a list"}', b'[true, "2"]', b"[2]"):
                await connections.redis.publish(RESULTS_CHANNEL, junk)
            await asyncio.sleep(0.05)  # published before the wait starts: still seen
            assert await expected.wait(0.05) == {2}
            later = asyncio.create_task(expected.wait(5))
            await asyncio.sleep(0.01)
            await connections.redis.publish(RESULTS_CHANNEL, b"[3, 1]")
            started = time.monotonic()
            assert await later == {1, 2, 3}
            assert time.monotonic() - started < 1
        assert await waiter.wait([4], 0.05) == set()
        assert await waiter.wait([4], 0) == set()
    finally:
        await waiter.stop()
    assert not waiter.running
    started = time.monotonic()
    assert await waiter.wait([9], 5) == set()  # stopped: nothing to wait for
    assert time.monotonic() - started < 1


# -- batches -----------------------------------------------------------------------------------


async def test_a_batch_gives_each_order_its_own_result_and_checks_funds_in_order(
    http: httpx.AsyncClient, connections: Connections
) -> None:
    ada = await member(connections, "ada")
    market = await _market(connections, ada, max_order_qty=100)
    halted = await _market(connections, ada, status="HALTED")
    await _cash(connections, ada, 2_000)
    await _buy_pairs(connections, ada, market, 10)  # 1,000 cash left

    async with Topic(connections) as topic:
        answer = (
            await gql(
                http,
                PLACE_MANY,
                {
                    "inputs": [
                        _order(market, price=50, quantity=12),  # 600: fits
                        _order(market, price=50, quantity=9),  # 450 > 400 left
                        _order(market, price=0),  # invalid
                        _order(halted),  # closed
                        _order(market, price=40, quantity=10),  # 400: fits exactly
                        _order(market, side="SELL", quantity=8, clientOrderId="s1"),
                        _order(market, side="SELL", quantity=3),  # 2 left
                        _order(market, side="SELL", quantity=2, clientOrderId="s1"),  # repeated
                        _order(market, side="SELL", outcome="NO", quantity=10),
                        _order(market, quantity=101),  # over the market's max
                    ]
                },
                ada.headers,
            )
        )["placeOrders"]
        messages = await topic.read(4)

    results = answer["results"]
    assert [r["__typename"] for r in results] == [
        "OrderPlaced",
        "InsufficientFunds",
        "InvalidInput",
        "MarketClosed",
        "OrderPlaced",
        "OrderPlaced",
        "InsufficientFunds",
        "InvalidInput",
        "OrderPlaced",
        "InvalidInput",
    ]
    assert (results[1]["available"], results[1]["required"]) == (400, 450)
    assert results[2]["field"] == "price"
    assert (results[6]["available"], results[6]["required"]) == (2, 3)
    assert results[7]["field"] == "clientOrderId"
    assert results[9]["field"] == "quantity"
    assert await _account(http, ada) == (0, 1_000)
    assert await _positions(http, ada, market) == {"YES": (2, 8), "NO": (0, 10)}
    placed = [int(r["order"]["id"]) for r in results if r["__typename"] == "OrderPlaced"]
    assert [c.order_id for _, c in messages if isinstance(c, Place)] == placed
    reserved = await _reserve_entries(http, ada)
    assert len(reserved) == 8
    assert len({e["journalId"] for e in reserved}) == 1  # one journal for the batch


async def test_a_batch_has_one_to_a_hundred_orders(
    http: httpx.AsyncClient, connections: Connections
) -> None:
    ada, market = await _ada_and_market(connections, 100_000)

    for inputs in ([], [_order(market, price=1, quantity=1)] * 101):
        refused = (await gql(http, PLACE_MANY, {"inputs": inputs}, ada.headers))["placeOrders"]
        assert (refused["__typename"], refused["field"]) == ("InvalidInput", "inputs")
    full = (
        await gql(
            http, PLACE_MANY, {"inputs": [_order(market, price=1, quantity=1)] * 100}, ada.headers
        )
    )["placeOrders"]
    assert [r["__typename"] for r in full["results"]] == ["OrderPlaced"] * 100
    assert await _account(http, ada) == (99_900, 100)


# -- cancel, amend, cancel-all -----------------------------------------------------------------


async def test_cancel_sends_a_cancel_and_leaves_the_reservation_to_the_matcher(
    http: httpx.AsyncClient, connections: Connections
) -> None:
    ada = await member(connections, "ada")
    bob = await member(connections, "bob")
    market = await _market(connections, ada)
    await _cash(connections, ada, 10_000)
    order_id = (await _place(http, ada, **_order(market)))["order"]["id"]

    bobs = (await gql(http, CANCEL, {"id": order_id}, bob.headers))["cancelOrder"]
    missing = (await gql(http, CANCEL, {"id": "987654"}, bob.headers))["cancelOrder"]
    garbage = (await gql(http, CANCEL, {"id": "x"}, bob.headers))["cancelOrder"]
    mine = (await gql(http, CANCEL, {"id": order_id}, ada.headers))["cancelOrder"]

    assert bobs == missing == garbage
    assert bobs == {
        "__typename": "NotFound",
        "code": "NOT_FOUND",
        "message": "No such order.",
        "field": "id",
    }
    assert mine["__typename"] == "OrderCancelRequested"
    assert (mine["order"]["id"], mine["order"]["status"]) == (order_id, "PENDING")
    assert await _account(http, ada) == (9_600, 400)
    assert await _count(connections, "SELECT count(*) FROM commands WHERE kind = 'CANCEL'") == 1


@pytest.mark.parametrize("status", ["FILLED", "CANCELLED", "EXPIRED", "REJECTED"])
async def test_a_finished_order_cannot_be_cancelled_or_amended(
    http: httpx.AsyncClient, connections: Connections, status: str
) -> None:
    ada, market = await _ada_and_market(connections, 10_000)
    order_id = (await _place(http, ada, **_order(market)))["order"]["id"]
    async with connections.sessions() as session:  # as the matcher would finish it
        await post_journal(
            session,
            EntryKind.RELEASE,
            [
                Leg(LedgerAccount.USER_RESERVED, Asset.CASH, -400, ada.id, order_id=int(order_id)),
                Leg(LedgerAccount.USER_AVAILABLE, Asset.CASH, 400, ada.id, order_id=int(order_id)),
            ],
        )
        await session.execute(
            text(
                "UPDATE accounts SET cash_available = cash_available + 400,"
                " cash_reserved = cash_reserved - 400 WHERE user_id = :u"
            ),
            {"u": ada.id},
        )
        await session.execute(
            text("UPDATE orders SET status = :s, reserved_cash = 0 WHERE id = :o"),
            {"s": status, "o": int(order_id)},
        )
        await session.commit()

    cancel = (await gql(http, CANCEL, {"id": order_id}, ada.headers))["cancelOrder"]
    amend = (await gql(http, AMEND, {"id": order_id, "price": 45}, ada.headers))["amendOrder"]

    assert cancel == {
        "__typename": "InvalidState",
        "code": "INVALID_STATE",
        "message": f"The order is {status}: it cannot be cancelled.",
        "field": None,
    }
    assert (amend["__typename"], amend["message"]) == (
        "InvalidState",
        f"The order is {status}: it cannot be amended.",
    )
    assert await _count(connections, "SELECT count(*) FROM commands") == 1


async def test_amend_reserves_what_the_larger_order_needs(
    http: httpx.AsyncClient, connections: Connections
) -> None:
    ada, market = await _ada_and_market(connections, 1_000, max_order_qty=50)
    await _buy_pairs(connections, ada, market, 5)  # 500 cash left
    buy = (await _place(http, ada, **_order(market, price=20, quantity=10)))["order"]["id"]
    sell = (await _place(http, ada, **_order(market, side="SELL", quantity=2)))["order"]["id"]

    async def amend(order_id: str, **given: int) -> dict[str, Any]:
        amended: dict[str, Any] = (await gql(http, AMEND, {"id": order_id, **given}, ada.headers))[
            "amendOrder"
        ]
        return amended

    cheaper = await amend(buy, price=15)
    larger = await amend(buy, price=25, quantity=20)  # 500 needs 300 more
    assert (cheaper["order"]["reservedCash"], larger["order"]["reservedCash"]) == (200, 500)
    assert (larger["order"]["price"], larger["order"]["quantity"]) == (20, 10)  # the matcher's
    assert await _account(http, ada) == (0, 500)
    short = await amend(buy, price=26)
    assert (short["__typename"], short["available"], short["required"], short["field"]) == (
        "InsufficientFunds",
        0,
        20,
        "price",
    )
    more_shares = await amend(sell, quantity=5)
    assert more_shares["order"]["reservedShares"] == 5
    assert await _positions(http, ada, market) == {"YES": (0, 5), "NO": (5, 0)}
    too_many = await amend(sell, quantity=6)
    assert (too_many["__typename"], too_many["available"], too_many["required"]) == (
        "InsufficientFunds",
        0,
        1,
    )
    reserved = await _reserve_entries(http, ada)
    assert sorted((e["asset"], e["bucket"], e["amount"]) for e in reserved) == [
        ("CASH", "AVAILABLE", -300),
        ("CASH", "AVAILABLE", -200),
        ("CASH", "RESERVED", 200),
        ("CASH", "RESERVED", 300),
        ("YES", "AVAILABLE", -3),
        ("YES", "AVAILABLE", -2),
        ("YES", "RESERVED", 2),
        ("YES", "RESERVED", 3),
    ]
    assert await _count(connections, "SELECT count(*) FROM commands WHERE kind = 'AMEND'") == 3


@pytest.mark.parametrize(
    ("given", "typename", "field"),
    [
        ({}, "InvalidInput", "price"),
        ({"price": 0}, "InvalidInput", "price"),
        ({"price": 100}, "InvalidInput", "price"),
        ({"quantity": 0}, "InvalidInput", "quantity"),
        ({"quantity": 4}, "InvalidInput", "quantity"),  # 4 are filled
        ({"quantity": 51}, "InvalidInput", "quantity"),  # over the market's max
        ({"id": "nope", "price": 30}, "NotFound", "id"),
    ],
)
async def test_invalid_amends_name_the_field_at_fault(
    http: httpx.AsyncClient,
    connections: Connections,
    given: dict[str, Any],
    typename: str,
    field: str,
) -> None:
    ada, market = await _ada_and_market(connections, 10_000, max_order_qty=50)
    order_id = (await _place(http, ada, **_order(market)))["order"]["id"]
    async with connections.sessions() as session:
        await session.execute(
            text("UPDATE orders SET filled = 4, status = 'PARTIALLY_FILLED' WHERE id = :o"),
            {"o": int(order_id)},
        )
        await session.commit()

    refused = (await gql(http, AMEND, {"id": order_id, **given}, ada.headers))["amendOrder"]

    assert (refused["__typename"], refused["field"]) == (typename, field), refused
    assert await _count(connections, "SELECT count(*) FROM commands WHERE kind = 'AMEND'") == 0


async def test_amends_of_others_orders_market_orders_and_halted_markets_are_refused(
    http: httpx.AsyncClient, connections: Connections
) -> None:
    ada = await member(connections, "ada")
    bob = await member(connections, "bob")
    market = await _market(connections, ada)
    await _cash(connections, ada, 10_000)
    limit = (await _place(http, ada, **_order(market)))["order"]["id"]
    market_buy = (await _place(http, ada, **_order(market, kind="MARKET", budget=50)))["order"]

    bobs = (await gql(http, AMEND, {"id": limit, "price": 30}, bob.headers))["amendOrder"]
    missing = (await gql(http, AMEND, {"id": "424242", "price": 30}, bob.headers))["amendOrder"]
    not_limit = (await gql(http, AMEND, {"id": market_buy["id"], "price": 30}, ada.headers))[
        "amendOrder"
    ]
    async with connections.sessions() as session:
        await session.execute(
            text("UPDATE markets SET status = 'HALTED' WHERE id = :m"), {"m": int(market)}
        )
        await session.commit()
    halted = (await gql(http, AMEND, {"id": limit, "price": 30}, ada.headers))["amendOrder"]

    assert bobs == missing
    assert bobs["__typename"] == "NotFound"
    assert (not_limit["__typename"], not_limit["message"]) == (
        "InvalidState",
        "Only LIMIT orders can be amended.",
    )
    assert (halted["__typename"], halted["status"]) == ("MarketClosed", "HALTED")


async def test_cancel_all_asks_each_market_with_live_orders(
    http: httpx.AsyncClient, connections: Connections
) -> None:
    ada = await member(connections, "ada")
    bob = await member(connections, "bob")
    rain = await _market(connections, ada)
    snow = await _market(connections, ada)
    quiet = await _market(connections, ada)
    for who in (ada, bob):
        await _cash(connections, who, 10_000)
    placed = (
        await gql(
            http,
            PLACE_MANY,
            {"inputs": [_order(rain), _order(rain), _order(snow)]},
            ada.headers,
        )
    )["placeOrders"]["results"]
    ids = [r["order"]["id"] for r in placed]
    await _place(http, bob, **_order(rain))

    nothing = (await gql(http, CANCEL_ALL, {"market": quiet}, ada.headers))["cancelAllOrders"]
    missing = (await gql(http, CANCEL_ALL, {"market": "999999"}, ada.headers))["cancelAllOrders"]
    only_snow = (await gql(http, CANCEL_ALL, {"market": snow}, ada.headers))["cancelAllOrders"]
    everywhere = (await gql(http, CANCEL_ALL, {}, ada.headers))["cancelAllOrders"]

    assert nothing == {"__typename": "CancelAllRequested", "requested": 0, "orders": []}
    assert (missing["__typename"], missing["field"]) == ("NotFound", "marketId")
    assert only_snow["requested"] == 1
    assert [o["id"] for o in only_snow["orders"]] == [ids[2]]
    assert everywhere["requested"] == 2
    assert [o["id"] for o in everywhere["orders"]] == ids
    assert {o["status"] for o in everywhere["orders"]} == {"PENDING"}
    rows = await _count(
        connections,
        f"SELECT count(*) FROM commands WHERE kind = 'CANCEL_ALL' AND user_id = {ada.id}",
    )
    assert rows == 3
    assert await _account(http, ada) == (8_800, 1_200)
