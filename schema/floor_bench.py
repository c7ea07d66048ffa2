"""`python -m schema.floor_bench`: what the web stack costs per order here, before any of
the exchange's own work.

Three servers, each one uvicorn process as the API runs it (uvloop, httptools, its garbage
collector settings), each driven for `--seconds` by `--clients` keep-alive connections
posting a placeOrder-shaped GraphQL mutation back to back:

- `http`: a bare ASGI app that answers every request with the same fixed body;
- `starlette`: the same answer from a Starlette route;
- `strawberry`: the request executed by a Strawberry schema configured as the API's (its
  document checks, parse and validation caches, execution context and flat inputs), whose
  mutations return fixed orders: what the API's fast path does with a POST, with no sign-in,
  no Postgres, no Kafka and no waiting.

Then `batch`: the `strawberry` server driven by `--batch-clients` posting placeOrders of
`--batch-size`. Each line gives requests (or orders) per second and the server's and this
client's CPU per request (or order). Then, in this process and without HTTP, the CPU of one
`schema.execute` of placeOrder; and last, the cores the `strawberry` server alone would take
at `--target` placeOrder/s and at `--batch-target` orders/s in placeOrders: the least that
the API's GraphQL over HTTP costs here, whatever the exchange does behind it.
"""

import argparse
import asyncio
import gc
import subprocess
import sys
import time
from enum import Enum
from typing import Annotated

import orjson
import psutil
import strawberry
import uvicorn
import uvloop
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send
from strawberry.http import process_result
from strawberry.types.graphql import OperationType

from schema.bench import graphql_request, keep_alive_client
from schema.checks import DocumentChecks
from schema.common import flat_input
from schema.execution import Execution
from schema.markets import Outcome
from schema.orders import MAX_BATCH
from schema.portfolio import OrderSide
from servers.process import free_port, port_open

SERVERS = ("http", "starlette", "strawberry")
_RESULT = (
    "__typename ... on FloorPlaced { order { id status filled } }"
    " ... on FloorRefused { code message }"
)
PLACE = f"mutation($input: FloorOrderInput!) {{ placeOrder(input: $input) {{ {_RESULT} }} }}"
PLACE_MANY = (
    "mutation($inputs: [FloorOrderInput!]!) {"
    f" placeOrders(inputs: $inputs) {{ results {{ {_RESULT} }} }} }}"
)
ORDER = {"marketId": "1", "side": "BUY", "outcome": "YES", "price": 47, "quantity": 5}
FIXED = orjson.dumps(
    {
        "data": {
            "placeOrder": {
                "__typename": "FloorPlaced",
                "order": {"id": "1", "status": "OPEN", "filled": 0},
            }
        }
    }
)


# ---------------------------------------------------------------------------- the schema


class FloorStatus(Enum):
    OPEN = "OPEN"


@flat_input
@strawberry.input
class FloorOrderInput:
    market_id: strawberry.ID
    side: OrderSide
    outcome: Outcome
    price: int
    quantity: int
    client_order_id: str | None = None


@strawberry.type
class FloorOrder:
    id: strawberry.ID
    status: FloorStatus
    filled: int


@strawberry.type
class FloorPlaced:
    order: FloorOrder


@strawberry.type
class FloorRefused:
    code: str
    message: str


FloorResult = Annotated[FloorPlaced | FloorRefused, strawberry.union("FloorResult")]


def _placed() -> FloorPlaced:
    return FloorPlaced(order=FloorOrder(id=strawberry.ID("1"), status=FloorStatus.OPEN, filled=0))


@strawberry.type
class FloorBatch:
    results: list[FloorResult]


@strawberry.type
class FloorQuery:
    ready: bool = True


@strawberry.type
class FloorMutation:
    @strawberry.mutation
    async def place_order(self, input: FloorOrderInput) -> FloorResult:
        return _placed()

    @strawberry.mutation
    async def place_orders(self, inputs: list[FloorOrderInput]) -> FloorBatch:
        return FloorBatch(results=[_placed() for _ in inputs])


floor_schema = strawberry.Schema(
    query=FloorQuery,
    mutation=FloorMutation,
    extensions=[DocumentChecks],
    execution_context_class=Execution,
)
_POST = OperationType.from_http("POST")  # as the API's fast path (schema.app)


