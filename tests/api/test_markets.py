"""Markets over real HTTP: an admin creates, halts and resumes; anyone lists and reads."""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from db.enums import Role
from db.markets import create_market
from resolvers.paging import encode_cursor
from tests.api.factories import gql, member
from workers.connections import Connections

MARKET_FIELDS = """
  id title description rules imageUrl category status resolution closesAt createdAt
  resolvedAt maxOrderQuantity collateral lastPrice bestBid bestAsk mid volume
"""
CREATE = f"""
mutation($input: CreateMarketInput!) {{
  createMarket(input: $input) {{
    __typename
    ... on MarketCreated {{ market {{ {MARKET_FIELDS} }} }}
    ... on Error {{ code message field }}
  }}
}}"""
HALT = """
mutation($id: ID!) {
  haltMarket(id: $id) {
    __typename
    ... on MarketHalted { market { id status } }
    ... on Error { code message field }
  }
}"""
RESUME = """
mutation($id: ID!) {
  resumeMarket(id: $id) {
    __typename
    ... on MarketResumed { market { id status } }
    ... on Error { code message field }
  }
}"""
MARKET = f"""
query($id: ID!) {{
  market(id: $id) {{
    __typename
    ... on Market {{ {MARKET_FIELDS} }}
    ... on Error {{ code message field }}
  }}
}}"""
MARKETS = """
query($filter: MarketFilter, $orderBy: MarketOrderBy, $first: Int!, $after: String) {
  markets(filter: $filter, orderBy: $orderBy, first: $first, after: $after) {
    __typename
    ... on MarketConnection {
      edges { cursor node { id title category status closesAt createdAt } }
      pageInfo { hasNextPage endCursor }
      totalCount
    }
    ... on Error { code message field }
  }
}"""


def _in(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


def _new_market(**changes: Any) -> dict[str, Any]:
    given: dict[str, Any] = {
        "title": "Will it rain in Paris on New Year's Day?",
        "description": "Météo-France's record for the day decides.",
        "rules": "YES if at least 0.2 mm of rain falls; NO otherwise.",
        "imageUrl": "https://example.test/rain.png",
        "category": "weather",
        "closesAt": _in(30),
    }
    given.update(changes)
    return given


async def _count_markets(connections: Connections) -> int:
    async with connections.sessions() as session:
        return int((await session.execute(text("SELECT count(*) FROM markets"))).scalar_one())


async def _insert_markets(
    connections: Connections, creator: int, specs: Sequence[tuple[str, str, float]]
) -> list[int]:
    """(title, category, days until close) each; made straight in the database."""
    ids = []
    async with connections.sessions() as session:
        for title, category, days in specs:
            row = await create_market(
                session,
                title=title,
                description=f"About {title.lower()}",
                rules="",
                image_url=None,
                category=category,
                closes_at=datetime.now(UTC) + timedelta(days=days),
                created_by=creator,
            )
            assert row.id is not None
            ids.append(row.id)
        await session.commit()
    return ids


async def test_an_admin_creates_halts_and_resumes_a_market(
    http: httpx.AsyncClient, connections: Connections
) -> None:
    ada = await member(connections, "ada", Role.ADMIN)
    closes_at = _in(30)

    created = (await gql(http, CREATE, {"input": _new_market(closesAt=closes_at)}, ada.headers))[
        "createMarket"
    ]

    assert created["__typename"] == "MarketCreated"
    market = created["market"]
    assert {k: v for k, v in market.items() if k not in ("id", "createdAt", "closesAt")} == {
        "title": "Will it rain in Paris on New Year's Day?",
        "description": "Météo-France's record for the day decides.",
        "rules": "YES if at least 0.2 mm of rain falls; NO otherwise.",
        "imageUrl": "https://example.test/rain.png",
        "category": "weather",
        "status": "OPEN",
        "resolution": None,
        "resolvedAt": None,
        "maxOrderQuantity": 1_000_000,
        "collateral": 0,
        "lastPrice": None,
        "bestBid": None,
        "bestAsk": None,
        "mid": None,
        "volume": None,
    }
    assert datetime.fromisoformat(market["closesAt"]) == datetime.fromisoformat(closes_at)
    market_id = market["id"]
    read = (await gql(http, MARKET, {"id": market_id}))["market"]  # anyone may read it
    assert read == {"__typename": "Market", **market}
    async with connections.sessions() as session:
        sequence = await session.execute(
            text("SELECT seq FROM market_sequences WHERE market_id = :m"), {"m": int(market_id)}
        )
        assert sequence.scalar_one() == 0

    halted = (await gql(http, HALT, {"id": market_id}, ada.headers))["haltMarket"]
    assert halted == {"__typename": "MarketHalted", "market": {"id": market_id, "status": "HALTED"}}
    again = (await gql(http, HALT, {"id": market_id}, ada.headers))["haltMarket"]
    assert again == {
        "__typename": "InvalidState",
        "code": "INVALID_STATE",
        "message": "The market is HALTED; this needs it OPEN.",
        "field": None,
    }

    resumed = (await gql(http, RESUME, {"id": market_id}, ada.headers))["resumeMarket"]
    assert resumed == {
        "__typename": "MarketResumed",
        "market": {"id": market_id, "status": "OPEN"},
    }
    twice = (await gql(http, RESUME, {"id": market_id}, ada.headers))["resumeMarket"]
    assert (twice["__typename"], twice["message"]) == (
        "InvalidState",
        "The market is OPEN; this needs it HALTED.",
    )
    assert (await gql(http, MARKET, {"id": market_id}))["market"]["status"] == "OPEN"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 301}, "title"),
        ({"description": "x" * 10_001}, "description"),
        ({"rules": "x" * 10_001}, "rules"),
        ({"category": ""}, "category"),
        ({"category": "Sports"}, "category"),
        ({"category": "sports_and_games"}, "category"),
        ({"category": "x" * 51}, "category"),
        ({"imageUrl": "ftp://example.test/a.png"}, "imageUrl"),
        ({"imageUrl": "javascript:alert(1)"}, "imageUrl"),
        ({"imageUrl": "https://"}, "imageUrl"),
        ({"imageUrl": "https://example.test/a b.png"}, "imageUrl"),
        ({"imageUrl": "https://example.test/" + "a" * 2_000}, "imageUrl"),
        ({"closesAt": _in(-1)}, "closesAt"),
        ({"closesAt": _in(5 * 365 + 2)}, "closesAt"),
        ({"closesAt": "2099-01-01T00:00:00"}, "closesAt"),
    ],
)
async def test_bad_market_input_is_refused_with_the_field_and_creates_nothing(
    http: httpx.AsyncClient, connections: Connections, changes: dict[str, Any], field: str
) -> None:
    ada = await member(connections, "ada", Role.ADMIN)

    refused = (await gql(http, CREATE, {"input": _new_market(**changes)}, ada.headers))[
        "createMarket"
    ]

    assert (refused["__typename"], refused["code"], refused["field"]) == (
        "InvalidInput",
        "INVALID_INPUT",
        field,
    )
    assert await _count_markets(connections) == 0


