"""Sign-up, log-in, tokens and API keys over real HTTP."""

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from auth.tokens import issue_access_token
from db.enums import Role
from tests.api.factories import gql, member
from workers.connections import Connections

SIGN_UP = """
mutation($input: SignUpInput!) {
  signUp(input: $input) {
    __typename
    ... on AuthPayload { accessToken refreshToken user { id email displayName role } }
    ... on Error { code message field }
  }
}"""
LOG_IN = """
mutation($email: String!, $password: String!) {
  logIn(input: {email: $email, password: $password}) {
    __typename
    ... on AuthPayload { accessToken refreshToken user { email } }
    ... on Error { code message }
  }
}"""
REFRESH = """
mutation($t: String!) {
  refreshToken(refreshToken: $t) {
    __typename
    ... on AuthPayload { accessToken refreshToken }
    ... on Error { code message field }
  }
}"""
LOG_OUT = """
mutation($t: String!) { logOut(refreshToken: $t) { __typename ... on Error { code } } }"""
ME = "{ me { __typename ... on User { id email role } ... on Error { code message } } }"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def sign_up(http: httpx.AsyncClient, email: str = "ada@example.test") -> dict[str, Any]:
    data = await gql(
        http,
        SIGN_UP,
        {"input": {"email": email, "password": "correct horse battery", "displayName": "Ada"}},
    )
    result: dict[str, Any] = data["signUp"]
    assert result["__typename"] == "AuthPayload", result
    return result


async def test_sign_up_then_me_then_log_in(http: httpx.AsyncClient) -> None:
    payload = await sign_up(http)
    assert payload["user"]["email"] == "ada@example.test"
    assert payload["user"]["role"] == "USER"
    me = (await gql(http, ME, headers=bearer(payload["accessToken"])))["me"]
    assert me == {
        "__typename": "User",
        "id": payload["user"]["id"],
        "email": "ada@example.test",
        "role": "USER",
    }
    again = await gql(
        http, LOG_IN, {"email": "ADA@example.test", "password": "correct horse battery"}
    )
    assert again["logIn"]["__typename"] == "AuthPayload"
    assert again["logIn"]["user"]["email"] == "ada@example.test"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("email", "not-an-email", "Not an email address."),
        ("email", "a" * 250 + "@x.io", "Not an email address."),
        ("password", "short", "A password has 10 to 128 characters."),
        ("password", "p" * 129, "A password has 10 to 128 characters."),
        ("displayName", "   ", "A display name has 1 to 50 characters."),
        ("displayName", "n" * 51, "A display name has 1 to 50 characters."),
    ],
)
async def test_sign_up_refuses_bad_input_and_creates_nothing(
    http: httpx.AsyncClient, connections: Connections, field: str, value: str, message: str
) -> None:
    good = {"email": "bob@example.test", "password": "long enough pw", "displayName": "Bob"}
    result = (await gql(http, SIGN_UP, {"input": good | {field: value}}))["signUp"]
    assert result == {
        "__typename": "InvalidInput",
        "code": "INVALID_INPUT",
        "message": message,
        "field": field,
    }
    keys = [key async for key in connections.redis.scan_iter() if b"ratelimit" not in key]
    assert keys == []  # no side effects anywhere
    async with connections.sessions() as session:
        assert (await session.execute(text("SELECT count(*) FROM users"))).scalar_one() == 0


async def test_the_same_email_cannot_sign_up_twice(http: httpx.AsyncClient) -> None:
    await sign_up(http)
    result = (
        await gql(
            http,
            SIGN_UP,
            {"input": {"email": "Ada@Example.test", "password": "x" * 12, "displayName": "A2"}},
        )
    )["signUp"]
    assert (result["__typename"], result["code"], result["field"]) == (
        "Conflict",
        "CONFLICT",
        "email",
    )