# ---------------------------------------------------------------------------- the servers


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _reply(send: Send, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _fixed(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "http":
        await _body(receive)
        await _reply(send, FIXED)


async def _fixed_route(request: Request) -> Response:
    await request.body()
    return Response(FIXED, media_type="application/json")


async def _execute(scope: Scope, receive: Receive, send: Send) -> None:
    """What the API's `_execute_plain` does with a JSON POST of one operation."""
    if scope["type"] != "http":
        return
    data = orjson.loads(await _body(receive))
    result = await floor_schema.execute(
        data["query"],
        variable_values=data.get("variables"),
        operation_name=data.get("operationName"),
        allowed_operation_types=_POST,
    )
    await _reply(send, orjson.dumps(process_result(result)))


def _serve(level: str, port: int) -> None:
    apps: dict[str, ASGIApp] = {
        "http": _fixed,
        "starlette": Starlette(routes=[Route("/graphql", _fixed_route, methods=["POST"])]),
        "strawberry": _execute,
    }
    server = uvicorn.Server(
        uvicorn.Config(
            apps[level], host="127.0.0.1", port=port, log_level="warning", lifespan="off"
        )
    )
    gc.freeze()  # as the API does once it has started (cli.main._settle_heap)
    gc.set_threshold(50_000, 20, 20)
    uvloop.run(server.serve())


# ---------------------------------------------------------------------------- the measurements


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


async def _load(
    port: int, request: bytes, clients: int, seconds: float, server: psutil.Process
) -> tuple[float, float, float]:
    """After a second of warm-up: requests answered per second, and the server's and this
    process's CPU seconds per request."""
    failures: list[str] = []
    warm = time.perf_counter() + 1.0
    await asyncio.gather(
        *(keep_alive_client(port, request, warm, [], failures) for _ in range(clients))
    )
    latencies: list[float] = []
    me = psutil.Process()
    server_cpu, own_cpu, began = _cpu(server), _cpu(me), time.perf_counter()
    await asyncio.gather(
        *(
            keep_alive_client(port, request, began + seconds, latencies, failures)
            for _ in range(clients)
        )
    )
    elapsed = time.perf_counter() - began
    if failures:
        raise SystemExit(f"{len(failures)} failed requests; the first: {failures[0]}")
    answered = len(latencies)
    return (
        answered / elapsed,
        (_cpu(server) - server_cpu) / answered,
        (_cpu(me) - own_cpu) / answered,
    )


def _measure(server_kind: str, clients: int, seconds: float, orders: int) -> float:
    """Prints the line of one server, posting placeOrder (`orders` 0) or placeOrders of
    `orders`; returns the server's CPU seconds per order."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "schema.floor_bench", "--serve", server_kind, "--port", str(port)]
    )
    if orders:
        name, request = "batch", graphql_request(port, "", PLACE_MANY, {"inputs": [ORDER] * orders})
    else:
        name, request = server_kind, graphql_request(port, "", PLACE, {"input": ORDER})
    try:
        deadline = time.monotonic() + 30
        while not port_open("127.0.0.1", port):
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the {server_kind} server did not start")
            time.sleep(0.05)
        rate, server_cpu, own_cpu = uvloop.run(
            _load(port, request, clients, seconds, psutil.Process(server.pid))
        )
    finally:
        server.terminate()
        server.wait(10)
    per = max(orders, 1)
    count = f"{rate * per:8,.0f} orders/s" if orders else f"{rate:8,.0f} requests/s"
    print(
        f"  {name:>10}: {count}; server {rate * server_cpu:.2f} core, {1000 * server_cpu / per:.3f}"
        f" ms {'an order' if orders else 'a request'}; client {1000 * own_cpu / per:.3f} ms"
    )
    return server_cpu / per


async def _in_process(calls: int) -> float:
    """CPU seconds of one schema.execute of placeOrder, no HTTP."""
    variables = {"input": ORDER}
    for _ in range(100):  # caches, first-use plans
        result = await floor_schema.execute(PLACE, variable_values=variables)
    if result.errors:
        raise SystemExit(f"the floor schema failed: {result.errors}")
    began = time.process_time()
    for _ in range(calls):
        await floor_schema.execute(PLACE, variable_values=variables)
    return (time.process_time() - began) / calls


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=64, help="placeOrder connections")
    parser.add_argument("--batch-clients", type=int, default=4, help="placeOrders connections")
    parser.add_argument("--batch-size", type=int, default=MAX_BATCH, help="orders a placeOrders")
    parser.add_argument("--seconds", type=float, default=6.0, help="measured time per server")
    parser.add_argument("--calls", type=int, default=5000, help="in-process schema.execute calls")
    parser.add_argument("--target", type=float, default=2500.0, help="placeOrder/s to price")
    parser.add_argument(
        "--batch-target", type=float, default=20000.0, help="orders/s in placeOrders to price"
    )
    parser.add_argument("--serve", choices=SERVERS, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        _serve(args.serve, args.port)
        return
    counts = (args.clients, args.batch_clients, args.batch_size, args.calls)
    if min(counts) < 1 or min(args.seconds, args.target, args.batch_target) <= 0:
        parser.error(
            "--clients, --batch-clients, --batch-size and --calls must be at least 1;"
            " --seconds, --target and --batch-target positive"
        )
    print(
        f"predmarket web stack floor: {args.seconds:g} s a server, {psutil.cpu_count()} CPUs;"
        f" {args.clients} placeOrder clients, {args.batch_clients} placeOrders clients"
    )
    single = {kind: _measure(kind, args.clients, args.seconds, 0) for kind in SERVERS}
    batch = _measure("strawberry", args.batch_clients, args.seconds, args.batch_size)
    execute = uvloop.run(_in_process(args.calls))
    print(f"  schema.execute of placeOrder in process: {1e6 * execute:.0f} µs a call")
    print(
        f"  the strawberry server alone takes {args.target * single['strawberry']:.2f} cores at"
        f" {args.target:,.0f} placeOrder/s and {args.batch_target * batch:.2f} cores at"
        f" {args.batch_target:,.0f} orders/s in placeOrders of {args.batch_size}"
    )


if __name__ == "__main__":
    main()
