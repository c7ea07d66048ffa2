"""The ownership matrix: every private query and mutation, asked by an anonymous caller and by
another user. They get a typed refusal (or only their own, empty, data) and learn nothing —
not even whether the object exists — and nothing changes."""

from typing import Any

import httpx
import pytest

from db.enums import Role
from tests.api.factories import Member, gql, member
from tests.api.test_portfolio import trade_a_little
from workers.connections import Connections

ANONYMOUS = "anonymous"
STRANGER = "stranger"


def _fields(name: str, inner: str) -> str:
    return f"{name} {{ __typename ... on Error {{ code }} {inner} }}"


# (name, document, variables from the owner's objects, what a stranger gets)
PRIVATE: list[tuple[str, str, Any, Any]] = [
    ("me", "{ " + _fields("me", "... on User { id email }") + " }", None, "own"),
    ("account", "{ " + _fields("account", "... on Account { total }") + " }", None, "own"),
    (
        "ledger",
        "{ " + _fields("ledger", "... on LedgerConnection { edges { node { id } } }") + " }",
        None,
        {"__typename": "LedgerConnection", "edges": []},
    ),
    (
        "apiKeys",
        "{ " + _fields("apiKeys", "... on ApiKeyList { items { id } }") + " }",
        None,
        {"__typename": "ApiKeyList", "items": []},
    ),
    (
        "positions",
        "{ " + _fields("positions", "... on PositionList { positions { outcome } }") + " }",
        None,
        {"__typename": "PositionList", "positions": []},
    ),
    (
        "orders",
        "{ " + _fields("orders", "... on OrderConnection { edges { node { id } } }") + " }",
        None,
        {"__typename": "OrderConnection", "edges": []},
    ),
    (
        "trades",
        "{ " + _fields("trades", "... on TradeConnection { edges { node { id } } }") + " }",
        None,
        {"__typename": "TradeConnection", "edges": []},
    ),
    (
        "order",
        "query($id: ID!) { " + _fields("order(id: $id)", "... on Order { id }") + " }",
        lambda own: {"id": own["order"]},
        {"__typename": "NotFound", "code": "NOT_FOUND"},
    ),
    (
        "revokeApiKey",
        "mutation($id: ID!) { "
        + _fields("revokeApiKey(id: $id)", "... on ApiKeyRevoked { apiKey { id } }")
        + " }",
        lambda own: {"id": own["key"]},
        {"__typename": "NotFound", "code": "NOT_FOUND"},
    ),
    (
        "deposit",
        "mutation { " + _fields("deposit(amount: 100)", "... on Deposited { amount }") + " }",
        None,
        "own",
    ),
    (
        "withdraw",
        "mutation { " + _fields("withdraw(amount: 100)", "... on Withdrawn { amount }") + " }",
        None,
        {"__typename": "InsufficientFunds", "code": "INSUFFICIENT_FUNDS"},
    ),
    (
        "createApiKey",
        "mutation { "
        + _fields(
            'createApiKey(input: {name: "k", scopes: [READ]})', "... on ApiKeyCreated { secret }"
        )
        + " }",
        None,
        "own",
    ),
    (
        "creditAccount",
        "mutation($id: ID!) { "
        + _fields("creditAccount(userId: $id, amount: 5)", "... on Credited { amount }")
        + " }",
        lambda own: {"id": own["user"]},
        {"__typename": "Forbidden", "code": "FORBIDDEN"},
    ),
    (
        "audit",
        "{ " + _fields("audit", "... on AuditReport { ok }") + " }",
        None,
        {"__typename": "Forbidden", "code": "FORBIDDEN"},
    ),
    (
        "createMarket",
        "mutation { "
        + _fields(
            'createMarket(input: {title: "t", closesAt: "2031-01-01T00:00:00Z"})',
            "... on MarketCreated { market { id } }",
        )
        + " }",
        None,
        {"__typename": "Forbidden", "code": "FORBIDDEN"},
    ),
    (
        "haltMarket",
        "mutation($id: ID!) { "
        + _fields("haltMarket(id: $id)", "... on MarketHalted { market { id } }")
        + " }",
        lambda own: {"id": own["market"]},
        {"__typename": "Forbidden", "code": "FORBIDDEN"},
    ),
    (
        "resumeMarket",
        "mutation($id: ID!) { "
        + _fields("resumeMarket(id: $id)", "... on MarketResumed { market { id } }")
        + " }",
        lambda own: {"id": own["market"]},
        {"__typename": "Forbidden", "code": "FORBIDDEN"},
    ),
]

DOCUMENTS = {name: document for name, document, *_ in PRIVATE}

SNAPSHOT = """{
  me { ... on User { id } }
  account { ... on Account { available reserved } }
  ledger(first: 100) { ... on LedgerConnection { edges { node { id amount } } } }
  apiKeys { ... on ApiKeyList { items { id revokedAt } } }
  positions { ... on PositionList { positions { outcome shares } } }
  orders(first: 100) { ... on OrderConnection { edges { node { id status } } } }
  trades(first: 100) { ... on TradeConnection { edges { node { id } } } }
}"""


async def _owner(
    http: httpx.AsyncClient, connections: Connections
) -> tuple[Member, dict[str, str]]:
    ada = await member(connections, "ada")
    bob = await member(connections, "bob")
    book = await trade_a_little(connections, ada, bob)
    key = await gql(
        http,
        'mutation { createApiKey(input: {name: "bot", scopes: [READ]}) {'
        " ... on ApiKeyCreated { apiKey { id } } } }",
        headers=ada.headers,
    )
    return ada, {
        "user": str(ada.id),
        "order": str(book.orders["ada_rain_sell"]),
        "key": key["createApiKey"]["apiKey"]["id"],
        "market": str(book.rain),
    }


@pytest.mark.parametrize(("name", "document", "variables", "stranger_gets"), PRIVATE)
@pytest.mark.parametrize("caller", [ANONYMOUS, STRANGER])
async def test_private_data_is_refused_to_others(
    http: httpx.AsyncClient,
    connections: Connections,
    caller: str,
    name: str,
    document: str,
    variables: Any,
    stranger_gets: Any,
) -> None:
    ada, own = await _owner(http, connections)
    before = await gql(http, SNAPSHOT, headers=ada.headers)
    headers: dict[str, str] = {}
    if caller == STRANGER:
        eve = await member(connections, "eve")
        headers = eve.headers
    result = await gql(http, document, variables(own) if variables else None, headers)
    answer = next(iter(result.values()))
    if caller == ANONYMOUS:
        assert answer == {"__typename": "NotAuthenticated", "code": "NOT_AUTHENTICATED"}
    elif stranger_gets == "own":  # the stranger acts on their own account, never ada's
        assert answer["__typename"] not in ("Forbidden", "NotFound", "NotAuthenticated")
        assert answer.get("id") != str(ada.id)
    else:
        assert answer == stranger_gets
    assert await gql(http, SNAPSHOT, headers=ada.headers) == before


async def test_an_admin_is_refused_other_users_private_data_too(
    http: httpx.AsyncClient, connections: Connections
) -> None:
    _, own = await _owner(http, connections)
    root = await member(connections, "root", Role.ADMIN)
    order = (await gql(http, DOCUMENTS["order"], {"id": own["order"]}, root.headers))["order"]
    assert order == {"__typename": "NotFound", "code": "NOT_FOUND"}
    keys = (await gql(http, DOCUMENTS["apiKeys"], None, root.headers))["apiKeys"]
    assert keys == {"__typename": "ApiKeyList", "items": []}