@pytest.mark.parametrize(
    ("email", "password"),
    [("ada@example.test", "wrong password!"), ("nobody@example.test", "correct horse battery")],
)
async def test_log_in_refusals_do_not_tell_which_part_was_wrong(
    http: httpx.AsyncClient, email: str, password: str
) -> None:
    await sign_up(http)
    result = (await gql(http, LOG_IN, {"email": email, "password": password}))["logIn"]
    assert result == {
        "__typename": "InvalidCredentials",
        "code": "INVALID_CREDENTIALS",
        "message": "The email or password is wrong.",
    }


async def test_refresh_rotates_and_a_reused_token_revokes_the_login(
    http: httpx.AsyncClient,
) -> None:
    first = await sign_up(http)
    second = (await gql(http, REFRESH, {"t": first["refreshToken"]}))["refreshToken"]
    assert second["__typename"] == "AuthPayload"
    assert second["refreshToken"] != first["refreshToken"]
    me = (await gql(http, ME, headers=bearer(second["accessToken"])))["me"]
    assert me["__typename"] == "User"

    replay = (await gql(http, REFRESH, {"t": first["refreshToken"]}))["refreshToken"]
    assert replay["code"] == "INVALID_TOKEN"
    assert "already used" in replay["message"]
    # the thief's replay also ended the rightful session's refresh chain
    after = (await gql(http, REFRESH, {"t": second["refreshToken"]}))["refreshToken"]
    assert after["code"] == "INVALID_TOKEN"


async def test_log_out_revokes_the_refresh_chain(http: httpx.AsyncClient) -> None:
    tokens = await sign_up(http)
    assert (await gql(http, LOG_OUT, {"t": tokens["refreshToken"]}))["logOut"] == {
        "__typename": "LoggedOut"
    }
    assert (await gql(http, REFRESH, {"t": tokens["refreshToken"]}))["refreshToken"][
        "code"
    ] == "INVALID_TOKEN"
    assert (await gql(http, LOG_OUT, {"t": tokens["refreshToken"]}))["logOut"] == {
        "__typename": "InvalidToken",
        "code": "INVALID_TOKEN",
    }
    unknown = (await gql(http, REFRESH, {"t": "pmr_made_up"}))["refreshToken"]
    assert (unknown["code"], unknown["field"]) == ("INVALID_TOKEN", "refreshToken")


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


async def _refused(http: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, str]:
    me: dict[str, str] = (await gql(http, ME, headers=headers))["me"]
    assert me["__typename"] == "NotAuthenticated"
    assert me["code"] == "NOT_AUTHENTICATED"
    return me


async def test_expired_tampered_and_unsigned_tokens_are_refused(
    http: httpx.AsyncClient, connections: Connections
) -> None:
    ada = await member(connections, "ada")
    secret = connections.settings.jwt_secret
    past = datetime.now(UTC) - timedelta(hours=1)
    expired, _ = issue_access_token(secret, ada.id, Role.USER, past)
    assert "expired" in (await _refused(http, bearer(expired)))["message"]

    header, claims, signature = ada.token.split(".")
    decoded = json.loads(base64.urlsafe_b64decode(claims + "=="))
    promoted = _b64(decoded | {"role": "ADMIN"})
    await _refused(http, bearer(f"{header}.{promoted}.{signature}"))

    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{claims}."
    assert "none" in (await _refused(http, bearer(unsigned)))["message"]

    forged, _ = issue_access_token(
        "another secret of enough length!!", ada.id, Role.ADMIN, datetime.now(UTC)
    )
    await _refused(http, bearer(forged))
    await _refused(http, {"Authorization": "Basic YWRhOnB3"})
    await _refused(http, {"Authorization": "Bearer"})
    await _refused(http, {"X-Api-Key": "pmk_not_a_key"})
    assert (await _refused(http, {}))["message"] == "Sign in, or send an API key, to do this."


