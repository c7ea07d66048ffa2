"""Order books and live market figures over real HTTP, from snapshots a real engine book
published to Redis as the matcher does after each batch. Positions come from the portfolio
tests' ledger-consistent trades, so the audit after each test stays exact."""

from collections.abc import Awaitable, Callable, Collection
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from db.markets import create_market
from engine import Book, Outcome, Side
from tests.api.factories import Member, gql, member
from tests.api.test_portfolio import POSITIONS, trade_a_little
from tests.api.test_query_count import statements
from workers import books
from workers.books import publish_book
from workers.connections import Connections

NOW = 1_767_225_600_000  # 2026-01-01T00:00:00Z in epoch milliseconds

ORDER_BOOK = """
query($market: ID!, $depth: Int, $view: BookView) {
  orderBook(marketId: $market, depth: $depth, view: $view) {
    __typename
    ... on OrderBook {
      marketId view seq bids { price quantity } asks { price quantity } lastPrice updatedAt
    }
    ... on Error { code message field }
  }
}"""
LIVE = "id lastPrice bestBid bestAsk mid volume"
MARKET = f"""
query($id: ID!) {{ market(id: $id) {{ __typename ... on Market {{ {LIVE} }} }} }}"""
MARKETS = f"""
{{
  markets(first: 10, orderBy: {{field: TITLE, direction: ASC}}) {{
    ... on MarketConnection {{ edges {{ node {{ title {LIVE} }} }} }}
  }}
}}"""


def _levels(*pairs: tuple[int, int]) -> list[dict[str, int]]:
    return [{"price": p, "quantity": q} for p, q in pairs]


def rain_book(market_id: int) -> Book:
    """YES bids 40x3, 38x3, 35x2 (a SELL NO @65); asks 45x1, 50x6 (a BUY NO @50); last 40
    after a transfer of 3 at 45 and a mint of 2 at 40 (5 shares traded)."""
    book = Book(market_id)
    book.place(1, 10, Side.BUY, Outcome.YES, 40, 5)
    book.place(2, 10, Side.BUY, Outcome.YES, 38, 3)
    book.place(3, 11, Side.SELL, Outcome.YES, 45, 4)
    book.place(4, 12, Side.BUY, Outcome.NO, 50, 6)
    book.place(5, 13, Side.SELL, Outcome.NO, 65, 2)
    book.place(6, 14, Side.BUY, Outcome.YES, 46, 3)
    book.place(7, 15, Side.BUY, Outcome.NO, 61, 2)
    return book


def snow_book(market_id: int) -> Book:
    """A YES bid of 6 at 30, 4 of which a BUY NO @70 mints: last 30, bids 30x2, no asks."""
    book = Book(market_id)
    book.place(1, 10, Side.BUY, Outcome.YES, 30, 6)
    book.place(2, 11, Side.BUY, Outcome.NO, 70, 4)
    return book


async def _quiet_market(connections: Connections, creator: Member, title: str) -> int:
    """A market the matcher has published nothing for."""
    async with connections.sessions() as session:
        row = await create_market(
            session,
            title=title,
            description="",
            rules="",
            image_url=None,
            category="weather",
            closes_at=datetime.now(UTC) + timedelta(days=3),
            created_by=creator.id,
        )
        await session.commit()
    assert row.id is not None
    return row.id


def _spy(monkeypatch: pytest.MonkeyPatch, name: str) -> list[list[int]]:
    """The ids of each call the request loaders make to ``workers.books.<name>``."""
    calls: list[list[int]] = []
    real: Callable[[Any, Collection[int]], Awaitable[Any]] = getattr(books, name)

    async def spied(redis: Any, market_ids: Collection[int]) -> Any:
        calls.append(sorted(market_ids))
        return await real(redis, market_ids)

    monkeypatch.setattr(f"schema.loaders.{name}", spied)
    return calls


