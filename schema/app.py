"""The ASGI app: GraphQL (and GraphiQL) at /graphql, health, readiness, the static frontend."""

import asyncio
import logging
import math
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeGuard

import orjson
from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import MissingQueryError
from strawberry.http import process_result
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UNSET, UnsetType

from auth.authenticate import Authentication, authenticate, authenticate_bearer
from schema.context import Context
from schema.frames import FrameAccess
from schema.loaders import Loaders
from schema.multiplex import MultiplexHandler
from schema.schema import schema
from settings import Settings
from workers import dispatch
from workers.closer import run_closer
from workers.connections import Connections, open_connections
from workers.fanout import FeedHub
from workers.ratelimit import RateLimiter
from workers.results import ResultWaiter

logger = logging.getLogger("predmarket.api")
FRONTEND = Path(__file__).resolve().parent.parent / "frontend" / "public"


class GraphQLApp(GraphQL[Context, None]):
    keep_alive = True  # graphql-ws (legacy) pings; graphql-transport-ws has Heartbeat events
    keep_alive_interval = 10.0
    graphql_transport_ws_handler_class = MultiplexHandler  # public feeds run once per group

    def __init__(self, connections: "ConnectionsHolder") -> None:
        super().__init__(schema, graphql_ide="graphiql")
        self.holder = connections

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _is_operation(scope):
            request = Request(scope, receive)
            auth = await self._authenticate(request)
            wait = await self._limit(request, auth)
            if wait:
                await _rate_limited(wait)(scope, receive, send)
                return
            if _is_plain_json_post(request):
                body = await request.body()
                try:
                    data = orjson.loads(body)
                except orjson.JSONDecodeError:  # stricter than json: the view decides
                    data = None
                if _is_single_operation(data):
                    await self._execute_plain(request, data, send)
                    return
                receive = _replay(body, receive)
        await super().__call__(scope, receive, send)

    async def _execute_plain(self, request: Request, data: dict[str, Any], send: Send) -> None:
        """One operation POSTed as JSON, answered as JSON: what Strawberry's view does for
        it (the same schema.execute, context, errors and status), without the view's
        content negotiation, which cost a fifth of the API's CPU per placeOrder."""
        sub_response = await self.get_sub_response(request)
        context = await self.get_context(request, sub_response)
        try:
            result = await self.schema.execute(
                data.get("query"),
                variable_values=data.get("variables"),
                context_value=context,
                operation_name=data.get("operationName"),
                allowed_operation_types=_POST_OPERATIONS,
                operation_extensions=data.get("extensions"),
            )
        except CannotGetOperationTypeError as e:
            await _refuse(e.as_http_error_reason(), request, send)
            return
        except InvalidOperationTypeError as e:
            await _refuse(e.as_http_error_reason("POST"), request, send)
            return
        except MissingQueryError:
            await _refuse("No GraphQL query found in the request", request, send)
            return
        body = self.encode_json(process_result(result))
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *sub_response.headers.raw,
        ]
        status = sub_response.status_code or 200
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        if sub_response.background is not None:
            await sub_response.background()

    async def _authenticate(self, request: Request | WebSocket) -> Authentication:
        """Once per request; kept on the request's state for get_context."""
        known: Authentication | None = getattr(request.state, "auth", None)
        if known is not None:
            return known
        authorization = request.headers.get("authorization")
        api_key = request.headers.get("x-api-key")
        connections = self.holder.get()
        secret, now = connections.settings.jwt_secret, datetime.now(UTC)
        if api_key:
            async with connections.sessions() as session:
                found = await authenticate(session, secret, authorization, api_key, now)
        else:
            found = authenticate_bearer(secret, authorization, now)
        request.state.auth = found
        return found

    async def _limit(self, request: Request, auth: Authentication) -> float:
        viewer = auth.viewer
        if viewer is None:
            bucket = f"ip:{request.client.host if request.client else 'unknown'}"
        elif viewer.api_key_id is not None:
            bucket = f"key:{viewer.api_key_id}"
        else:
            bucket = f"user:{viewer.user_id}"
        try:
            return await self.holder.limiter().take(bucket)
        except RedisError:
            # Fail open: the limiter protects the API, it must not take it down with Redis.
            logger.warning("rate limiter unavailable (Redis); request %s not limited", bucket)
            return 0.0

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        connections = self.holder.get()
        auth = await self._authenticate(request)
        return Context(
            connections=connections,
            request=request,
            response=response if isinstance(response, Response) else None,
            viewer=auth.viewer,
            auth_problem=auth.problem,
            loaders=Loaders(connections.sessions),
            results=self.holder.results,
            feed=self.holder.feed,
        )

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """Credentials come in `connection_init`: {"Authorization": "Bearer ..."} or
        {"X-Api-Key": ...}. Refused ones leave the socket anonymous, with the reason kept for
        the typed error of a private subscription."""
        params = {str(k).lower(): v for k, v in (context.connection_params or {}).items()}
        authorization, api_key = params.get("authorization"), params.get("x-api-key")
        if isinstance(authorization, str) or isinstance(api_key, str):
            connections = self.holder.get()
            async with connections.sessions() as session:
                found = await authenticate(
                    session,
                    connections.settings.jwt_secret,
                    authorization if isinstance(authorization, str) else None,
                    api_key if isinstance(api_key, str) else None,
                    datetime.now(UTC),
                )
            context.viewer, context.auth_problem = found.viewer, found.problem
        unset: UnsetType = UNSET
        return unset

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)


