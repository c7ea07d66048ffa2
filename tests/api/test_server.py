import asyncio
import gc
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from db.enums import Role
from db.models import Market
from db.session import make_engine, make_sessionmaker
from schema.app import create_app
from schema.export import SCHEMA_FILE, sdl
from schema.schema import schema
from servers.process import free_port
from settings import Settings
from tests.api.factories import member
from tests.api.server import serve
from workers.connections import Connections, open_connections


async def test_server_info_answers_over_http(http: httpx.AsyncClient) -> None:
    response = await http.post("/graphql", json={"query": "{ serverInfo { version time } }"})
    assert response.status_code == 200
    info = response.json()["data"]["serverInfo"]
    assert info["version"] == "0.1.0"
    served = datetime.fromisoformat(info["time"])
    assert abs(served - datetime.now(UTC)) < timedelta(seconds=5)


async def test_health_and_readiness(http: httpx.AsyncClient) -> None:
    assert (await http.get("/healthz")).json() == {"status": "ok"}
    ready = await http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "checks": {"postgres": "ok", "redis": "ok", "kafka": "ok", "clickhouse": "ok"},
    }


async def test_readiness_fails_when_a_server_is_unreachable(settings: Settings) -> None:
    from servers.process import free_port

    broken = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    async with (
        open_connections(broken) as connections,
        serve(create_app(broken, connections, background=False)) as url,
        httpx.AsyncClient(base_url=url) as client,
    ):
        ready = await client.get("/readyz")
        # without Redis the limiter cannot count: the API still answers (fails open)
        answer = await client.post("/graphql", json={"query": "{ serverInfo { version } }"})
    assert answer.json() == {"data": {"serverInfo": {"version": "0.1.0"}}}
    assert ready.status_code == 503
    checks = ready.json()["checks"]
    assert checks["redis"].startswith("ConnectionError")
    assert {k: v for k, v in checks.items() if k != "redis"} == dict.fromkeys(
        ("postgres", "kafka", "clickhouse"), "ok"
    )


async def test_a_bad_query_gets_a_readable_error_not_a_mask(http: httpx.AsyncClient) -> None:
    response = await http.post("/graphql", json={"query": "{ serverInfo { nope } }"})
    errors = response.json()["errors"]
    assert errors[0]["message"] == "Cannot query field 'nope' on type 'ServerInfo'."


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{", "Unable to parse request body as JSON"),
        (b'[{"query": "{ serverInfo { version } }"}]', "Batching is not enabled"),
        (b'{"query": 5}', "The GraphQL operation's `query` must be a string or null, if provided."),
        (b'{"variables": {}}', "No GraphQL query found in the request"),
        (
            b'{"query": "query A { serverInfo { version } }", "operationName": "B"}',
            'Unknown operation named "B".',
        ),
        (
            b'{"query": "{ serverInfo { version } }", "variables": [1]}',
            "The GraphQL operation's `variables` must be an object or null, if provided.",
        ),
    ],
)
async def test_a_malformed_request_is_refused_as_strawberry_refuses_it(
    http: httpx.AsyncClient, body: bytes, reason: str
) -> None:
    """JSON POSTs skip Strawberry's view (schema.app); what it refuses, they refuse alike
    (the first and the last two here are answered by the view itself, after the skip)."""
    response = await http.post(
        "/graphql", content=body, headers={"content-type": "application/json; charset=utf-8"}
    )
    assert (response.status_code, response.text) == (400, reason)
    assert response.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize(
    "content_type",
    ["text/plain; x=application/json", "multipart/form-data; boundary=application/json"],
)
async def test_json_named_in_a_parameter_is_not_json(
    http: httpx.AsyncClient, content_type: str
) -> None:
    response = await http.post(
        "/graphql",
        content=b'{"query": "{ serverInfo { version } }"}',
        headers={"content-type": content_type},
    )
    assert (response.status_code, response.text) == (400, "Unsupported content type")