async def test_the_order_book_reads_in_yes_and_no_prices(
    http: httpx.AsyncClient, connections: Connections
) -> None:
    ada = await member(connections, "ada")
    rain = await _quiet_market(connections, ada, "Will it rain?")
    book = rain_book(rain)
    await publish_book(connections.redis, book, traded_qty=5, now_ms=NOW)

    yes = (await gql(http, ORDER_BOOK, {"market": str(rain)}))["orderBook"]
    no = (await gql(http, ORDER_BOOK, {"market": str(rain), "view": "NO"}))["orderBook"]
    top = (await gql(http, ORDER_BOOK, {"market": str(rain), "depth": 1, "view": "NO"}))[
        "orderBook"
    ]

    assert yes == {
        "__typename": "OrderBook",
        "marketId": str(rain),
        "view": "YES",
        "seq": book.seq,
        "bids": _levels((40, 3), (38, 3), (35, 2)),
        "asks": _levels((45, 1), (50, 6)),
        "lastPrice": 40,
        "updatedAt": yes["updatedAt"],
    }
    assert datetime.fromisoformat(yes["updatedAt"]) == datetime(2026, 1, 1, tzinfo=UTC)
    assert no == {
        **yes,
        "view": "NO",
        "bids": _levels((55, 1), (50, 6)),
        "asks": _levels((60, 3), (62, 3), (65, 2)),
        "lastPrice": 60,
    }
    assert (top["bids"], top["asks"]) == (_levels((55, 1)), _levels((60, 3)))
    deepest = (await gql(http, ORDER_BOOK, {"market": str(rain), "depth": 50}))["orderBook"]
    assert deepest["bids"] == yes["bids"]


async def test_a_market_not_yet_traded_has_an_empty_book_at_seq_0(
    http: httpx.AsyncClient, connections: Connections
) -> None:
    ada = await member(connections, "ada")
    quiet = await _quiet_market(connections, ada, "Will it hail?")

    for view in ("YES", "NO"):
        found = (await gql(http, ORDER_BOOK, {"market": str(quiet), "view": view}))["orderBook"]
        assert found == {
            "__typename": "OrderBook",
            "marketId": str(quiet),
            "view": view,
            "seq": 0,
            "bids": [],
            "asks": [],
            "lastPrice": None,
            "updatedAt": None,
        }


@pytest.mark.parametrize("given", ["987654", "0", "-3", "rain", "99999999999999999999"])
async def test_the_book_of_a_missing_market_is_not_found(
    http: httpx.AsyncClient, connections: Connections, given: str
) -> None:
    found = (await gql(http, ORDER_BOOK, {"market": given}))["orderBook"]
    assert found == {
        "__typename": "NotFound",
        "code": "NOT_FOUND",
        "message": f"No market has the id {given!r}.",
        "field": "marketId",
    }


@pytest.mark.parametrize("depth", [0, -1, 51, 1000])
async def test_a_depth_outside_1_to_50_is_invalid_input(
    http: httpx.AsyncClient, connections: Connections, depth: int
) -> None:
    ada = await member(connections, "ada")
    rain = await _quiet_market(connections, ada, "Will it rain?")
    await publish_book(connections.redis, rain_book(rain), traded_qty=5, now_ms=NOW)

    refused = (await gql(http, ORDER_BOOK, {"market": str(rain), "depth": depth}))["orderBook"]

    assert refused == {
        "__typename": "InvalidInput",
        "code": "INVALID_INPUT",
        "message": "`depth` must be between 1 and 50.",
        "field": "depth",
    }


async def test_markets_carry_last_price_best_prices_mid_and_volume(
    http: httpx.AsyncClient, connections: Connections
) -> None:
    ada = await member(connections, "ada")
    rain = await _quiet_market(connections, ada, "Will it rain?")
    snow = await _quiet_market(connections, ada, "Will it snow?")
    hail = await _quiet_market(connections, ada, "Will it hail?")
    await publish_book(connections.redis, rain_book(rain), traded_qty=5, now_ms=NOW)
    await publish_book(connections.redis, snow_book(snow), traded_qty=4, now_ms=NOW)

    one = (await gql(http, MARKET, {"id": str(rain)}))["market"]
    listed = (await gql(http, MARKETS))["markets"]["edges"]

    rain_live = {"lastPrice": 40, "bestBid": 40, "bestAsk": 45, "mid": 42.5, "volume": 5}
    assert one == {"__typename": "Market", "id": str(rain), **rain_live}
    assert [e["node"] for e in listed] == [
        {"title": "Will it hail?", "id": str(hail), **dict.fromkeys(rain_live)},
        {"title": "Will it rain?", "id": str(rain), **rain_live},
        {
            "title": "Will it snow?",
            "id": str(snow),
            "lastPrice": 30,
            "bestBid": 30,
            "bestAsk": None,
            "mid": None,
            "volume": 4,
        },
    ]


