"""Deposits, withdrawals, credits, the ledger and the audit, over real HTTP."""

import httpx
import pytest

from db.enums import Role
from tests.api.factories import gql, member
from workers.connections import Connections

DEPOSIT = """
mutation($amount: Cents!) {
  deposit(amount: $amount) {
    __typename
    ... on Deposited { amount remainingToday account { available reserved total } }
    ... on LimitExceeded { code limit remaining field }
    ... on Error { code message field }
  }
}"""
WITHDRAW = """
mutation($amount: Cents!) {
  withdraw(amount: $amount) {
    __typename
    ... on Withdrawn { amount account { available total } }
    ... on InsufficientFunds { code available required field }
    ... on Error { code message field }
  }
}"""
CREDIT = """
mutation($user: ID!, $amount: Cents!) {
  creditAccount(userId: $user, amount: $amount) {
    __typename
    ... on Credited { userId amount account { available } }
    ... on Error { code message field }
  }
}"""
ACCOUNT = """{ account { __typename ... on Account { available reserved total }
                        ... on Error { code } } }"""
LEDGER = """
query($first: Int!, $after: String) {
  ledger(first: $first, after: $after) {
    __typename
    ... on LedgerConnection {
      edges { cursor node { kind asset bucket amount journalId } }
      pageInfo { hasNextPage endCursor }
    }
    ... on Error { code field }
  }
}"""
AUDIT = """{ audit { __typename ... on AuditReport { ok deposits withdrawals usersCash
                                                     marketsCollateral discrepancies }
                     ... on Error { code } } }"""


async def test_deposit_withdraw_and_read_balances(
    http: httpx.AsyncClient, connections: Connections
) -> None:
    ada = await member(connections, "ada")
    first = (await gql(http, DEPOSIT, {"amount": 25_000}, headers=ada.headers))["deposit"]
    assert first == {
        "__typename": "Deposited",
        "amount": 25_000,
        "remainingToday": 75_000,
        "account": {"available": 25_000, "reserved": 0, "total": 25_000},
    }
    out = (await gql(http, WITHDRAW, {"amount": 10_001}, headers=ada.headers))["withdraw"]
    assert out == {
        "__typename": "Withdrawn",
        "amount": 10_001,
        "account": {"available": 14_999, "total": 14_999},
    }
    assert (await gql(http, ACCOUNT, headers=ada.headers))["account"] == {
        "__typename": "Account",
        "available": 14_999,
        "reserved": 0,
        "total": 14_999,
    }


async def test_the_faucet_has_a_daily_cap(
    http: httpx.AsyncClient, connections: Connections
) -> None:
    ada = await member(connections, "ada")
    await gql(http, DEPOSIT, {"amount": 90_000}, headers=ada.headers)
    refused = (await gql(http, DEPOSIT, {"amount": 10_001}, headers=ada.headers))["deposit"]
    assert refused == {
        "__typename": "LimitExceeded",
        "code": "LIMIT_EXCEEDED",
        "limit": 100_000,
        "remaining": 10_000,
        "field": "amount",
        "message": "The daily deposit cap is 100000 cents; 10000 remain today.",
    }
    exact = (await gql(http, DEPOSIT, {"amount": 10_000}, headers=ada.headers))["deposit"]
    assert exact["remainingToday"] == 0
    assert (await gql(http, ACCOUNT, headers=ada.headers))["account"]["available"] == 100_000


async def test_withdrawing_more_than_available_changes_nothing(
    http: httpx.AsyncClient, connections: Connections
) -> None:
    ada = await member(connections, "ada")
    await gql(http, DEPOSIT, {"amount": 500}, headers=ada.headers)
    refused = (await gql(http, WITHDRAW, {"amount": 501}, headers=ada.headers))["withdraw"]
    assert refused == {
        "__typename": "InsufficientFunds",
        "code": "INSUFFICIENT_FUNDS",
        "available": 500,
        "required": 501,
        "field": "amount",
        "message": "Not enough available cash.",
    }
    assert (await gql(http, ACCOUNT, headers=ada.headers))["account"]["available"] == 500
    entries = (await gql(http, LEDGER, {"first": 10}, headers=ada.headers))["ledger"]["edges"]
    assert [e["node"]["kind"] for e in entries] == ["DEPOSIT"]