async def test_the_longest_allowed_values_are_accepted(
    http: httpx.AsyncClient, connections: Connections
) -> None:
    ada = await member(connections, "ada", Role.ADMIN)
    longest = _new_market(
        title="x" * 300,
        description="d" * 10_000,
        rules="r" * 10_000,
        category="a-" * 25,
        imageUrl="http://example.test/" + "a" * 1_980,
        closesAt=_in(5 * 365 - 1),
    )
    created = (await gql(http, CREATE, {"input": longest}, ada.headers))["createMarket"]
    assert created["__typename"] == "MarketCreated"
    assert created["market"]["title"] == "x" * 300


async def test_only_a_signed_in_admin_may_manage_markets(
    http: httpx.AsyncClient, connections: Connections
) -> None:
    ada = await member(connections, "ada", Role.ADMIN)
    bob = await member(connections, "bob")
    (market_id,) = await _insert_markets(connections, ada.id, [("Will it snow?", "weather", 3)])
    callers: list[tuple[dict[str, str] | None, str]] = [
        (None, "NotAuthenticated"),
        ({"Authorization": "Bearer not-a-token"}, "NotAuthenticated"),
        (bob.headers, "Forbidden"),
    ]
    for headers, refusal in callers:
        created = (await gql(http, CREATE, {"input": _new_market()}, headers))["createMarket"]
        halted = (await gql(http, HALT, {"id": str(market_id)}, headers))["haltMarket"]
        resumed = (await gql(http, RESUME, {"id": str(market_id)}, headers))["resumeMarket"]
        assert [r["__typename"] for r in (created, halted, resumed)] == [refusal] * 3

    assert await _count_markets(connections) == 1
    read = (await gql(http, MARKET, {"id": str(market_id)}))["market"]
    assert read["status"] == "OPEN"


@pytest.mark.parametrize("given", ["999", "0", "-1", "abc", "1.5", "", "99999999999999999999"])
async def test_an_unknown_or_malformed_id_is_not_found(
    http: httpx.AsyncClient, connections: Connections, given: str
) -> None:
    ada = await member(connections, "ada", Role.ADMIN)
    await _insert_markets(connections, ada.id, [("Will it snow?", "weather", 3)])
    for document, name in ((MARKET, "market"), (HALT, "haltMarket"), (RESUME, "resumeMarket")):
        found = (await gql(http, document, {"id": given}, ada.headers))[name]
        assert (found["__typename"], found["field"]) == ("NotFound", "id")