CREATE_KEY = """
mutation($name: String!, $scopes: [ApiScope!]!) {
  createApiKey(input: {name: $name, scopes: $scopes}) {
    __typename
    ... on ApiKeyCreated { secret apiKey { id name prefix scopes revokedAt } }
    ... on Error { code message field }
  }
}"""
KEYS = "{ apiKeys { __typename ... on ApiKeyList { items { id name scopes revokedAt } } } }"
REVOKE = """
mutation($id: ID!) {
  revokeApiKey(id: $id) {
    __typename ... on ApiKeyRevoked { apiKey { id revokedAt } } ... on Error { code }
  }
}"""


async def test_api_keys_are_shown_once_authenticate_and_can_be_revoked(
    http: httpx.AsyncClient, connections: Connections
) -> None:
    ada = await member(connections, "ada")
    created = (
        await gql(http, CREATE_KEY, {"name": "bot", "scopes": ["READ"]}, headers=ada.headers)
    )["createApiKey"]
    assert created["__typename"] == "ApiKeyCreated"
    secret = created["secret"]
    assert secret.startswith("pmk_")
    assert created["apiKey"]["prefix"] == secret[:12]
    async with connections.sessions() as session:
        stored = (await session.execute(text("SELECT key_hash FROM api_keys"))).scalar_one()
    assert secret not in stored  # only a hash is kept

    me = (await gql(http, ME, headers={"X-Api-Key": secret}))["me"]
    assert (me["__typename"], me["id"]) == ("User", str(ada.id))
    # a key cannot manage keys or move money
    refused = (await gql(http, KEYS, headers={"X-Api-Key": secret}))["apiKeys"]
    assert refused["__typename"] == "Forbidden"

    listed = (await gql(http, KEYS, headers=ada.headers))["apiKeys"]["items"]
    assert [(k["name"], k["scopes"], k["revokedAt"]) for k in listed] == [("bot", ["READ"], None)]
    revoked = await gql(http, REVOKE, {"id": created["apiKey"]["id"]}, headers=ada.headers)
    assert revoked["revokeApiKey"]["apiKey"]["revokedAt"] is not None
    gone = (await gql(http, ME, headers={"X-Api-Key": secret}))["me"]
    assert gone["message"] == "The API key is unknown or revoked."


async def test_another_users_key_cannot_be_revoked_or_seen(
    http: httpx.AsyncClient, connections: Connections
) -> None:
    ada = await member(connections, "ada")
    eve = await member(connections, "eve")
    key_id = (
        await gql(http, CREATE_KEY, {"name": "bot", "scopes": ["TRADE"]}, headers=ada.headers)
    )["createApiKey"]["apiKey"]["id"]
    attempt = (await gql(http, REVOKE, {"id": key_id}, headers=eve.headers))["revokeApiKey"]
    missing = (await gql(http, REVOKE, {"id": "999999"}, headers=eve.headers))["revokeApiKey"]
    assert attempt == missing == {"__typename": "NotFound", "code": "NOT_FOUND"}
    assert (await gql(http, KEYS, headers=eve.headers))["apiKeys"]["items"] == []
    listed = (await gql(http, KEYS, headers=ada.headers))["apiKeys"]["items"]
    assert listed[0]["revokedAt"] is None


@pytest.mark.parametrize(
    ("name", "scopes", "field"),
    [("", ["READ"], "name"), ("x" * 51, ["READ"], "name"), ("bot", [], "scopes")],
)
async def test_bad_api_key_input_is_refused(
    http: httpx.AsyncClient, connections: Connections, name: str, scopes: list[str], field: str
) -> None:
    ada = await member(connections, "ada")
    result = await gql(http, CREATE_KEY, {"name": name, "scopes": scopes}, headers=ada.headers)
    assert (result["createApiKey"]["code"], result["createApiKey"]["field"]) == (
        "INVALID_INPUT",
        field,
    )
    assert (await gql(http, KEYS, headers=ada.headers))["apiKeys"]["items"] == []
