"""The ASGI app: GraphQL (and GraphiQL) at /graphql, health, readiness, the static frontend."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from auth.authenticate import Authentication, authenticate
from schema.context import Context
from schema.loaders import Loaders
from schema.schema import schema
from settings import Settings
from workers.connections import Connections, open_connections

FRONTEND = Path(__file__).resolve().parent.parent / "frontend" / "public"


class GraphQLApp(GraphQL[Context, None]):
    def __init__(self, connections: "ConnectionsHolder") -> None:
        super().__init__(schema, graphql_ide="graphiql")
        self.holder = connections

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        connections = self.holder.get()
        now = datetime.now(UTC)
        authorization = request.headers.get("authorization")
        api_key = request.headers.get("x-api-key")
        if authorization or api_key:
            async with connections.sessions() as session:
                found = await authenticate(
                    session, connections.settings.jwt_secret, authorization, api_key, now
                )
        else:
            found = Authentication(None)
        return Context(
            connections=connections,
            request=request,
            response=response if isinstance(response, Response) else None,
            viewer=found.viewer,
            auth_problem=found.problem,
            loaders=Loaders(connections.sessions),
            now=now,
        )

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)


class ConnectionsHolder:
    """Connections are opened in the lifespan, after the app object exists."""

    def __init__(self, connections: Connections | None = None) -> None:
        self.connections = connections

    def get(self) -> Connections:
        if self.connections is None:
            raise RuntimeError("the app's connections are not open (lifespan not started)")
        return self.connections


def create_app(settings: Settings, connections: Connections | None = None) -> Starlette:
    """The ASGI app. Given no connections, it opens its own for its lifespan."""
    holder = ConnectionsHolder(connections)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        if connections is not None:
            yield
            return
        async with open_connections(settings) as opened:
            holder.connections = opened
            try:
                yield
            finally:
                holder.connections = None

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        checks = await holder.get().probe()
        ready = all(value == "ok" for value in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "unavailable", "checks": checks},
            status_code=200 if ready else 503,
        )

    graphql = GraphQLApp(holder)
    routes: list[BaseRoute] = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/graphql", graphql),
        WebSocketRoute("/graphql", graphql),
    ]
    if FRONTEND.is_dir():
        routes.append(Mount("/", StaticFiles(directory=FRONTEND, html=True), name="frontend"))
    return Starlette(routes=routes, lifespan=lifespan)
