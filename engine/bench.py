"""Benchmark the engine: ``python -m engine.bench [--workload FILE] [--write-workload FILE]``.

Runs one workload through ``Book`` (full semantics: validation, self-trade prevention, every
event including book deltas), through the bare ``RefBook`` and through cython-orderbook
(if installed), and prints commands/s (a pass without per-command timing, best of a few)
and per-command latency p50/p99/p99.9 (a separate pass timing each call with
perf_counter_ns). A workload is JSON lines, one array per command:
``["place", id, user, "buy"|"sell", "yes"|"no", price, qty, "gtc"|"ioc"|"fok"|"post"]`` or
``["cancel", id]``. Without ``--workload`` the reference workload is generated.
"""

import argparse
import gc
import importlib
import json
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from engine.book import Book
from engine.enums import EventType, OrderKind
from engine.refbook import RefBook

Command = list[Any]
Call = tuple[Callable[..., object], tuple[Any, ...]]

_KINDS = {
    "gtc": OrderKind.GTC,
    "ioc": OrderKind.IOC,
    "fok": OrderKind.FOK,
    "post": OrderKind.POST_ONLY,
}


def generate(n: int = 200_000, seed: int = 20_240_601) -> list[Command]:
    """The reference workload: limit orders around a slowly drifting mid, ~30% priced to
    cross, ~10% cancels of a recent order, half YES-side and half NO-side orders."""
    rng = random.Random(seed)
    mid = 50
    next_id = 1
    recent: list[int] = []
    cmds: list[Command] = []
    for _ in range(n):
        if rng.random() < 0.02:
            mid = min(90, max(10, mid + rng.choice((-1, 1))))
        if recent and rng.random() < 0.10:
            cmds.append(["cancel", recent[rng.randrange(len(recent))]])
            continue
        is_bid = rng.random() < 0.5
        if rng.random() < 0.30:  # through the mid: takes what rests on the other side
            yp = mid + rng.randint(0, 3) if is_bid else mid - rng.randint(0, 3)
        else:
            away = 1 + min(int(rng.expovariate(0.25)), 20)
            yp = mid - away if is_bid else mid + away
        yp = min(99, max(1, yp))
        outcome = "yes" if rng.random() < 0.5 else "no"
        # A YES bid is BUY YES, a YES ask SELL YES; on the NO side a YES bid is SELL NO.
        if outcome == "yes":
            side, price = ("buy" if is_bid else "sell"), yp
        else:
            side, price = ("sell" if is_bid else "buy"), 100 - yp
        user = rng.randrange(1, 1001)
        cmds.append(["place", next_id, user, side, outcome, price, rng.randint(1, 100), "gtc"])
        recent.append(next_id)
        if len(recent) > 200:
            recent.pop(0)
        next_id += 1
    return cmds


def read_workload(path: Path) -> list[Command]:
    with path.open() as f:
        return [json.loads(line) for line in f if line.strip()]


def write_workload(path: Path, cmds: Sequence[Command]) -> None:
    with path.open("w") as f:
        for c in cmds:
            f.write(json.dumps(c, separators=(",", ":")) + "\n")


# Each maker turns commands into calls on a fresh instance, so that the timed loop is only
# ``fn(*args)``: parsing and mapping are not measured.


def engine_calls(cmds: Sequence[Command]) -> list[Call]:
    book = Book(1)
    place, cancel = book.place, book.cancel
    calls: list[Call] = []
    for c in cmds:
        if c[0] == "place":
            side = 0 if c[3] == "buy" else 1
            outcome = 0 if c[4] == "yes" else 1
            calls.append((place, (c[1], c[2], side, outcome, c[5], c[6], int(_KINDS[c[7]]))))
        else:
            calls.append((cancel, (c[1],)))
    return calls


def refbook_calls(cmds: Sequence[Command]) -> list[Call]:
    book = RefBook()
    place, cancel = book.place, book.cancel
    calls: list[Call] = []
    for c in cmds:
        if c[0] == "place":
            side = 0 if c[3] == "buy" else 1
            outcome = 0 if c[4] == "yes" else 1
            calls.append((place, (c[1], side, outcome, c[5], c[6], c[7] in ("ioc", "fok"))))
        else:
            calls.append((cancel, (c[1],)))
    return calls


def cython_calls(cmds: Sequence[Command]) -> list[Call] | None:
    """cython-orderbook has one side per order and no YES/NO: BUY NO @q becomes an ask at
    100 - q and SELL NO @q a bid at 100 - q, as on Book's YES axis. It has no IOC/FOK/
    post-only; IOC and FOK are sent as a limit then a cancel of what is left."""
    try:
        lib = importlib.import_module("cython_orderbook.orderbook")
    except ImportError:
        return None
    Order, OrderBook, OrderSide = lib.Order, lib.OrderBook, lib.OrderSide
    ob = OrderBook()
    add, cancel_order = ob.add_limit_order, ob.cancel_order
    ids: dict[int, str] = {}
    bid, ask = OrderSide.BID, OrderSide.ASK

    def place(order_id: int, side: object, price: int, qty: int) -> None:
        o = Order(side, qty, price)
        add(o)
        ids[order_id] = o.order_id

    def place_ioc(order_id: int, side: object, price: int, qty: int) -> None:
        o = Order(side, qty, price)
        add(o)
        if o.remaining_quantity:
            cancel_order(o.order_id)

    def cancel(order_id: int) -> None:
        oid = ids.pop(order_id, None)
        if oid is not None:
            cancel_order(oid)

    calls: list[Call] = []
    for c in cmds:
        if c[0] == "place":
            is_bid = (c[3] == "buy") == (c[4] == "yes")
            yp = c[5] if c[4] == "yes" else 100 - c[5]
            fn = place_ioc if c[7] in ("ioc", "fok") else place
            calls.append((fn, (c[1], bid if is_bid else ask, yp, c[6])))
        else:
            calls.append((cancel, (c[1],)))
    return calls


