"""`python -m workers.bench`: the order pipeline end to end, over real HTTP.

Starts embedded servers (Postgres, Valkey, Kafka) under a fresh temporary DATA_DIR, seeds a
market and traders, runs `predmarket matcher` and `predmarket api` as their own processes, and
drives the API from this process with light keep-alive HTTP/1.1 clients (pre-encoded request
heads, one asyncio loop) through these phases:

  place   N concurrent clients, each sending single `placeOrder` mutations back to back
          (closed loop): orders/s, latency p50/p99/p99.9, and the time until a sample of
          crossing orders shows a fill in Postgres (measured by an independent poller);
  batch   a few clients sending `placeOrders` with 100 orders each: orders/s;
  paced   single `placeOrder` mutations on a fixed schedule (open loop, default 1,000/s),
          latency measured from each order's scheduled time (so a stall counts in full).

Orders are limit buys of YES and NO around a mid price of 50 from many traders: most rest
1-10 cents away from the mid, about 30% cross it (and trade with other traders' resting
orders). After each phase the matcher's backlog (commands not yet applied) is reported and
drained before the next one starts, and the CPU each process used is shown.
"""

import argparse
import asyncio
import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import psutil

from auth.tokens import issue_access_token
from db import migrate as migrations
from db.audit import run_audit
from db.enums import Role
from db.markets import create_market
from db.money import add_cash
from db.users import create_user
from servers import EmbeddedStack
from servers.process import free_port
from settings import Settings, load_settings
from workers.connections import open_connections
from workers.kafka import ensure_topics
from workers.pace import percentile

PHASES = ("place", "batch", "paced")
MID = 50
WARMUP = 1.0  # seconds of each phase not measured
POLL_INTERVAL = 0.005  # the fill poller's period: the resolution of the fill latency
FILL_GIVE_UP = 5.0  # a sampled order not filled after this long counts as "no fill"
OVERLOAD_LAG = 3.0  # paced phase: seconds behind schedule at which sending stops

_RESULT = """
  __typename
  ... on OrderPlaced { order { id status filled } }
  ... on Error { code message }
"""
PLACE = f"mutation($input: PlaceOrderInput!) {{ placeOrder(input: $input) {{ {_RESULT} }} }}"
PLACE_MANY = f"""mutation($inputs: [PlaceOrderInput!]!) {{
  placeOrders(inputs: $inputs) {{
    __typename
    ... on OrdersPlaced {{ results {{ {_RESULT} }} }}
    ... on Error {{ code message }}
  }}
}}"""


