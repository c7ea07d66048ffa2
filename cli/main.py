import asyncio
import gc
import signal
import socket
import sys
import time
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import click
import uvicorn
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from db import migrate as migrations
from db.audit import run_audit
from db.seed import seed_demo_markets
from schema.app import create_app
from servers import EmbeddedStack, ServerError
from settings import Settings, load_settings
from workers.connections import open_connections
from workers.kafka import ensure_topics
from workers.matcher import run_matcher

console = Console(highlight=False, soft_wrap=True)


def _settings() -> Settings:
    try:
        return load_settings()
    except ValidationError as exc:
        console.print(f"[red]invalid settings:[/red] {exc}")
        raise SystemExit(2) from exc


def _terminate(signum: int, _: object) -> NoReturn:
    raise SystemExit(128 + signum)


@contextmanager
def servers(settings: Settings) -> Iterator[Settings]:
    """Embedded servers for the URLs left empty, stopped on any exit (Ctrl-C, SIGTERM)."""
    signal.signal(signal.SIGTERM, _terminate)
    stack = EmbeddedStack(settings, report=lambda line: console.print(f"  {line}"))
    try:
        filled = stack.start()
    except ServerError as exc:
        console.print(f"[red]could not start the servers:[/red] {exc}")
        raise SystemExit(1) from exc
    try:
        yield filled
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    finally:
        stack.stop()


@click.group()
def cli() -> None:
    """predmarket: a prediction market exchange. Every server URL left unset (DATABASE_URL,
    REDIS_URL, KAFKA_BOOTSTRAP, CLICKHOUSE_DSN) is started embedded under DATA_DIR."""


@cli.command()
@click.option("--host", default=None, help="Address to serve on (default API_HOST).")
@click.option("--port", type=int, default=None, help="Port to serve on (default API_PORT).")
@click.option("--no-demo", is_flag=True, help="Do not create the demo markets.")
def up(host: str | None, port: int | None, no_demo: bool) -> None:
    """Everything in one process: servers, migrations, API, matcher, sink, frontend."""
    _serve(host, port, seed=not no_demo, everything=True)


@cli.command()
@click.option("--host", default=None, help="Address to serve on (default API_HOST).")
@click.option("--port", type=int, default=None, help="Port to serve on (default API_PORT).")
def api(host: str | None, port: int | None) -> None:
    """The GraphQL API (and the static frontend) alone. Several may share one port (each
    binds it with SO_REUSEPORT): start more to use more cores."""
    _serve(host, port, seed=False, everything=False)


def _serve(host: str | None, port: int | None, *, seed: bool, everything: bool) -> None:
    began = time.monotonic()
    settings = _settings()
    overrides = {k: v for k, v in {"api_host": host, "api_port": port}.items() if v is not None}
    settings = settings.model_copy(update=overrides)
    console.print("[bold]predmarket[/bold] starting")
    with servers(settings) as filled:
        migrations.upgrade(filled.database_url)
        console.print("  database migrated")
        _run_fast(_run_api(filled, began, seed=seed, everything=everything))


async def _run_api(settings: Settings, began: float, *, seed: bool, everything: bool) -> None:
    await ensure_topics(settings)
    async with open_connections(settings) as connections:
        if seed:
            async with connections.sessions() as session:
                created = await seed_demo_markets(session)
            if created:
                console.print(f"  {created} demo markets created")
        stop = asyncio.Event()
        matcher: asyncio.Task[None] | None = None
        if everything:
            matched = asyncio.Event()
            matcher = asyncio.create_task(
                run_matcher(connections, stop, matched, _matcher_report), name="matcher"
            )
            await asyncio.wait_for(matched.wait(), timeout=60)
            console.print("  matcher consuming")
            console.print(f"  [yellow]sink: {_NOT_YET['sink']}[/yellow]")
        config = uvicorn.Config(
            create_app(settings, connections),
            host=settings.api_host,
            port=settings.api_port,
            log_level="warning",
            lifespan="on",
        )
        server = uvicorn.Server(config)
        # `api` alone shares its port (SO_REUSEPORT): start several to use several cores
        sockets = None if everything else [_shared_socket(settings.api_host, settings.api_port)]
        serving = asyncio.create_task(server.serve(sockets=sockets))
        while not server.started and not serving.done():  # noqa: ASYNC110 (uvicorn has only a flag)
            await asyncio.sleep(0.05)
        if server.started:
            _settle_heap()
            base = f"http://{settings.api_host}:{settings.api_port}"
            console.print(f"[green]ready in {time.monotonic() - began:.1f}s[/green]")
            console.print(f"  frontend  {base}/")
            console.print(f"  GraphiQL  {base}/graphql")
            console.print(f"  health    {base}/healthz   readiness {base}/readyz")
            console.print("  Ctrl-C stops everything")
        try:
            await serving
        finally:
            stop.set()
            if matcher is not None:
                await matcher
        if not server.started:
            raise SystemExit(f"the API could not serve on {settings.api_host}:{settings.api_port}")