async def test_json_that_only_python_reads_is_still_answered(http: httpx.AsyncClient) -> None:
    """orjson refuses NaN; Strawberry's view (Python's json) takes it: so does the API."""
    response = await http.post(
        "/graphql",
        content=b'{"query": "{ serverInfo { version } }", "extensions": {"x": NaN}}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 200
    assert response.json() == {"data": {"serverInfo": {"version": "0.1.0"}}}


async def test_a_json_post_with_a_charset_is_answered_as_json(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/graphql",
        content=b'{"query": "query P { serverInfo { time } } query Q($n: Int!) {'
        b' serverInfo { version } markets(first: $n) { __typename } }",'
        b' "variables": {"n": 1}, "operationName": "Q"}',
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert int(response.headers["content-length"]) == len(response.content)
    assert response.json() == {
        "data": {"serverInfo": {"version": "0.1.0"}, "markets": {"__typename": "MarketConnection"}}
    }


async def test_graphiql_is_served(http: httpx.AsyncClient) -> None:
    page = await http.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert "GraphiQL" in page.text


def test_the_committed_schema_matches_the_code() -> None:
    assert SCHEMA_FILE.read_text() == sdl(), (
        "schema.graphql drifted: run `make schema` and commit it"
    )


async def test_the_app_closes_due_markets_in_the_background(
    settings: Settings, connections: Connections
) -> None:
    root = await member(connections, "root", Role.ADMIN)
    async with connections.sessions() as session:
        due = Market(
            title="Due", closes_at=datetime.now(UTC) + timedelta(seconds=1), created_by=root.id
        )
        session.add(due)
        await session.commit()
    async with serve(create_app(settings, connections)):
        deadline = asyncio.get_running_loop().time() + 10
        status = "OPEN"
        while status == "OPEN" and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.2)
            async with connections.sessions() as session:
                status = (await session.get(Market, due.id, populate_existing=True)).status  # type: ignore[union-attr]
    assert status == "CLOSED"


async def test_unexpected_errors_are_masked_with_a_request_id_in_the_log(
    settings: Settings, connections: Connections, caplog: pytest.LogCaptureFixture
) -> None:
    ada = await member(connections, "ada")
    # the database goes away: every query that needs it fails unexpectedly
    broken = settings.model_copy(
        update={"database_url": f"postgresql://postgres@127.0.0.1:{free_port()}/gone"}
    )
    engine = make_engine(broken.database_url)
    down = Connections(
        broken, engine, make_sessionmaker(engine), connections.redis, connections.producer
    )
    try:
        async with (
            serve(create_app(broken, down, background=False)) as url,
            httpx.AsyncClient(base_url=url) as client,
        ):
            body = (
                await client.post(
                    "/graphql",
                    json={"query": "{ account { __typename } }"},
                    headers=ada.headers,
                )
            ).json()
    finally:
        await engine.dispose()
    error = body["errors"][0]
    request_id = error["extensions"]["requestId"]
    assert error["message"] == f"Unexpected error (request id {request_id})."
    assert error["extensions"]["code"] == "INTERNAL"
    assert "postgres" not in str(body).lower()  # nothing of the cause reaches the client
    logged = [r for r in caplog.records if request_id in r.getMessage()]
    assert logged
    assert logged[0].exc_info is not None  # the trace is in the log


def test_every_type_field_and_argument_is_described() -> None:
    undocumented = []
    for name, graphql_type in schema._schema.type_map.items():
        if name.startswith("__") or name in {"String", "Int", "Float", "Boolean", "ID"}:
            continue
        if not graphql_type.description:
            undocumented.append(name)
        for field_name, field in getattr(graphql_type, "fields", {}).items():
            if not field.description:
                undocumented.append(f"{name}.{field_name}")
        for value_name, value in getattr(graphql_type, "values", {}).items():
            if not value.description and name not in {"ErrorCode"}:
                undocumented.append(f"{name}.{value_name}")
    assert undocumented == []


async def test_a_request_leaves_no_reference_cycles(http: httpx.AsyncClient) -> None:
    """What a request builds goes by reference counting when it ends, not by the garbage
    collector (schema.execution, schema.loaders): the collector once took a seventh of the
    API's time freeing each request's executor, context, loaders and Starlette request."""
    query = {"query": '{ serverInfo { version } market(id: "1") { __typename } }'}
    assert (await http.post("/graphql", json=query)).status_code == 200
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for _ in range(5):
            assert (await http.post("/graphql", json=query)).status_code == 200
        gc.collect()
        kinds = {type(o).__module__.partition(".")[0] for o in gc.garbage}
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    # (the test's own client, httpx, makes cycles of its own)
    assert not kinds & {"schema", "strawberry", "graphql", "starlette", "auth", "resolvers"}