def _out(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


# ---------------------------------------------------------------------------- the orders


@dataclass(frozen=True, slots=True)
class Trader:
    user_id: int
    head: bytes  # the request head up to (and without) Content-Length


class OrderMix:
    """Limit buys of YES and NO around the mid: `cross` of them cross it."""

    def __init__(self, market_id: int, cross: float, seed: int) -> None:
        self.market = str(market_id)
        self.cross = cross
        self.rng = random.Random(seed)

    def next(self, client_order_id: str | None = None) -> tuple[dict[str, Any], bool]:
        rng = self.rng
        crossing = rng.random() < self.cross
        if crossing:  # takes the other side's best levels (YES asks are NO bids)
            price, quantity = MID + rng.randint(1, 5), rng.randint(1, 10)
        else:  # rests 1 to 10 cents from the mid
            price, quantity = MID - rng.randint(1, 10), rng.randint(1, 20)
        order: dict[str, Any] = {
            "marketId": self.market,
            "side": "BUY",
            "outcome": "YES" if rng.random() < 0.5 else "NO",
            "price": price,
            "quantity": quantity,
        }
        if client_order_id is not None:
            order["clientOrderId"] = client_order_id
        return order, crossing


def _head(port: int, token: str) -> bytes:
    return (
        f"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
    ).encode()


def _request(trader: Trader, query: str, variables: dict[str, Any]) -> bytes:
    body = orjson.dumps({"query": query, "variables": variables})
    return b"%sContent-Length: %d\r\n\r\n%s" % (trader.head, len(body), body)


# ---------------------------------------------------------------------------- HTTP


class Connection:
    """One keep-alive HTTP/1.1 connection, one request at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> "Connection":
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def call(self, request: bytes) -> tuple[bool, bytes]:
        """(status 200, body)."""
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        at = head.lower().find(b"content-length:")
        length = int(head[at + 15 : head.find(b"\r\n", at)]) if at >= 0 else 0
        body = await self.reader.readexactly(length)
        return head.startswith(b"HTTP/1.1 200"), body

    def close(self) -> None:
        self.writer.close()


# ---------------------------------------------------------------------------- measurements


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _spread(latencies: list[float]) -> str:
    ordered = sorted(latencies)
    return (
        f"p50 {_ms(percentile(ordered, 0.5))}, p99 {_ms(percentile(ordered, 0.99))},"
        f" p99.9 {_ms(percentile(ordered, 0.999))}, max {_ms(ordered[-1] if ordered else 0)}"
    )


@dataclass
class Tally:
    """What one phase saw."""

    latencies: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    orders: int = 0  # orders accepted (a batch counts its accepted orders)
    in_window: int = 0  # requests (batch: orders) completed before the phase's end
    crossing: int = 0
    crossing_filled_in_reply: int = 0

    def read(self, ok: bool, body: bytes, crossing: list[bool]) -> None:
        """Count one reply to placeOrder (crossing: [flag]) or placeOrders (a flag each)."""
        if not ok:
            self.failures.append(body[:300].decode(errors="replace"))
            return
        data = orjson.loads(body)
        if data.get("errors"):
            self.failures.append(str(data["errors"])[:300])
            return
        payload = data["data"]
        if "placeOrder" in payload:
            results = [payload["placeOrder"]]
        elif payload["placeOrders"]["__typename"] == "OrdersPlaced":
            results = payload["placeOrders"]["results"]
        else:
            self.failures.append(str(payload)[:300])
            return
        for result, crossed in zip(results, crossing, strict=True):
            if result["__typename"] != "OrderPlaced":
                self.statuses[f"refused {result.get('code', result['__typename'])}"] += 1
                continue
            order = result["order"]
            self.orders += 1
            self.statuses[order["status"]] += 1
            if crossed:
                self.crossing += 1
                self.crossing_filled_in_reply += order["filled"] > 0


@dataclass
class Paced:
    """What the open-loop phase saw."""

    tally: Tally = field(default_factory=Tally)
    from_send: list[float] = field(default_factory=list)  # latency from the actual send
    rate: float = 0.0  # orders answered per second
    offered: float = 0.0  # orders due per second until sending stopped
    most_in_flight: int = 0
    overloaded: bool = False
    abandoned: int = 0  # due but never sent (overload)
    due: int = 0  # measured orders that fell due before sending stopped


class FillPoller:
    """Watches sampled crossing orders (by clientOrderId) in Postgres, from its own
    connection, every POLL_INTERVAL; records when each first shows `filled > 0` (committed
    by the matcher together with its trade rows). The time recorded is the start of the
    poll that saw it: an upper bound on the true latency, with POLL_INTERVAL resolution."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.pending: dict[str, tuple[int, float]] = {}  # client id -> (user, sent at)
        self.latencies: list[float] = []
        self.unfilled = 0
        self.polls = 0
        self._task: asyncio.Task[None] | None = None
        self._connection: Any = None

    async def start(self) -> None:
        self._connection = await asyncpg.connect(self.database_url)
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._connection is not None:
            await self._connection.close()

    def watch(self, user_id: int, client_order_id: str, sent_at: float) -> None:
        self.pending[client_order_id] = (user_id, sent_at)

    def reset(self) -> tuple[list[float], int]:
        """The figures so far, and start afresh."""
        figures = (self.latencies, self.unfilled)
        self.latencies, self.unfilled = [], 0
        return figures

    async def _run(self) -> None:
        query = (
            "SELECT client_order_id FROM orders WHERE user_id = ANY($1::bigint[])"
            " AND client_order_id = ANY($2::text[]) AND filled > 0"
        )
        while True:
            began = time.perf_counter()
            if self.pending:
                users = sorted({user for user, _ in self.pending.values()})
                rows = await self._connection.fetch(query, users, list(self.pending))
                self.polls += 1
                for row in rows:
                    watched = self.pending.pop(row[0], None)
                    if watched is not None:
                        self.latencies.append(max(0.0, began - watched[1]))
                for client, (_, sent_at) in list(self.pending.items()):
                    if began - sent_at > FILL_GIVE_UP:
                        del self.pending[client]
                        self.unfilled += 1
            await asyncio.sleep(max(0.0, POLL_INTERVAL - (time.perf_counter() - began)))


class CpuMeter:
    """CPU seconds of each process between two readings; for `families` (Postgres) with its
    child processes, those that exited meanwhile included. `other` is what the rest of the
    machine used (other work sharing it)."""

    def __init__(self, pids: dict[str, int], families: set[str]) -> None:
        self.processes: dict[str, psutil.Process] = {}
        for name, pid in pids.items():
            with contextlib.suppress(psutil.Error):
                self.processes[name] = psutil.Process(pid)
        self.families = families
        self._began: dict[str, float] = {}
        self._machine = 0.0
        self._at = 0.0

    def _cpu(self, name: str, process: psutil.Process) -> float:
        total = 0.0
        family = [process]
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            total += times.user + times.system
            if name in self.families:
                total += times.children_user + times.children_system  # exited children
                family = process.children(recursive=True)
                for member in family:
                    with contextlib.suppress(psutil.Error):
                        times = member.cpu_times()
                        total += times.user + times.system
        return total

    @staticmethod
    def _busy() -> float:
        times = psutil.cpu_times()
        return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))

    def start(self) -> None:
        self._at = time.perf_counter()
        self._machine = self._busy()
        self._began = {name: self._cpu(name, p) for name, p in self.processes.items()}

    def cores(self) -> dict[str, float]:
        """Cores used by each process since `start` (1.0 = one core busy all the time)."""
        wall = time.perf_counter() - self._at
        used = {
            name: (self._cpu(name, p) - self._began.get(name, 0.0)) / wall
            for name, p in self.processes.items()
        }
        machine = (self._busy() - self._machine) / wall
        used["other"] = max(0.0, machine - sum(used.values()))
        return used