async def test_a_market_past_its_close_reads_closed_at_once(
    http: httpx.AsyncClient, connections: Connections
) -> None:
    ada = await member(connections, "ada", Role.ADMIN)
    due, halted_due, later = await _insert_markets(
        connections,
        ada.id,
        [("Due now", "misc", 1), ("Halted and due", "misc", 1), ("Later", "misc", 1)],
    )
    assert (await gql(http, HALT, {"id": str(halted_due)}, ada.headers))["haltMarket"][
        "__typename"
    ] == "MarketHalted"
    async with connections.sessions() as session:  # time passes for two of them
        await session.execute(
            text("UPDATE markets SET closes_at = now() - interval '1 second' WHERE id IN (:a, :b)"),
            {"a": due, "b": halted_due},
        )
        await session.commit()

    statuses = {
        m: (await gql(http, MARKET, {"id": str(m)}))["market"]["status"]
        for m in (due, halted_due, later)
    }
    assert statuses == {due: "CLOSED", halted_due: "CLOSED", later: "OPEN"}

    async def listed(status: str) -> list[str]:
        page = await gql(http, MARKETS, {"filter": {"status": status}, "first": 10})
        return [e["node"]["title"] for e in page["markets"]["edges"]]

    assert await listed("CLOSED") == ["Halted and due", "Due now"]
    assert await listed("OPEN") == ["Later"]
    assert await listed("HALTED") == []
    for document, name in ((HALT, "haltMarket"), (RESUME, "resumeMarket")):
        refused = (await gql(http, document, {"id": str(halted_due)}, ada.headers))[name]
        assert (refused["__typename"], refused["message"].split(";")[0]) == (
            "InvalidState",
            "The market is CLOSED",
        )


async def test_listing_filters_by_status_category_and_search(
    http: httpx.AsyncClient, connections: Connections
) -> None:
    ada = await member(connections, "ada", Role.ADMIN)
    _, snow, _, _ = await _insert_markets(
        connections,
        ada.id,
        [
            ("Will it RAIN in Paris?", "weather", 5),
            ("Will it snow in 100% of Alps resorts?", "weather", 6),
            ("Will the home team score?", "sports", 7),
            ("Will rates fall?", "economics", 8),
        ],
    )
    await gql(http, HALT, {"id": str(snow)}, ada.headers)

    async def titles(given: dict[str, Any]) -> tuple[list[str], int]:
        found = (await gql(http, MARKETS, {"filter": given, "first": 10}))["markets"]
        assert found["__typename"] == "MarketConnection"
        return [e["node"]["title"] for e in found["edges"]], found["totalCount"]

    assert await titles({}) == (
        [
            "Will rates fall?",
            "Will the home team score?",
            "Will it snow in 100% of Alps resorts?",
            "Will it RAIN in Paris?",
        ],
        4,
    )
    assert await titles({"category": "weather"}) == (
        ["Will it snow in 100% of Alps resorts?", "Will it RAIN in Paris?"],
        2,
    )
    assert await titles({"status": "HALTED"}) == (["Will it snow in 100% of Alps resorts?"], 1)
    assert (await titles({"status": "OPEN", "category": "weather"}))[0] == [
        "Will it RAIN in Paris?"
    ]
    assert await titles({"search": "rain"}) == (["Will it RAIN in Paris?"], 1)
    assert await titles({"search": "  paris "}) == (["Will it RAIN in Paris?"], 1)
    assert (await titles({"search": "100%"}))[0] == ["Will it snow in 100% of Alps resorts?"]
    assert await titles({"search": "%"}) == (["Will it snow in 100% of Alps resorts?"], 1)
    assert await titles({"search": "_"}) == ([], 0)
    assert (await titles({"search": "about will the home"}))[0] == [  # the description
        "Will the home team score?"
    ]
    assert await titles({"category": "politics"}) == ([], 0)


