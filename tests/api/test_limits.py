"""Documents too deep, too long or too aliased are refused; callers are rate limited."""

import asyncio

import httpx

from schema.app import create_app
from schema.checks import MAX_ALIASES, MAX_DEPTH, MAX_TOKENS
from settings import Settings
from tests.api.factories import member
from tests.api.server import serve
from workers.connections import Connections


async def _errors(http: httpx.AsyncClient, query: str) -> list[str]:
    body = (await http.post("/graphql", json={"query": query})).json()
    return [error["message"] for error in body.get("errors", [])]


async def test_depth_limit(http: httpx.AsyncClient) -> None:
    assert await _errors(http, "{ ledger { __typename } }") == []
    deep = "{ " + "a { " * (MAX_DEPTH + 1) + "b" + " }" * (MAX_DEPTH + 1) + " }"
    errors = await _errors(http, deep)
    assert any("exceeds maximum operation depth" in e for e in errors), errors


async def test_token_limit(http: httpx.AsyncClient) -> None:
    query = "{ " + " ".join(["__typename"] * MAX_TOKENS) + " }"
    errors = await _errors(http, query)
    assert len(errors) == 1
    assert errors[0].startswith("Syntax Error: Document contains more than 2000 tokens.")


async def test_alias_limit(http: httpx.AsyncClient) -> None:
    fits = "{ " + " ".join(f"a{i}: __typename" for i in range(MAX_ALIASES)) + " }"
    assert await _errors(http, fits) == []
    over = "{ " + " ".join(f"a{i}: __typename" for i in range(MAX_ALIASES + 1)) + " }"
    errors = await _errors(http, over)
    assert any("aliases" in e for e in errors), errors


async def test_rate_limit_answers_429_with_retry_after_and_refills(
    settings: Settings, connections: Connections
) -> None:
    tight = settings.model_copy(update={"rate_limit_per_second": 2.0, "rate_limit_burst": 3})
    ada = await member(connections, "ada")
    bob = await member(connections, "bob")
    tight_connections = Connections(
        tight, connections.engine, connections.sessions, connections.redis, connections.producer
    )
    query = {"query": "{ serverInfo { version } }"}
    async with (
        serve(create_app(tight, tight_connections, background=False)) as url,
        httpx.AsyncClient(base_url=url) as http,
    ):
        answers = [await http.post("/graphql", json=query, headers=ada.headers) for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        refused = answers[-1]
        error = refused.json()["errors"][0]
        assert error["extensions"]["code"] == "RATE_LIMITED"
        assert 0 < error["extensions"]["retryAfterSeconds"] <= 0.5
        assert refused.headers["Retry-After"] == "1"
        # another user has a bucket of their own
        assert (await http.post("/graphql", json=query, headers=bob.headers)).status_code == 200
        await asyncio.sleep(error["extensions"]["retryAfterSeconds"] + 0.05)
        assert (await http.post("/graphql", json=query, headers=ada.headers)).status_code == 200
        # the GraphiQL page itself is not an operation and is never limited
        for _ in range(5):
            page = await http.get("/graphql", headers={"accept": "text/html"})
            assert page.status_code == 200