def _cpu_lines(cores: dict[str, float], orders_per_second: float) -> str:
    """Cores busy in each process, then the CPU each took per order: a figure that, unlike
    orders/s, does not depend on how well the stages overlap."""
    parts = ", ".join(f"{name} {used:.2f}" for name, used in cores.items())
    line = f"    CPU (cores busy): {parts}; machine {sum(cores.values()):.2f} of {os.cpu_count()}"
    if orders_per_second <= 0:
        return line
    per_order = {name: 1000 * used / orders_per_second for name, used in cores.items()}
    per_order.pop("other", None)  # not the platform's
    stack = sum(ms for name, ms in per_order.items() if name != "bench client")
    parts = ", ".join(f"{name} {ms:.3f}" for name, ms in per_order.items())
    return (
        f"{line}\n    CPU per order (ms): {parts}; the platform {stack:.3f},"
        f" with the bench client {sum(per_order.values()):.3f}"
    )


# ---------------------------------------------------------------------------- phases


@dataclass
class Bench:
    port: int
    traders: list[Trader]
    mix: OrderMix
    poller: FillPoller
    meter: CpuMeter
    database_url: str
    sample_every: int = 5  # one crossing order in this many is watched for its fill
    counter: int = 0
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:6])

    def _single(self, trader: Trader) -> tuple[bytes, bool, str | None]:
        self.counter += 1
        sample = None
        order, crossing = self.mix.next()
        if crossing and self.counter % self.sample_every == 0:
            sample = f"bench-{self.run_id}-{self.counter}"
            order["clientOrderId"] = sample
        return _request(trader, PLACE, {"input": order}), crossing, sample

    async def _one(self, connection: Connection, trader: Trader, tally: Tally | None) -> float:
        request, crossing, sample = self._single(trader)
        began = time.perf_counter()
        if sample is not None and tally is not None:
            self.poller.watch(trader.user_id, sample, began)
        ok, body = await connection.call(request)
        done = time.perf_counter()
        if tally is not None:
            tally.read(ok, body, [crossing])
        return done

    async def place(self, clients: int, seconds: float) -> tuple[float, Tally]:
        """Closed loop: each client sends its next order as soon as the last is answered."""

        async def call(n: int, connection: Connection, tally: Tally | None) -> tuple[float, int]:
            trader = self.traders[n % len(self.traders)]
            return await self._one(connection, trader, tally), 1

        return await self._closed_loop(clients, seconds, call, on_start=self.poller.reset)

    async def batch(self, clients: int, seconds: float, size: int) -> tuple[float, Tally]:
        """Closed loop of `placeOrders` with `size` orders each."""

        async def call(n: int, connection: Connection, tally: Tally | None) -> tuple[float, int]:
            # spread the batch clients over distinct traders
            trader = self.traders[(n * len(self.traders)) // clients]
            orders = [self.mix.next() for _ in range(size)]
            request = _request(trader, PLACE_MANY, {"inputs": [o for o, _ in orders]})
            ok, body = await connection.call(request)
            done = time.perf_counter()
            if tally is None:
                return done, 0
            before = tally.orders
            tally.read(ok, body, [c for _, c in orders])
            return done, tally.orders - before

        return await self._closed_loop(clients, seconds, call)

    async def _closed_loop(
        self,
        clients: int,
        seconds: float,
        call: Callable[[int, Connection, "Tally | None"], Awaitable[tuple[float, int]]],
        on_start: Callable[[], object] = lambda: None,
    ) -> tuple[float, Tally]:
        """`clients` connections, each making `call(n, connection, tally)` back to back. After
        the warm-up (when `tally` is None) and for `seconds`, each call's latency goes to the
        tally, and the orders it returns (with the time it was answered) count if answered in
        time. Returns those orders per second, and the tally."""
        tally = Tally()
        connections = [await Connection.open(self.port) for _ in range(clients)]
        measuring = asyncio.Event()
        stop_at = [float("inf")]

        async def client(n: int) -> None:
            while True:
                counted = measuring.is_set()
                began = time.perf_counter()
                if began >= stop_at[0]:
                    return
                done, orders = await call(n, connections[n], tally if counted else None)
                if counted:
                    tally.latencies.append(done - began)
                    if done <= stop_at[0]:
                        tally.in_window += orders

        tasks = [asyncio.create_task(client(n)) for n in range(clients)]
        try:
            await asyncio.sleep(WARMUP)
            on_start()
            self.meter.start()
            stop_at[0] = time.perf_counter() + seconds
            measuring.set()
            await _progress(seconds, lambda: tally.orders, "orders")
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            for connection in connections:
                connection.close()
        return tally.in_window / seconds, tally

    async def paced(self, rate: float, seconds: float, pool_size: int) -> "Paced":
        """Open loop: order i is due at start + i / rate, whatever happened to the others.
        Latency runs from the due time (waiting for a free connection included). If the
        oldest order still waiting for a connection is OVERLOAD_LAG behind its schedule,
        the stack cannot take the rate: sending stops, and the orders not yet sent count
        with the lag they had reached (so the percentiles are then lower bounds)."""
        result = Paced()
        tally = result.tally
        free: asyncio.Queue[tuple[Connection, Trader]] = asyncio.Queue()
        opened = [await Connection.open(self.port) for _ in range(pool_size)]
        for n, connection in enumerate(opened):
            free.put_nowait((connection, self.traders[n % len(self.traders)]))
        in_flight = [0]
        sent: list[float | None] = []  # when each order got a connection and went out

        async def send(index: int, due: float, counted: bool) -> None:
            connection, trader = await free.get()
            began = sent[index] = time.perf_counter()
            in_flight[0] += 1
            result.most_in_flight = max(result.most_in_flight, in_flight[0])
            try:
                done = await self._one(connection, trader, tally if counted else None)
            finally:
                in_flight[0] -= 1
                free.put_nowait((connection, trader))
            if counted:
                tally.latencies.append(done - due)
                result.from_send.append(done - began)

        warm = int(rate * WARMUP)
        total = warm + int(rate * seconds)
        tasks: list[asyncio.Task[None]] = []
        start = time.perf_counter() + 0.05
        measured_from = start + warm / rate
        progress = asyncio.create_task(
            _progress(seconds, lambda: tally.orders, "orders", delay=measured_from - start + 0.05)
        )
        oldest = 0  # the first order that may still wait for a connection
        self.meter.start()  # again at the end of the warm-up, if it ends
        try:
            n = 0
            while n < total:
                now = time.perf_counter()
                while n < total and start + n / rate <= now:
                    if n == warm:
                        self.poller.reset()
                        self.meter.start()
                    sent.append(None)
                    tasks.append(asyncio.create_task(send(n, start + n / rate, n >= warm)))
                    n += 1
                while oldest < n and sent[oldest] is not None:
                    oldest += 1
                if oldest < n and now - (start + oldest / rate) > OVERLOAD_LAG:
                    result.overloaded = True
                    break
                if n < total:
                    await asyncio.sleep(max(0.0, start + n / rate - time.perf_counter()))
            now = time.perf_counter()
            for index, task in enumerate(tasks):
                if sent[index] is None:
                    task.cancel()
                    if index >= warm:
                        result.abandoned += 1
                        tally.latencies.append(now - (start + index / rate))
            await asyncio.gather(*tasks, return_exceptions=True)
            elapsed = time.perf_counter() - measured_from
        finally:
            progress.cancel()
            for connection in opened:
                connection.close()
        result.due = max(0, n - warm)
        result.offered = result.due / max(1e-9, now - measured_from)
        result.rate = len(result.from_send) / elapsed
        return result

    async def backlog(self) -> int:
        connection = await asyncpg.connect(self.database_url)
        try:
            count: int = await connection.fetchval(
                "SELECT count(*) FROM commands WHERE applied_at IS NULL"
            )
            return count
        finally:
            await connection.close()

    async def drain(self, limit: float = 60.0) -> tuple[int, float]:
        """(commands not applied at the end of the phase, seconds the matcher then took)."""
        began = time.perf_counter()
        first = left = await self.backlog()
        while left and time.perf_counter() - began < limit:
            await asyncio.sleep(0.1)
            left = await self.backlog()
        return first, time.perf_counter() - began


async def _progress(
    seconds: float, count: Callable[[], int], unit: str, *, every: float = 2.0, delay: float = 0.0
) -> None:
    await asyncio.sleep(delay)
    began = time.perf_counter()
    last, last_at = count(), began
    while (now := time.perf_counter()) < began + seconds - 0.01:
        await asyncio.sleep(min(every, began + seconds - now))
        current, at = count(), time.perf_counter()
        _out(f"    {at - began:5.1f} s: {(current - last) / (at - last_at):8.0f} {unit}/s")
        last, last_at = current, at


# ---------------------------------------------------------------------------- set-up


async def _seed(settings: Settings, traders: int, port: int) -> tuple[int, list[Trader]]:
    async with open_connections(settings) as connections, connections.sessions() as session:
        stamp = time.time_ns()
        admin = await create_user(session, f"bench-admin-{stamp}@example.test", "bench", None)
        assert admin.id is not None
        market = await create_market(
            session,
            title="Benchmark market: will the order pipeline keep up?",
            description="",
            rules="",
            image_url=None,
            category="bench",
            closes_at=datetime.now(UTC) + timedelta(days=30),
            created_by=admin.id,
        )
        assert market.id is not None
        now = datetime.now(UTC)
        made: list[Trader] = []
        for n in range(traders):
            user = await create_user(
                session, f"bench-{stamp}-{n}@example.test", f"trader {n}", None, Role.USER
            )
            assert user.id is not None
            await add_cash(session, user.id, 1_000_000_000)
            token, _ = issue_access_token(settings.jwt_secret, user.id, Role.USER, now)
            made.append(Trader(user.id, _head(port, token)))
        await session.commit()
        return market.id, made


async def _audit(settings: Settings) -> tuple[bool, list[str]]:
    async with open_connections(settings) as connections, connections.sessions() as session:
        report = await run_audit(session)
    return report.ok, list(report.discrepancies)


def _wait_ready(
    port: int, api: subprocess.Popen[bytes], matcher: subprocess.Popen[bytes], log: Path
) -> None:
    deadline = time.monotonic() + 90
    api_ready = matcher_ready = False
    while not (api_ready and matcher_ready):
        if time.monotonic() > deadline:
            raise RuntimeError("the API or the matcher did not become ready in 90 s")
        for name, process in (("api", api), ("matcher", matcher)):
            if process.poll() is not None:
                raise RuntimeError(f"the {name} process exited with {process.returncode}")
        if not api_ready:
            url = f"http://127.0.0.1:{port}/readyz"
            with (
                contextlib.suppress(OSError, urllib.error.URLError),
                urllib.request.urlopen(url, timeout=5) as reply,
            ):
                api_ready = reply.status == 200
        if not matcher_ready:
            matcher_ready = "matcher consuming" in log.read_text(errors="replace")
        time.sleep(0.1)


def _wait_logged(process: subprocess.Popen[bytes], log: Path, text: str) -> None:
    deadline = time.monotonic() + 90
    while text not in log.read_text(errors="replace"):
        if process.poll() is not None:
            raise RuntimeError(f"an api process exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"an api process did not log {text!r} in 90 s")
        time.sleep(0.1)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


@contextlib.contextmanager
def _profiling(
    directory: Path | None, pids: dict[str, int], seconds: float, phase: str
) -> Iterator[None]:
    """py-spy on the API and the matcher for the phase (raw stacks, for flame graphs)."""
    spies: list[subprocess.Popen[bytes]] = []
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
        spy = Path(sys.executable).with_name("py-spy")
        for name in ("api", "matcher"):
            target = directory / f"{phase}-{name}.txt"
            spies.append(
                subprocess.Popen(
                    [
                        str(spy),
                        "record",
                        "-p",
                        str(pids[name]),
                        "-d",
                        str(int(seconds)),
                        "-f",
                        "raw",
                        "-o",
                        str(target),
                        "--rate",
                        "250",
                        "--nonblocking",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
    try:
        yield
    finally:
        for spy_process in spies:
            try:
                spy_process.wait(seconds + 15)
            except subprocess.TimeoutExpired:
                spy_process.terminate()
                spy_process.wait(5)


# ---------------------------------------------------------------------------- main


@dataclass
class Summary:
    rows: list[tuple[str, str, str, str]] = field(default_factory=list)

    def add(self, figure: str, measured: str, target: str = "", verdict: str = "") -> None:
        self.rows.append((figure, measured, target, verdict))

    def print(self) -> None:
        widths = [max(len(r[i]) for r in [("figure", "measured", "target", ""), *self.rows])
                  for i in range(4)]  # fmt: skip
        _out()
        _out("summary")
        for row in [("figure", "measured", "target", ""), *self.rows]:
            _out("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


async def _run_phases(
    args: argparse.Namespace, bench: Bench, pids: dict[str, int], summary: Summary
) -> None:
    await bench.poller.start()
    try:
        if "place" in args.phases:
            _out(
                f"\n[place] {args.clients} clients, single placeOrder back to back,"
                f" {args.seconds:.0f} s (after {WARMUP:.0f} s warm-up)"
            )
            with _profiling(args.profile_dir, pids, args.seconds, "place"):
                rate, tally = await bench.place(args.clients, args.seconds)
            cores = bench.meter.cores()
            fills, unfilled = bench.poller.reset()
            backlog, drained = await bench.drain()
            _report_singles("place", rate, tally, fills, unfilled, backlog, drained, cores)
            summary.add(
                f"placeOrder orders/s (closed loop, {args.clients} clients)",
                f"{rate:,.0f}",
                ">= 2,500",
                _verdict(rate >= 2500 and not tally.failures),
            )
            ordered = sorted(tally.latencies)
            summary.add(
                "  placeOrder latency p50 / p99 / p99.9",
                " / ".join(_ms(percentile(ordered, q)) for q in (0.5, 0.99, 0.999)),
            )
            summary.add("  fill visible in Postgres p50 / p99", _fill_figures(fills))
            summary.add("  matcher backlog at phase end", f"{backlog} commands, {drained:.1f} s")
        if "batch" in args.phases:
            _out(
                f"\n[batch] {args.batch_clients} clients, placeOrders of {args.batch_size},"
                f" {args.seconds:.0f} s (after {WARMUP:.0f} s warm-up)"
            )
            with _profiling(args.profile_dir, pids, args.seconds, "batch"):
                rate, tally = await bench.batch(args.batch_clients, args.seconds, args.batch_size)
            cores = bench.meter.cores()
            backlog, drained = await bench.drain()
            _out(
                f"  batch: {rate:,.0f} orders/s ({tally.orders} orders in"
                f" {len(tally.latencies)} batches, {len(tally.failures)} failed requests)"
            )
            _out(f"    batch latency {_spread(tally.latencies)}")
            _out(f"    order statuses in the replies: {_statuses(tally)}")
            _out(
                f"    matcher backlog at phase end: {backlog} commands; drained in {drained:.1f} s"
            )
            _out(_cpu_lines(cores, rate))
            _first_failure(tally)
            sustained = tally.orders / (args.seconds + drained)
            summary.add(
                f"placeOrders orders/s ({args.batch_clients} clients x {args.batch_size})",
                f"{rate:,.0f}",
                ">= 20,000",
                _verdict(rate >= 20000 and not tally.failures),
            )
            summary.add("  incl. the matcher's catch-up after the phase", f"{sustained:,.0f}")
        for rate in args.rate if "paced" in args.phases else []:
            _out(
                f"\n[paced] placeOrder at {rate:,.0f}/s on a fixed schedule (open loop),"
                f" {args.seconds:.0f} s (after {WARMUP:.0f} s warm-up),"
                f" up to {args.clients} connections"
            )
            with _profiling(args.profile_dir, pids, args.seconds, "paced"):
                paced = await bench.paced(rate, args.seconds, args.clients)
            cores = bench.meter.cores()
            fills, unfilled = bench.poller.reset()
            backlog, drained = await bench.drain()
            tally = paced.tally
            if paced.overloaded:
                _out(
                    f"  OVERLOADED: orders fell {OVERLOAD_LAG:.0f} s behind schedule; sending"
                    f" stopped {paced.due / rate:.1f} s into the measured schedule,"
                    f" {paced.abandoned} due orders never sent (counted with the lag they had"
                    " reached: the percentiles below are lower bounds)"
                )
            _report_singles("paced", paced.rate, tally, fills, unfilled, backlog, drained, cores)
            _out(
                f"    latency from the actual send: {_spread(paced.from_send)};"
                f" at most {paced.most_in_flight} in flight"
            )
            p99 = percentile(sorted(tally.latencies), 0.99)
            bound = ">= " if paced.overloaded else ""
            summary.add(
                f"placeOrder p99 at {rate:,.0f}/s offered (from due time)",
                f"{bound}{_ms(p99)} (answered {paced.rate:,.0f}/s)",
                "< 25 ms" if rate == 1000 else "",
                _verdict(p99 < 0.025 and not tally.failures and not paced.overloaded)
                if rate == 1000
                else "",
            )
            summary.add("  fill visible in Postgres p50 / p99", _fill_figures(fills))
    finally:
        await bench.poller.stop()


def _statuses(tally: Tally) -> str:
    total = sum(tally.statuses.values()) or 1
    return ", ".join(f"{name} {count / total:.0%}" for name, count in tally.statuses.most_common())


def _fill_figures(fills: list[float]) -> str:
    ordered = sorted(fills)
    return f"{_ms(percentile(ordered, 0.5))} / {_ms(percentile(ordered, 0.99))}"


def _first_failure(tally: Tally) -> None:
    if tally.failures:
        _out(f"    first failure: {tally.failures[0]}")


def _report_singles(
    name: str,
    rate: float,
    tally: Tally,
    fills: list[float],
    unfilled: int,
    backlog: int,
    drained: float,
    cores: dict[str, float],
) -> None:
    _out(
        f"  {name}: {rate:,.0f} placeOrder/s ({len(tally.latencies)} requests,"
        f" {len(tally.failures)} failed)"
    )
    _out(f"    placeOrder latency {_spread(tally.latencies)}")
    _out(f"    order statuses in the replies: {_statuses(tally)}")
    if tally.crossing:
        _out(
            f"    crossing orders whose reply already showed a fill:"
            f" {tally.crossing_filled_in_reply / tally.crossing:.0%} of {tally.crossing}"
        )
    _out(
        f"    fill visible in Postgres (sampled crossing orders, send -> first poll seeing"
        f" filled > 0): {_spread(fills)} ({len(fills)} filled, {unfilled} no fill in"
        f" {FILL_GIVE_UP:.0f} s)"
    )
    _out(f"    matcher backlog at phase end: {backlog} commands; drained in {drained:.1f} s")
    _out(_cpu_lines(cores, rate))
    _first_failure(tally)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--clients", type=int, default=64, help="concurrent placeOrder clients")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured time per phase")
    parser.add_argument(
        "--phases",
        type=lambda text: [p.strip() for p in text.split(",") if p.strip()],
        default=list(PHASES),
        help=f"comma-separated phases to run, of {','.join(PHASES)}",
    )
    parser.add_argument(
        "--api-processes", type=int, default=1, help="`predmarket api` processes on one port"
    )
    parser.add_argument("--traders", type=int, default=32, help="users placing orders")
    parser.add_argument("--batch-clients", type=int, default=4, help="placeOrders clients")
    parser.add_argument("--batch-size", type=int, default=100, help="orders per placeOrders")
    parser.add_argument(
        "--rate",
        type=lambda text: [float(r) for r in text.split(",") if r.strip()],
        default=[1000.0, 100.0],
        help="paced phase: offered orders/s, one run per comma-separated rate",
    )
    parser.add_argument("--cross", type=float, default=0.3, help="share of crossing orders")
    parser.add_argument(
        "--order-wait-ms", type=int, default=1000, help="ORDER_WAIT_MS of the API process"
    )
    parser.add_argument(
        "--durable", action="store_true", help="fsync in the embedded Postgres (off by default)"
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="DATA_DIR of the embedded servers (default: a fresh temporary one, removed after)",
    )
    parser.add_argument(
        "--profile-dir",
        type=Path,
        default=None,
        help="record py-spy raw stacks of the api and matcher for each phase here",
    )
    args = parser.parse_args()
    unknown = [p for p in args.phases if p not in PHASES]
    if unknown:
        parser.error(f"unknown phases {unknown}; choose from {', '.join(PHASES)}")

    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="predmarket-bench-"))
    prefix = f"bench-{uuid.uuid4().hex[:8]}-"
    wanted = load_settings(
        data_dir=data_dir,
        embedded_durable=args.durable,
        kafka_topic_prefix=prefix,
        order_wait_ms=args.order_wait_ms,
    )
    began = time.monotonic()
    stack = EmbeddedStack(wanted)
    try:
        settings = stack.start()
        try:
            exact = _bench(args, settings, stack, began)
        finally:
            stack.stop()
    finally:
        if args.data_dir is None:
            shutil.rmtree(data_dir, ignore_errors=True)
    if not exact:
        raise SystemExit("the money audit after the run FAILED (its problems are above)")


def _bench(
    args: argparse.Namespace, settings: Settings, stack: EmbeddedStack, began: float
) -> bool:
    """Runs the phases and prints the summary; whether the money audit after them is exact."""
    migrations.upgrade(settings.database_url)
    asyncio.run(ensure_topics(settings))
    port = free_port()
    market_id, traders = asyncio.run(_seed(settings, args.traders, port))
    env = (
        dict(os.environ)
        | settings.servers_env()
        | {
            "JWT_SECRET": settings.jwt_secret,
            "ORDER_WAIT_MS": str(args.order_wait_ms),
            "RATE_LIMIT_PER_SECOND": "1000000000",
            "RATE_LIMIT_BURST": "1000000000",
        }
    )
    logs = settings.data_dir
    matcher_log = logs / "bench-matcher.log"
    with matcher_log.open("ab") as out:
        matcher = subprocess.Popen(
            [sys.executable, "-m", "cli", "matcher"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    apis: list[subprocess.Popen[bytes]] = []
    for number in range(args.api_processes):  # they share the port (SO_REUSEPORT)
        with (logs / f"bench-api-{number + 1}.log").open("ab") as out:
            apis.append(
                subprocess.Popen(
                    [sys.executable, "-m", "cli", "api", "--port", str(port)],
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
    api = apis[0]
    api_names = {("api" if n == 0 else f"api{n + 1}"): p.pid for n, p in enumerate(apis)}
    summary = Summary()
    try:
        _wait_ready(port, api, matcher, matcher_log)
        for number in range(1, len(apis)):
            _wait_logged(apis[number], logs / f"bench-api-{number + 1}.log", "ready in")
        pids = {"api": api.pid, "matcher": matcher.pid}
        servers = {p.name: p.pid for p in stack.processes}
        meter = CpuMeter(
            {**api_names, "matcher": matcher.pid, **servers, "bench client": os.getpid()},
            families={"postgres"},
        )
        embedded = ", ".join(sorted(servers)) or "none (reused running servers)"
        _out("predmarket order pipeline benchmark")
        _out(f"  machine: {os.cpu_count()} CPUs; everything on it")
        _out(
            f"  embedded servers started: {embedded} (Postgres fsync"
            f" {'on' if args.durable else 'off: EMBEDDED_DURABLE=false'}),"
            f" DATA_DIR {settings.data_dir}"
        )
        _out(
            f"  api (pids {', '.join(str(p.pid) for p in apis)}) on port {port}:"
            f" {len(apis)} process{'es' if len(apis) > 1 else ''}, ORDER_WAIT_MS"
            f"={args.order_wait_ms} (placeOrder waits up to this for the matcher's result),"
            " rate limit raised to 1e9/s"
        )
        _out(
            f"  matcher (pid {matcher.pid}): one process;"
            f" topics prefixed {settings.kafka_topic_prefix}"
        )
        _out(
            f"  market {market_id}, {len(traders)} traders; orders: limit buys of YES and NO"
            f" around {MID}, {args.cross:.0%} crossing"
        )
        _out(f"  ready in {time.monotonic() - began:.1f} s")
        bench = Bench(
            port=port,
            traders=traders,
            mix=OrderMix(market_id, args.cross, seed=7),
            poller=FillPoller(settings.database_url),
            meter=meter,
            database_url=settings.database_url,
        )
        asyncio.run(_run_phases(args, bench, pids, summary))
        ok, problems = asyncio.run(_audit(settings))
        summary.add("money audit after the run", "exact" if ok else "FAILED", "exact", _verdict(ok))
        for problem in problems[:5]:
            _out(f"  audit: {problem}")
    except BaseException:
        for name, log in (("api", logs / "bench-api-1.log"), ("matcher", matcher_log)):
            tail = log.read_text(errors="replace").splitlines()[-20:]
            _out(f"--- last lines of the {name} log ({log}):")
            for line in tail:
                _out("    " + line)
        raise
    finally:
        for process in apis:
            _stop(process)
        _stop(matcher)
    summary.print()
    _out(f"\ntotal time {time.monotonic() - began:.0f} s")
    return ok


if __name__ == "__main__":
    main()