def _run_fast(main: Coroutine[Any, Any, None]) -> None:
    """The long-running services on uvloop (installed with uvicorn's standard extras), a
    faster event loop than asyncio's own; asyncio's where it is missing."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


def _settle_heap() -> None:
    """Once a server has started. What start-up built (schema, connections, modules) lives as
    long as the process: frozen, out of the collector's sight, a full collection no longer
    walks it all again. A request makes no reference cycles (schema.execution), so what it
    allocates goes by reference counting; the collector need not run every 700 net
    allocations, where it only walked and promoted the live objects of the requests under
    way (0.24 s of every 3 s of the API at 1,000 placeOrder/s; about 0.01 s now)."""
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def _shared_socket(host: str, port: int) -> socket.socket:
    """A listening socket that other `predmarket api` processes may bind too: the kernel
    spreads new connections over them."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise SystemExit(f"the API could not serve on {host}:{port}") from None
    sock.listen(2048)
    sock.setblocking(False)
    return sock


_NOT_YET = {
    "sink": "not built yet: engine events wait on `market-events`; none reach ClickHouse",
}


@cli.command()
def matcher() -> None:
    """The matching worker: consumes `orders`, settles in Postgres, publishes books."""
    settings = _settings()
    console.print("[bold]predmarket matcher[/bold] starting")
    with servers(settings) as filled:
        migrations.upgrade(filled.database_url)
        _run_fast(_run_matcher(filled))


def _matcher_report(line: str) -> None:
    console.print(f"  matcher, {line}")


async def _run_matcher(settings: Settings) -> None:
    await ensure_topics(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with open_connections(settings) as connections:
        ready = asyncio.Event()
        task = asyncio.create_task(run_matcher(connections, stop, ready, _matcher_report))
        waiting = asyncio.create_task(ready.wait())
        await asyncio.wait({task, waiting}, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        if ready.is_set():
            _settle_heap()
            console.print("  matcher consuming; Ctrl-C stops it")
        await task
    console.print("matcher stopped")


@cli.command()
def sink() -> None:
    """The analytics sink, Kafka to ClickHouse (not built yet: exits with an error)."""
    console.print(f"[red]sink: {_NOT_YET['sink']}[/red]")
    sys.exit(2)


@cli.command()
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@click.option("--down", is_flag=True, help="Downgrade to the revision (default: base).")
def migrate(revision: str, down: bool) -> None:
    """Apply (or revert) the database migrations."""
    with servers(_settings()) as filled:
        if down:
            target = "base" if revision == "head" else revision
            migrations.downgrade(filled.database_url, target)
            console.print(f"downgraded to {target}")
        else:
            migrations.upgrade(filled.database_url, revision)
            console.print(f"upgraded to {revision} ({migrations.head()})")


@cli.command()
def audit() -> None:
    """The conservation audit of all money; exits 1 if anything is off."""
    with servers(_settings()) as filled:
        migrations.upgrade(filled.database_url)
        report = asyncio.run(_audit(filled))
    table = Table(title="conservation audit")
    table.add_column("figure")
    table.add_column("cents", justify="right")
    table.add_row("deposits", str(report.deposits))
    table.add_row("withdrawals", str(report.withdrawals))
    table.add_row("users' cash", str(report.users_cash))
    table.add_row("markets' collateral", str(report.markets_collateral))
    console.print(table)
    for problem in report.discrepancies:
        console.print(f"[red]{problem}[/red]")
    console.print("[green]audit: exact[/green]" if report.ok else "[red]audit: FAILED[/red]")
    sys.exit(0 if report.ok else 1)


async def _audit(settings: Settings):  # type: ignore[no-untyped-def]
    async with open_connections(settings) as connections, connections.sessions() as session:
        return await run_audit(session)


def main() -> None:
    cli()
