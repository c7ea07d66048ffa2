"""`python -m workers.subscriptions_bench`: live subscriptions fanned out to N WebSockets.

Starts embedded servers (Postgres, Valkey, Kafka) under a fresh temporary DATA_DIR, seeds one
market and two funded traders, runs `predmarket matcher` and `predmarket api` as their own
processes (rate limit raised), then for each N of `--subscribers`:

  1. opens N graphql-transport-ws sockets to the one API process, each subscribed to the
     same public feed, `trades(marketId)` (a lean raw-socket client in this process, on
     uvloop: one protocol per socket that counts every frame and takes the latency of every
     trade message, parsing each distinct message's engine time once, so that the figure
     is the API's, not the client's), and reads the API's RSS before and after;
  2. drives trades at a fixed rate (`--rate` delivered messages/s offered, i.e. rate / N
     trades/s): every tick one trader sends `placeOrders` with k buys of YES at 50 and the
     other k buys of NO at 50, each pair crossing into one trade;
  3. prints, over the measured window, the trade messages delivered per second (all
     sockets together), the latency engine event -> client (the `time` each MarketTrade
     carries is the matcher's engine time; the client takes its wall clock on receipt:
     same machine, same clock) p50/p99, and the memory per connection.
"""

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import orjson
import psutil
import uvloop

from db import migrate as migrations
from servers import EmbeddedStack
from servers.process import free_port
from settings import Settings, load_settings
from workers.bench import PLACE_MANY, Connection, Trader, _request, _seed, _stop
from workers.kafka import ensure_topics
from workers.pace import percentile

TRADES = (
    "subscription($m: ID!) { trades(marketId: $m) { __typename"
    " ... on MarketTrade { seq time yesPrice quantity aggressor }"
    " ... on Heartbeat { seq time } ... on ResyncRequired { seq reason } } }"
)
TICKS_PER_SECOND = 20
MAX_BATCH = 100
WARMUP = 2.0  # seconds of driving before the measured window
DRAIN = 2.0  # seconds after driving stops, for the last messages to arrive


