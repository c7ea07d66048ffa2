"""`python -m schema.bench`: requests/s of small GraphQL operations over real HTTP.

Starts (or reuses) the servers, runs `predmarket api` in its own process, and drives it from
this process with keep-alive connections and pre-encoded requests (a light client, so that
the figure is the API's, not the load generator's). Prints one line per operation."""

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from auth.tokens import ACCESS_TTL, issue_access_token
from db import migrate as migrations
from db.enums import Role
from db.models import Market
from db.money import add_cash
from db.users import create_user
from servers import EmbeddedStack
from servers.process import free_port, port_open
from settings import Settings, load_settings
from workers.connections import open_connections

MARKET = "query($id: ID!) { market(id: $id) { ... on Market { id title status closesAt } } }"
ACCOUNT = "{ account { ... on Account { available reserved total } } }"


async def _seed(settings: Settings) -> tuple[str, int]:
    async with open_connections(settings) as connections, connections.sessions() as session:
        stamp = time.time_ns()
        user = await create_user(session, f"bench-{stamp}@example.test", "bench", None, Role.ADMIN)
        assert user.id is not None
        await add_cash(session, user.id, 1_000_000)
        market = Market(
            title="Benchmark market",
            closes_at=datetime.now(UTC) + timedelta(days=30),
            created_by=user.id,
        )
        session.add(market)
        await session.commit()
        assert market.id is not None
        token, _ = issue_access_token(settings.jwt_secret, user.id, Role.ADMIN, datetime.now(UTC))
        return token, market.id


def graphql_request(port: int, token: str, query: str, variables: dict[str, Any]) -> bytes:
    body = orjson.dumps({"query": query, "variables": variables})
    head = (
        f"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def keep_alive_client(
    port: int, request: bytes, until: float, latencies: list[float], failures: list[str]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < until:
            began = time.perf_counter()
            writer.write(request)
            status = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            body = await reader.readexactly(length)
            latencies.append(time.perf_counter() - began)
            if b" 200 " not in status or b'"errors"' in body:
                failures.append(status.decode().strip() + " " + body[:200].decode())
    finally:
        writer.close()


async def _drive(
    port: int, request: bytes, clients: int, seconds: float
) -> tuple[float, list[float], list[str]]:
    latencies: list[float] = []
    failures: list[str] = []
    warm_until = time.perf_counter() + 1.0
    await asyncio.gather(
        *(keep_alive_client(port, request, warm_until, [], failures) for _ in range(clients))
    )
    began = time.perf_counter()
    until = began + seconds
    await asyncio.gather(
        *(keep_alive_client(port, request, until, latencies, failures) for _ in range(clients))
    )
    return len(latencies) / (time.perf_counter() - began), latencies, failures


def _report(name: str, rate: float, latencies: list[float], failures: list[str]) -> None:
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[int(len(ordered) * 0.99) - 1] * 1000
    print(
        f"{name:>8}: {rate:8.0f} requests/s, p50 {p50:.2f} ms, p99 {p99:.2f} ms"
        f" ({len(latencies)} requests, {len(failures)} failed)"
    )
    if failures:
        print(f"          first failure: {failures[0]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=32, help="concurrent connections")
    parser.add_argument("--seconds", type=float, default=5.0, help="measured time per operation")
    args = parser.parse_args()
    assert ACCESS_TTL.total_seconds() > args.seconds * 3
    with EmbeddedStack(load_settings(embedded_durable=False)) as settings:
        migrations.upgrade(settings.database_url)
        token, market_id = asyncio.run(_seed(settings))
        port = free_port()
        env = (
            dict(os.environ)
            | settings.servers_env()
            | {
                "RATE_LIMIT_PER_SECOND": "1000000000",
                "RATE_LIMIT_BURST": "1000000000",
            }
        )
        api = subprocess.Popen(
            [sys.executable, "-m", "cli", "api", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while not port_open("127.0.0.1", port):
                if api.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the API did not start")
                time.sleep(0.1)
            print(
                f"API on one process, {args.clients} keep-alive clients, {args.seconds:.0f} s each"
            )
            for name, query, variables in (
                ("market", MARKET, {"id": str(market_id)}),
                ("account", ACCOUNT, {}),
            ):
                request = graphql_request(port, token, query, variables)
                _report(name, *asyncio.run(_drive(port, request, args.clients, args.seconds)))
        finally:
            api.send_signal(signal.SIGINT)
            api.wait(30)


if __name__ == "__main__":
    main()