async def _stop(stop: asyncio.Event, task: "asyncio.Task[None]") -> None:
    stop.set()
    await task


def _is_operation(scope: Scope) -> bool:
    """POSTs, and GETs carrying a query (not the GraphiQL page)."""
    return scope["method"] == "POST" or (
        scope["method"] == "GET" and b"query=" in scope.get("query_string", b"")
    )


_POST_OPERATIONS = OperationType.from_http("POST")


def _is_plain_json_post(request: Request) -> bool:
    """A JSON body asking for a JSON answer (not a multipart or event stream)."""
    headers = request.headers
    accept = headers.get("accept", "")
    return (
        request.method == "POST"
        and "application/json" in headers.get("content-type", "").partition(";")[0].lower()
        and "multipart" not in accept
        and "event-stream" not in accept
    )


def _is_single_operation(data: object) -> TypeGuard[dict[str, Any]]:
    """One operation whose fields have the types GraphQL over HTTP asks for; anything else
    (a batch, a variables list) goes to Strawberry's view, which refuses it in its words."""
    return (
        isinstance(data, dict)
        and isinstance(data.get("query"), str | None)
        and isinstance(data.get("variables"), dict | None)
        and isinstance(data.get("extensions"), dict | None)
        and isinstance(data.get("operationName"), str | None)
    )


async def _refuse(reason: str, request: Request, send: Send) -> None:
    """Strawberry's view answers a malformed request so: 400, the reason as plain text."""
    await PlainTextResponse(reason, 400)(request.scope, request.receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """`receive` with the body already read given again first."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


def _rate_limited(wait: float) -> Response:
    return JSONResponse(
        {
            "data": None,
            "errors": [
                {
                    "message": f"Too many requests; retry after {wait:.3f} s.",
                    "extensions": {"code": "RATE_LIMITED", "retryAfterSeconds": wait},
                }
            ],
        },
        status_code=429,
        headers={"Retry-After": str(math.ceil(wait))},
    )


class ConnectionsHolder:
    """Connections are opened in the lifespan, after the app object exists."""

    def __init__(self, connections: Connections | None = None) -> None:
        self.connections = connections
        self._limiter: RateLimiter | None = None
        self.results: ResultWaiter | None = None
        self.feed: FeedHub | None = None

    def get(self) -> Connections:
        if self.connections is None:
            raise RuntimeError("the app's connections are not open (lifespan not started)")
        return self.connections

    def forget(self) -> None:
        self.connections = None
        self._limiter = None
        self.results = None
        self.feed = None

    def limiter(self) -> RateLimiter:
        connections = self.get()
        if self._limiter is None:
            settings = connections.settings
            self._limiter = RateLimiter(
                connections.redis, settings.rate_limit_per_second, settings.rate_limit_burst
            )
        return self._limiter


def create_app(
    settings: Settings, connections: Connections | None = None, *, background: bool = True
) -> Starlette:
    """The ASGI app. Given no connections, it opens its own for its lifespan. `background`
    runs the market closer beside it (every replica may: closing is idempotent)."""
    holder = ConnectionsHolder(connections)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            if holder.connections is None:
                holder.connections = await stack.enter_async_context(open_connections(settings))
                stack.callback(holder.forget)
            holder.results = ResultWaiter(holder.get().redis)
            await holder.results.start()
            stack.push_async_callback(holder.results.stop)
            holder.feed = FeedHub(holder.get().redis)
            await holder.feed.start()
            stack.push_async_callback(holder.feed.stop)
            if background:
                stop = asyncio.Event()
                connections = holder.get()

                async def send_closes(market_ids: list[int]) -> None:
                    await dispatch.send_closes(connections, market_ids)

                closer = asyncio.create_task(
                    run_closer(connections.sessions, stop_event=stop, on_closed=send_closes),
                    name="market closer",
                )
                stack.push_async_callback(_stop, stop, closer)
            yield

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
    # FrameAccess: multiplexed feeds write their frames straight to the socket (schema.frames)
    return Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(FrameAccess)])