async def test_positions_mark_at_the_last_price_of_their_outcome(
    http: httpx.AsyncClient, connections: Connections
) -> None:
    ada = await member(connections, "ada")
    bob = await member(connections, "bob")
    traded = await trade_a_little(connections, ada, bob)
    await publish_book(connections.redis, rain_book(traded.rain), traded_qty=5, now_ms=NOW)

    def marks(found: dict[str, Any]) -> list[tuple[Any, ...]]:
        fields = ("outcome", "shares", "costBasis", "markValue", "unrealizedPnl")
        return [
            (p["market"]["title"], *(p[f] for f in fields)) for p in found["positions"]["positions"]
        ]

    # snow has no snapshot yet: its positions have no mark
    assert marks(await gql(http, POSITIONS, headers=ada.headers)) == [
        ("Will it rain?", "YES", 10, 600, 400, -200),  # 10 x 40
        ("Will it snow?", "NO", 4, 300, None, None),
    ]
    await publish_book(connections.redis, snow_book(traded.snow), traded_qty=4, now_ms=NOW)
    assert marks(await gql(http, POSITIONS, headers=ada.headers)) == [
        ("Will it rain?", "YES", 10, 600, 400, -200),
        ("Will it snow?", "NO", 4, 300, 280, -20),  # 4 x (100 - 30)
    ]
    assert marks(await gql(http, POSITIONS, headers=bob.headers)) == [
        ("Will it rain?", "NO", 10, 400, 600, 200),  # 10 x (100 - 40)
        ("Will it snow?", "YES", 4, 100, 120, 20),  # 4 x 30
    ]


async def test_an_older_snapshot_never_replaces_a_newer_one_and_volume_adds_up(
    http: httpx.AsyncClient, connections: Connections
) -> None:
    ada = await member(connections, "ada")
    rain = await _quiet_market(connections, ada, "Will it rain?")
    book = rain_book(rain)
    older = Book.restore(book.snapshot())
    await publish_book(connections.redis, book, traded_qty=5, now_ms=NOW)
    book.place(8, 16, Side.SELL, Outcome.YES, 38, 3)  # takes the 3 bid at 40
    book.place(9, 17, Side.BUY, Outcome.YES, 47, 1)  # takes the 1 offered at 45
    await publish_book(connections.redis, book, traded_qty=4, now_ms=NOW + 1_000)

    # a replaced matcher's late snapshot, and the newer batch delivered twice
    await publish_book(connections.redis, older, traded_qty=5, now_ms=NOW + 2_000)
    await publish_book(connections.redis, book, traded_qty=4, now_ms=NOW + 3_000)

    shown = (await gql(http, ORDER_BOOK, {"market": str(rain)}))["orderBook"]
    assert (shown["seq"], shown["bids"], shown["asks"], shown["lastPrice"]) == (
        book.seq,
        _levels((38, 3), (35, 2)),
        _levels((50, 6)),
        45,
    )
    assert datetime.fromisoformat(shown["updatedAt"]) == datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC)
    assert (await gql(http, MARKET, {"id": str(rain)}))["market"] == {
        "__typename": "Market",
        "id": str(rain),
        "lastPrice": 45,
        "bestBid": 38,
        "bestAsk": 50,
        "mid": 44.0,
        "volume": 9,
    }


async def test_live_figures_add_no_sql_and_one_redis_read_per_request(
    http: httpx.AsyncClient, connections: Connections, monkeypatch: pytest.MonkeyPatch
) -> None:
    ada = await member(connections, "ada")
    bob = await member(connections, "bob")
    traded = await trade_a_little(connections, ada, bob)
    quiet = await _quiet_market(connections, ada, "Will it hail?")
    await publish_book(connections.redis, rain_book(traded.rain), traded_qty=5, now_ms=NOW)
    await publish_book(connections.redis, snow_book(traded.snow), traded_qty=4, now_ms=NOW)
    stats_reads = _spy(monkeypatch, "read_stats")
    book_reads = _spy(monkeypatch, "read_books")
    both_books = """
    query($rain: ID!, $snow: ID!) {
      rain: orderBook(marketId: $rain) { ... on OrderBook { seq } }
      snow: orderBook(marketId: $snow, view: NO) { ... on OrderBook { seq } }
    }"""

    with statements(connections) as listing:
        await gql(http, MARKETS)
    with statements(connections) as held:
        await gql(http, POSITIONS, headers=ada.headers)
    with statements(connections) as published:
        await gql(http, both_books, {"rain": str(traded.rain), "snow": str(traded.snow)})
    with statements(connections) as unpublished:
        await gql(http, ORDER_BOOK, {"market": str(quiet)})

    ids = sorted([traded.rain, traded.snow, quiet])
    assert stats_reads == [ids, ids[:2]]  # markets, then positions: one batch each
    assert book_reads == [ids[:2], [quiet]]
    assert len(listing) == 1, listing  # the page of markets
    assert len(held) == 2, held  # positions, then one batch of markets
    assert published == []  # a book in Redis needs no SQL
    assert len(unpublished) == 1, unpublished  # does the market exist?