@pytest.mark.parametrize(
    ("order_by", "key"),
    [
        ({"field": "CREATED_AT", "direction": "ASC"}, "created"),
        ({"field": "CREATED_AT", "direction": "DESC"}, "created"),
        ({"field": "CLOSES_AT", "direction": "ASC"}, "closes"),
        ({"field": "CLOSES_AT", "direction": "DESC"}, "closes"),
        ({"field": "TITLE", "direction": "ASC"}, "title"),
        ({"field": "TITLE", "direction": "DESC"}, "title"),
    ],
)
async def test_walking_pages_sees_every_market_once_in_order(
    http: httpx.AsyncClient, connections: Connections, order_by: dict[str, str], key: str
) -> None:
    ada = await member(connections, "ada", Role.ADMIN)
    # Ties on every sort key (same title, same close, same creation time) test the id
    # tie-break that keeps the keyset exact.
    specs = [(f"Question {i % 5}", "misc", 10 + i % 4) for i in range(23)]
    ids = await _insert_markets(connections, ada.id, specs)
    async with connections.sessions() as session:
        await session.execute(
            text(
                "UPDATE markets SET created_at = timestamptz '2030-01-01 00:00:00+00'"
                " + (id % 3) * interval '1 millisecond',"
                " closes_at = date_trunc('second', closes_at)"
            )
        )
        await session.commit()
        rows = (
            await session.execute(text("SELECT id, title, created_at, closes_at FROM markets"))
        ).all()
    sort_key = {
        "created": lambda r: (r.created_at, r.id),
        "closes": lambda r: (r.closes_at, r.id),
        "title": lambda r: (r.title, r.id),
    }[key]
    expected = [
        str(r.id) for r in sorted(rows, key=sort_key, reverse=order_by["direction"] == "DESC")
    ]
    assert len(expected) == len(ids) == 23

    seen: list[str] = []
    cursors: list[str] = []
    after = None
    pages = 0
    while True:
        page = (await gql(http, MARKETS, {"orderBy": order_by, "first": 5, "after": after}))[
            "markets"
        ]
        pages += 1
        assert page["totalCount"] == 23
        seen += [e["node"]["id"] for e in page["edges"]]
        cursors += [e["cursor"] for e in page["edges"]]
        assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert pages == 5
    assert seen == expected  # no duplicates, no omissions, in the order asked

    # Cursors are stable: the same market has the same cursor whatever the page size.
    whole = (await gql(http, MARKETS, {"orderBy": order_by, "first": 100}))["markets"]
    assert [e["cursor"] for e in whole["edges"]] == cursors
    assert whole["pageInfo"] == {"hasNextPage": False, "endCursor": cursors[-1]}


async def test_a_cursor_stays_valid_while_markets_are_added(
    http: httpx.AsyncClient, connections: Connections
) -> None:
    ada = await member(connections, "ada", Role.ADMIN)
    await _insert_markets(connections, ada.id, [(f"Old {i}", "misc", 3) for i in range(6)])
    first = (await gql(http, MARKETS, {"first": 3}))["markets"]
    await _insert_markets(connections, ada.id, [("Newest", "misc", 3)])
    rest = (await gql(http, MARKETS, {"first": 10, "after": first["pageInfo"]["endCursor"]}))[
        "markets"
    ]
    titles = [e["node"]["title"] for e in first["edges"] + rest["edges"]]
    assert titles == ["Old 5", "Old 4", "Old 3", "Old 2", "Old 1", "Old 0"]
    assert rest["totalCount"] == 7


@pytest.mark.parametrize(
    ("variables", "field"),
    [
        ({"first": 0}, "first"),
        ({"first": 101}, "first"),
        ({"first": -5}, "first"),
        ({"first": 5, "after": "not a cursor"}, "after"),
        ({"first": 5, "after": encode_cursor("ledger", 1)}, "after"),
        ({"first": 5, "after": encode_cursor("market", "CREATED_AT", "yesterday", 1)}, "after"),
        ({"first": 5, "after": encode_cursor("market", "CREATED_AT", "2030-01-01", 1)}, "after"),
        ({"first": 5, "after": encode_cursor("market", "CREATED_AT")}, "after"),
        ({"first": 5, "filter": {"category": "Not A Slug"}}, "filter.category"),
        ({"first": 5, "filter": {"search": "x" * 201}}, "filter.search"),
    ],
)
async def test_bad_page_arguments_get_invalid_input(
    http: httpx.AsyncClient, connections: Connections, variables: dict[str, Any], field: str
) -> None:
    ada = await member(connections, "ada", Role.ADMIN)
    await _insert_markets(connections, ada.id, [("Will it snow?", "weather", 3)])
    refused = (await gql(http, MARKETS, variables))["markets"]
    assert (refused["__typename"], refused["field"]) == ("InvalidInput", field)


async def test_a_cursor_of_another_sort_key_is_refused(
    http: httpx.AsyncClient, connections: Connections
) -> None:
    ada = await member(connections, "ada", Role.ADMIN)
    await _insert_markets(connections, ada.id, [("A", "misc", 3), ("B", "misc", 4)])
    by_title = {"field": "TITLE", "direction": "ASC"}
    cursor = (await gql(http, MARKETS, {"first": 1, "orderBy": by_title}))["markets"]["pageInfo"][
        "endCursor"
    ]
    refused = (await gql(http, MARKETS, {"first": 1, "after": cursor}))["markets"]
    assert (refused["__typename"], refused["field"]) == ("InvalidInput", "after")
    same = (await gql(http, MARKETS, {"first": 1, "after": cursor, "orderBy": by_title}))["markets"]
    assert [e["node"]["title"] for e in same["edges"]] == ["B"]