def _quiet_gc() -> None:
    """What a matcher process should do too: keep long-lived objects out of the collector's
    scans and make young-generation collections rare. The engine makes no reference cycles,
    so reference counting frees everything it drops."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(200_000, 1_000, 1_000)


def throughput(
    make: Callable[[Sequence[Command]], list[Call] | None], cmds: list[Command], repeats: int
) -> float:
    best = 0.0
    for _ in range(repeats):
        calls = make(cmds)
        assert calls is not None
        _quiet_gc()
        t0 = time.perf_counter()
        for fn, args in calls:
            fn(*args)
        elapsed = time.perf_counter() - t0
        best = max(best, len(calls) / elapsed)
        del calls
        gc.unfreeze()
    return best


def latency(
    make: Callable[[Sequence[Command]], list[Call] | None], cmds: list[Command], passes: int
) -> tuple[float, float, float]:
    """p50, p99 and p99.9 in microseconds, each the median over ``passes`` timed passes
    (so that one pass disturbed by a neighbour on the machine does not decide it)."""
    runs: list[tuple[float, float, float]] = []
    clock = time.perf_counter_ns
    for _ in range(passes):
        calls = make(cmds)
        assert calls is not None
        lat = [0] * len(calls)
        _quiet_gc()
        for k, (fn, args) in enumerate(calls):
            t0 = clock()
            fn(*args)
            lat[k] = clock() - t0
        gc.unfreeze()
        del calls
        lat.sort()
        n = len(lat)
        p50, p99, p999 = (lat[min(n - 1, int(p * n))] / 1000 for p in (0.50, 0.99, 0.999))
        runs.append((p50, p99, p999))
    p50, p99, p999 = (sorted(r[i] for r in runs)[len(runs) // 2] for i in range(3))
    return p50, p99, p999


def _describe(cmds: Sequence[Command]) -> str:
    """What the engine makes of the workload, in a separate untimed pass whose book is
    gone before anything is timed."""
    book = Book(1)
    events = trades = 0
    for fn, args in engine_calls(cmds):
        out = getattr(book, fn.__name__)(*args)
        events += len(out)
        trades += sum(1 for e in out if e[0] == EventType.TRADE)
    return (
        f"engine emits {events} events ({events / len(cmds):.2f} per command), "
        f"{trades} trades; {len(book)} orders left resting"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m engine.bench", description=__doc__)
    parser.add_argument("--workload", type=Path, help="JSON-lines workload to run")
    parser.add_argument("--write-workload", type=Path, help="save the workload here")
    parser.add_argument("--commands", type=int, default=200_000, help="generated size")
    parser.add_argument("--seed", type=int, default=20_240_601, help="generator seed")
    parser.add_argument("--repeats", type=int, default=5, help="throughput passes (best)")
    parser.add_argument(
        "--latency-passes", type=int, default=3, help="timed passes (median percentiles)"
    )
    opts = parser.parse_args(argv)

    cmds = read_workload(opts.workload) if opts.workload else generate(opts.commands, opts.seed)
    if opts.write_workload:
        write_workload(opts.write_workload, cmds)
    places = sum(1 for c in cmds if c[0] == "place")
    source = opts.workload or f"reference, seed {opts.seed}"
    print(
        f"workload: {len(cmds)} commands ({places} places, {len(cmds) - places} cancels), {source}"
    )
    print(_describe(cmds))

    makers: list[tuple[str, Callable[[Sequence[Command]], list[Call] | None]]] = [
        ("engine", engine_calls),
        ("refbook (bare)", refbook_calls),
        ("cython-orderbook", cython_calls),
    ]
    rows: list[tuple[str, float, tuple[float, float, float]]] = []
    for name, make in makers:
        if make(cmds[:1]) is None:
            print(f"{name}: not installed, skipped")
            continue
        tput = throughput(make, cmds, opts.repeats)
        lat = latency(make, cmds, opts.latency_passes)
        rows.append((name, tput, lat))
        print(
            f"{name}: {tput:,.0f} commands/s, p50 {lat[0]:.2f} us, p99 {lat[1]:.2f} us, "
            f"p99.9 {lat[2]:.2f} us"
        )

    print()
    print("| book | commands/s | p50 µs | p99 µs | p99.9 µs |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, tput, (p50, p99, p999) in rows:
        print(f"| {name} | {tput:,.0f} | {p50:.2f} | {p99:.2f} | {p999:.2f} |")
    print()
    eng = rows[0]
    cy = [r for r in rows if r[0] == "cython-orderbook"]
    ratio = f"{eng[1] / cy[0][1]:.2f}" if cy else "n/a"
    print(f"engine: {eng[1]:.0f} commands/s, p99 {eng[2][1]:.2f} us, {ratio}x cython-orderbook")


if __name__ == "__main__":
    main()
