"""A newcomer's first minutes, over real HTTP, through the documents the README shows."""

from datetime import UTC, datetime, timedelta

import httpx

from db.enums import Role
from tests.api.factories import gql, member
from workers.connections import Connections

SIGN_UP = """
mutation {
  signUp(input: {email: "newcomer@example.test", password: "a long passphrase",
                 displayName: "Newcomer"}) {
    __typename
    ... on AuthPayload { accessToken refreshToken user { displayName role } }
  }
}"""
DEPOSIT = """
mutation { deposit(amount: 50000) { __typename ... on Deposited { account { available } } } }"""
BROWSE = """
query($after: String) {
  markets(first: 2, after: $after, orderBy: {field: CLOSES_AT, direction: ASC}) {
    ... on MarketConnection {
      totalCount
      edges { node { id title status closesAt } }
      pageInfo { hasNextPage endCursor }
    }
  }
}"""
PORTFOLIO = """{
  account { ... on Account { available reserved total } }
  positions { ... on PositionList { positions { outcome } } }
  orders { ... on OrderConnection { edges { node { id } } } }
  trades { ... on TradeConnection { edges { node { id } } } }
  ledger { ... on LedgerConnection { edges { node { kind amount } } } }
}"""


async def test_sign_up_deposit_browse_and_read_an_empty_portfolio(
    http: httpx.AsyncClient, connections: Connections
) -> None:
    root = await member(connections, "root", Role.ADMIN)
    soon = datetime.now(UTC) + timedelta(days=1)
    titles = [f"Question {n}?" for n in range(3)]
    for n, title in enumerate(titles):
        created = await gql(
            http,
            "mutation($t: String!, $c: DateTime!) { createMarket(input: {title: $t,"
            " closesAt: $c}) { __typename } }",
            {"t": title, "c": (soon + timedelta(hours=n)).isoformat()},
            headers=root.headers,
        )
        assert created["createMarket"]["__typename"] == "MarketCreated"

    signed_up = (await gql(http, SIGN_UP))["signUp"]
    assert signed_up["__typename"] == "AuthPayload"
    assert signed_up["user"] == {"displayName": "Newcomer", "role": "USER"}
    me = {"Authorization": f"Bearer {signed_up['accessToken']}"}

    deposited = (await gql(http, DEPOSIT, headers=me))["deposit"]
    assert deposited == {"__typename": "Deposited", "account": {"available": 50_000}}

    seen, after = [], None
    while True:
        page = (await gql(http, BROWSE, {"after": after}, headers=me))["markets"]
        assert page["totalCount"] == 3
        seen += [(e["node"]["title"], e["node"]["status"]) for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == [(title, "OPEN") for title in titles]

    assert await gql(http, PORTFOLIO, headers=me) == {
        "account": {"available": 50_000, "reserved": 0, "total": 50_000},
        "positions": {"positions": []},
        "orders": {"edges": []},
        "trades": {"edges": []},
        "ledger": {"edges": [{"node": {"kind": "DEPOSIT", "amount": 50_000}}]},
    }