def _out(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


# ---------------------------------------------------------------------------- the client


def _frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """A client frame, masked with a zero key (allowed: the payload is then unchanged)."""
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    return head + b"\0\0\0\0" + payload


class Tally:
    """What all the sockets received."""

    def __init__(self) -> None:
        self.window = (float("inf"), float("inf"))
        self.trades = 0  # MarketTrade messages received, in all
        self.in_window = 0
        self.latencies: list[float] = []  # seconds, of the messages received in the window
        self.heartbeats = 0
        self.resyncs = 0
        self.errors: list[bytes] = []
        self.closed = 0
        self.seqs: set[int] = set()  # trade seqs seen (by any socket)
        self.engine_times: dict[bytes, float] = {}  # a message's bytes -> its engine time


_TIME = b'"time":"'
_SEQ = b'"seq":'


class Subscriber(asyncio.Protocol):
    """One WebSocket: upgrade, connection_init, subscribe; then count what arrives."""

    def __init__(self, host: str, port: int, subscribe: bytes, tally: Tally) -> None:
        self.request = (
            f"GET /graphql HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
        ).encode()
        self.subscribe = subscribe
        self.tally = tally
        self.buffer = bytearray()
        self.upgraded = False
        self.acked = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.trades = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        self.tally.closed += 1
        if not self.acked.done():
            self.acked.set_exception(ConnectionError(f"closed before the ack: {exc!r}"))

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(_frame(b"\x03\xe8", 0x8))
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        received = time.time()  # one clock read for every frame of this read
        if self.buffer:
            self.buffer += data
            data = bytes(self.buffer)
            self.buffer.clear()
        at = 0
        if not self.upgraded:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                self.buffer += data
                return
            if not data.startswith(b"HTTP/1.1 101"):
                self.acked.set_exception(ConnectionError(data[:200].decode()))
                return
            self.upgraded = True
            at = end + 4
            assert self.transport is not None
            self.transport.write(
                _frame(b'{"type":"connection_init","payload":{}}') + self.subscribe
            )
        size = len(data)
        while size - at >= 2:
            opcode = data[at] & 0x0F
            length = data[at + 1] & 0x7F
            start = at + 2
            if length == 126:
                if size - at < 4:
                    break
                length = int.from_bytes(data[at + 2 : at + 4], "big")
                start = at + 4
            elif length == 127:
                if size - at < 10:
                    break
                length = int.from_bytes(data[at + 2 : at + 10], "big")
                start = at + 10
            if size < start + length:
                break
            self._message(opcode, data[start : start + length], received)
            at = start + length
        if at < size:
            self.buffer += data[at:]

    def _message(self, opcode: int, payload: bytes, received: float) -> None:
        if opcode in (0x1, 0x2):
            if b"MarketTrade" in payload:
                self._trade(payload, received)
            elif b"Heartbeat" in payload:
                self.tally.heartbeats += 1
            elif b"ResyncRequired" in payload:
                self.tally.resyncs += 1
            elif b"connection_ack" in payload:
                if not self.acked.done():
                    self.acked.set_result(None)
            elif b'"pong"' in payload or b'"ping"' in payload:
                if b'"ping"' in payload and self.transport is not None:
                    self.transport.write(_frame(b'{"type":"pong"}'))
            else:
                self.tally.errors.append(payload[:300])
        elif opcode == 0x9 and self.transport is not None:  # a WebSocket ping
            self.transport.write(_frame(payload, 0xA))

    def _trade(self, payload: bytes, received: float) -> None:
        tally = self.tally
        tally.trades += 1
        self.trades += 1
        if not tally.window[0] <= received < tally.window[1]:
            return
        tally.in_window += 1
        # Every socket gets the same bytes for an event: its engine time is parsed once.
        engine = tally.engine_times.get(payload)
        if engine is None:
            at = payload.find(_TIME) + len(_TIME)
            stamp = payload[at : payload.find(b'"', at)].decode()
            engine = datetime.fromisoformat(stamp).timestamp()
            if len(tally.engine_times) >= 100_000:
                tally.engine_times.clear()
            tally.engine_times[payload] = engine
            at = payload.find(_SEQ) + len(_SEQ)
            tally.seqs.add(int(payload[at : payload.find(b",", at)]))
        tally.latencies.append(received - engine)


async def open_subscribers(
    port: int, count: int, subscribe: bytes, tally: Tally, progress: Callable[[int], None]
) -> list[Subscriber]:
    loop = asyncio.get_running_loop()
    opened: list[Subscriber] = []

    async def one() -> None:
        _, protocol = await loop.create_connection(
            lambda: Subscriber("127.0.0.1", port, subscribe, tally), "127.0.0.1", port
        )
        opened.append(protocol)
        await asyncio.wait_for(protocol.acked, 30)

    for start in range(0, count, 100):
        await asyncio.gather(*(one() for _ in range(start, min(count, start + 100))))
        progress(len(opened))
    return opened


# ---------------------------------------------------------------------------- the driver


class Driver:
    """Crossing pairs of orders at a fixed rate: k YES buys at 50 by one trader, k NO buys
    at 50 by the other, each tick (each pair trades once: quantity 1)."""

    def __init__(self, port: int, traders: list[Trader], market_id: int, per_tick: int) -> None:
        self.port = port
        self.per_tick = per_tick
        self.requests = [
            _request(
                trader,
                PLACE_MANY,
                {
                    "inputs": [
                        {
                            "marketId": str(market_id),
                            "side": "BUY",
                            "outcome": outcome,
                            "price": 50,
                            "quantity": 1,
                        }
                    ]
                    * per_tick
                },
            )
            for trader, outcome in zip(traders[:2], ("YES", "NO"), strict=True)
        ]
        self.pool: asyncio.Queue[Connection] = asyncio.Queue()
        self.sent = 0
        self.failures: list[bytes] = []

    async def open(self, connections: int = 16) -> None:
        for _ in range(connections):
            self.pool.put_nowait(await Connection.open(self.port))

    async def _send(self, request: bytes) -> None:
        connection = await self.pool.get()
        try:
            ok, body = await connection.call(request)
            if not ok or b'"errors"' in body or b'"code"' in body:
                self.failures.append(body[:300])
        finally:
            self.pool.put_nowait(connection)

    async def run(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        began = loop.time()
        tasks: set[asyncio.Task[None]] = set()
        tick = 0
        while (due := began + tick / TICKS_PER_SECOND) < began + seconds:
            await asyncio.sleep(max(0.0, due - loop.time()))
            for request in self.requests:
                task = asyncio.create_task(self._send(request))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            self.sent += self.per_tick
            tick += 1
        if tasks:
            await asyncio.wait(tasks, timeout=10)

    def close(self) -> None:
        while not self.pool.empty():
            self.pool.get_nowait().close()


# ---------------------------------------------------------------------------- one run


async def run_one(
    args: argparse.Namespace, port: int, api_pid: int, market_id: int, traders: list[Trader], n: int
) -> dict[str, Any]:
    api = psutil.Process(api_pid)
    tally = Tally()
    subscribe = _frame(
        orjson.dumps(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {"query": TRADES, "variables": {"m": str(market_id)}},
            }
        )
    )
    trades_per_second = args.rate / n
    per_tick = max(1, min(MAX_BATCH, round(trades_per_second / TICKS_PER_SECOND)))
    offered = per_tick * TICKS_PER_SECOND
    _out(
        f"\n== {n} subscribers: trades(marketId) on every socket; offering {offered} trades/s"
        f" = {offered * n:,} messages/s"
    )
    rss_before = api.memory_info().rss
    began = time.monotonic()
    subscribers = await open_subscribers(
        port,
        n,
        subscribe,
        tally,
        lambda k: (
            _out(f"  {k} sockets open ({time.monotonic() - began:.1f} s)")
            if k % max(100, n // 5) == 0 or k == n
            else None
        ),
    )
    await asyncio.sleep(1.0)  # the subscriptions reach the feed hub
    rss_after = api.memory_info().rss
    per_connection = (rss_after - rss_before) / n
    driver = Driver(port, traders, market_id, per_tick)
    await driver.open()
    now = time.time()
    tally.window = (now + WARMUP, now + WARMUP + args.seconds)
    cpu_before = api.cpu_times()
    client = psutil.Process()
    client_before = client.cpu_times()

    async def progress() -> None:
        last = tally.trades
        while True:
            await asyncio.sleep(1.0)
            _out(f"  {tally.trades - last:>9,} messages/s received; {tally.trades:,} in all")
            last = tally.trades

    reporter = asyncio.create_task(progress())
    try:
        await driver.run(WARMUP + args.seconds)
        await asyncio.sleep(DRAIN)
    finally:
        reporter.cancel()
    cpu_after = api.cpu_times()
    client_after = client.cpu_times()
    for subscriber in subscribers:
        subscriber.close()
    driver.close()
    await asyncio.sleep(1.0)
    silent = sum(1 for s in subscribers if s.trades == 0)
    ordered = sorted(tally.latencies)
    api_cpu = (cpu_after.user + cpu_after.system - cpu_before.user - cpu_before.system) / (
        WARMUP + args.seconds + DRAIN
    )
    expected = len(tally.seqs) * n
    client_cpu = (
        client_after.user + client_after.system - client_before.user - client_before.system
    ) / (WARMUP + args.seconds + DRAIN)
    return {
        "n": n,
        "rate": tally.in_window / args.seconds,
        "p50": percentile(ordered, 0.5),
        "p99": percentile(ordered, 0.99),
        "max": ordered[-1] if ordered else float("nan"),
        "memory": per_connection,
        "rss": (rss_before, rss_after),
        "in_window": tally.in_window,
        "expected": expected,
        "resyncs": tally.resyncs,
        "silent": silent,
        "errors": tally.errors[:3],
        "failures": driver.failures[:3],
        "offered": offered * n,
        "api_cpu": api_cpu,
        "client_cpu": client_cpu,
    }


def _report(result: dict[str, Any], seconds: float) -> None:
    delivered = result["in_window"]
    _out(
        f"  delivered {result['rate']:,.0f} messages/s over {seconds:.0f} s"
        f" ({delivered:,} messages; offered {result['offered']:,}/s)"
    )
    if result["expected"]:
        _out(
            f"  received in the window / published in the window x N:"
            f" {delivered / result['expected']:.1%} (a value under 100% means a backlog)"
        )
    _out(
        f"  latency engine event -> client: p50 {result['p50'] * 1000:.1f} ms,"
        f" p99 {result['p99'] * 1000:.1f} ms, max {result['max'] * 1000:.1f} ms"
    )
    before, after = result["rss"]
    _out(
        f"  memory: API RSS {before / 2**20:.1f} MiB -> {after / 2**20:.1f} MiB,"
        f" {result['memory'] / 1024:.1f} KiB per connection"
    )
    _out(
        f"  CPU: API process {result['api_cpu']:.2f} cores,"
        f" this client process {result['client_cpu']:.2f} cores"
    )
    _out(f"  ResyncRequired: {result['resyncs']}; sockets that got no trade: {result['silent']}")
    for error in result["errors"]:
        _out(f"  unexpected message: {error!r}")
    for failure in result["failures"]:
        _out(f"  order failure: {failure!r}")


def _wait_ready(port: int, processes: dict[str, Any], matcher_log: Path) -> None:
    import urllib.request

    deadline = time.monotonic() + 90
    api_ready = matcher_ready = False
    while not (api_ready and matcher_ready):
        if time.monotonic() > deadline:
            raise RuntimeError("the API or the matcher did not become ready in 90 s")
        for name, process in processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"the {name} process exited with {process.returncode}")
        if not api_ready:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as r:
                    api_ready = r.status == 200
            except OSError:
                pass
        if not matcher_ready:
            matcher_ready = "matcher consuming" in matcher_log.read_text(errors="replace")
        time.sleep(0.1)


def _bench(args: argparse.Namespace, settings: Settings, began: float) -> None:
    import subprocess

    migrations.upgrade(settings.database_url)
    asyncio.run(ensure_topics(settings))
    port = free_port()
    market_id, traders = asyncio.run(_seed(settings, 2, port))
    env = (
        dict(os.environ)
        | settings.servers_env()
        | {
            "JWT_SECRET": settings.jwt_secret,
            "RATE_LIMIT_PER_SECOND": "1000000000",
            "RATE_LIMIT_BURST": "1000000000",
        }
    )
    matcher_log, api_log = settings.data_dir / "matcher.log", settings.data_dir / "api.log"
    with matcher_log.open("ab") as out:
        matcher = subprocess.Popen(
            [sys.executable, "-m", "cli", "matcher"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    with api_log.open("ab") as out:
        api = subprocess.Popen(
            [sys.executable, "-m", "cli", "api", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_ready(port, {"api": api, "matcher": matcher}, matcher_log)
        _out("predmarket live subscriptions benchmark")
        _out(f"  machine: {os.cpu_count()} CPUs; servers, matcher, API and client all on it")
        _out(f"  api (pid {api.pid}) on port {port}: one process; matcher pid {matcher.pid}")
        _out(f"  market {market_id}; ready in {time.monotonic() - began:.1f} s")
        _out("  client: every frame counted; latency of every trade message (not a sample)")
        results = []
        for n in args.subscribers:
            # uvloop: the client's own event loop costs less of the shared cores
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                result = runner.run(run_one(args, port, api.pid, market_id, traders, n))
            _report(result, args.seconds)
            results.append(result)
        _out("\nsummary (target: >= 100,000 messages/s at 1,000 subscribers, p99 < 50 ms)")
        for r in results:
            _out(
                f"  N={r['n']:>5}: {r['rate']:>9,.0f} messages/s, p50 {r['p50'] * 1000:7.1f} ms,"
                f" p99 {r['p99'] * 1000:7.1f} ms, {r['memory'] / 1024:6.1f} KiB/connection"
            )
    except BaseException:
        for name, log in (("api", api_log), ("matcher", matcher_log)):
            _out(f"--- last lines of the {name} log ({log}):")
            for line in log.read_text(errors="replace").splitlines()[-20:]:
                _out("    " + line)
        raise
    finally:
        _stop(api)
        _stop(matcher)
    _out(f"\ntotal time {time.monotonic() - began:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--subscribers",
        type=lambda text: [int(n) for n in text.split(",") if n.strip()],
        default=[100, 1000],
        help="comma-separated numbers of WebSocket subscribers, one run each",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=120_000.0,
        help="messages/s offered (trades/s x subscribers); trades/s = rate / N",
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="measured time per run")
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="predmarket-subbench-"))
    wanted = load_settings(
        data_dir=data_dir,
        embedded_durable=False,
        kafka_topic_prefix=f"subbench-{uuid.uuid4().hex[:8]}-",
    )
    began = time.monotonic()
    stack = EmbeddedStack(wanted)
    try:
        settings = stack.start()
        try:
            _bench(args, settings, began)
        finally:
            stack.stop()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