@pytest.mark.parametrize("amount", [0, -1, -(2**40)])
@pytest.mark.parametrize("operation", [DEPOSIT, WITHDRAW])
async def test_non_positive_amounts_are_invalid_input(
    http: httpx.AsyncClient, connections: Connections, operation: str, amount: int
) -> None:
    ada = await member(connections, "ada")
    result = next(
        iter((await gql(http, operation, {"amount": amount}, headers=ada.headers)).values())
    )
    assert (result["code"], result["field"]) == ("INVALID_INPUT", "amount")


async def test_amounts_beyond_exact_json_numbers_are_rejected_before_execution(
    http: httpx.AsyncClient, connections: Connections
) -> None:
    ada = await member(connections, "ada")
    for bad in (2**53, 1.5, "100"):
        response = await http.post(
            "/graphql", json={"query": DEPOSIT, "variables": {"amount": bad}}, headers=ada.headers
        )
        body = response.json()
        assert body.get("data") is None
        assert "Cents" in body["errors"][0]["message"]
    assert (await gql(http, ACCOUNT, headers=ada.headers))["account"]["total"] == 0


async def test_admin_credits_any_user_others_cannot(
    http: httpx.AsyncClient, connections: Connections
) -> None:
    root = await member(connections, "root", Role.ADMIN)
    ada = await member(connections, "ada")
    credited = (
        await gql(http, CREDIT, {"user": str(ada.id), "amount": 10**9}, headers=root.headers)
    )["creditAccount"]
    assert credited == {
        "__typename": "Credited",
        "userId": str(ada.id),
        "amount": 10**9,
        "account": {"available": 10**9},
    }
    by_user = (await gql(http, CREDIT, {"user": str(ada.id), "amount": 5}, headers=ada.headers))[
        "creditAccount"
    ]
    assert by_user["code"] == "FORBIDDEN"
    anonymous = (await gql(http, CREDIT, {"user": str(ada.id), "amount": 5}))["creditAccount"]
    assert anonymous["code"] == "NOT_AUTHENTICATED"
    for missing in ("424242", "abc", "9" * 30):
        nobody = (await gql(http, CREDIT, {"user": missing, "amount": 5}, headers=root.headers))[
            "creditAccount"
        ]
        assert (nobody["code"], nobody["field"]) == ("NOT_FOUND", "userId")
    too_much = (
        await gql(http, CREDIT, {"user": str(ada.id), "amount": 10**12 + 1}, headers=root.headers)
    )["creditAccount"]
    assert too_much["code"] == "INVALID_INPUT"
    assert (await gql(http, ACCOUNT, headers=ada.headers))["account"]["total"] == 10**9


async def test_ledger_pages_newest_first_with_stable_cursors(
    http: httpx.AsyncClient, connections: Connections
) -> None:
    ada = await member(connections, "ada")
    for amount in (100, 200, 300, 400, 500):
        await gql(http, DEPOSIT, {"amount": amount}, headers=ada.headers)
    await gql(http, WITHDRAW, {"amount": 50}, headers=ada.headers)
    seen: list[int] = []
    after = None
    while True:
        page = (await gql(http, LEDGER, {"first": 4, "after": after}, headers=ada.headers))[
            "ledger"
        ]
        seen += [edge["node"]["amount"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == [-50, 500, 400, 300, 200, 100]
    bad = (await gql(http, LEDGER, {"first": 4, "after": "nonsense"}, headers=ada.headers))[
        "ledger"
    ]
    assert bad == {"__typename": "InvalidInput", "code": "INVALID_INPUT", "field": "after"}
    too_many = (await gql(http, LEDGER, {"first": 101}, headers=ada.headers))["ledger"]
    assert too_many["field"] == "first"


async def test_audit_is_for_admins_and_adds_up(
    http: httpx.AsyncClient, connections: Connections
) -> None:
    root = await member(connections, "root", Role.ADMIN)
    ada = await member(connections, "ada")
    await gql(http, DEPOSIT, {"amount": 7_000}, headers=ada.headers)
    await gql(http, WITHDRAW, {"amount": 2_000}, headers=ada.headers)
    await gql(http, CREDIT, {"user": str(ada.id), "amount": 1_000}, headers=root.headers)
    assert (await gql(http, AUDIT, headers=root.headers))["audit"] == {
        "__typename": "AuditReport",
        "ok": True,
        "deposits": 8_000,
        "withdrawals": 2_000,
        "usersCash": 6_000,
        "marketsCollateral": 0,
        "discrepancies": [],
    }
    assert (await gql(http, AUDIT, headers=ada.headers))["audit"]["code"] == "FORBIDDEN"
    assert (await gql(http, AUDIT))["audit"]["code"] == "NOT_AUTHENTICATED"
