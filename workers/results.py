"""Waiting for the matcher: one Redis subscription per process to the channel on which
matchers tell which command ids they applied, and any number of waiters on it.

A matcher can answer before the producer's acknowledgement comes back, so a waiter says
what it expects before the command is sent:

    with waiter.expect(ids) as expected:
        await send(...)
        applied = await expected.wait(seconds)
"""

import asyncio
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime

import orjson
import redis.asyncio as aioredis

from workers.commands import RESULTS_CHANNEL

logger = logging.getLogger("predmarket.results")

RECONNECT_DELAY = 0.5
SUBSCRIBE_WAIT = 5.0


@dataclass(frozen=True, slots=True)
class OrderNow:
    """An order's state as the matcher committed it (the fields a batch changes)."""

    status: str
    filled: int
    filled_cost: int
    reserved_cash: int
    reserved_shares: int
    reason: str | None
    updated_at: datetime


def _order_now(state: object) -> OrderNow | None:
    """[id, status, filled, filled_cost, reserved_cash, reserved_shares, reason, updated_at]"""
    try:
        assert isinstance(state, list)
        _, status, filled, cost, cash, shares, reason, updated = state
        return OrderNow(
            str(status),
            int(filled),
            int(cost),
            int(cash),
            int(shares),
            None if reason is None else str(reason),
            datetime.fromisoformat(updated),
        )
    except (AssertionError, ValueError, TypeError):
        return None


@dataclass(slots=True, eq=False)
class Expected:
    """Command ids a caller waits for; `seen` fills in as the matcher applies them, and
    `states` with the states of the watched `orders` that the matcher's answers carried."""

    missing: set[int]
    seen: set[int] = field(default_factory=set)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    listening: bool = True
    orders: frozenset[int] = frozenset()
    states: dict[int, OrderNow] = field(default_factory=dict)

    async def wait(self, seconds: float) -> set[int]:
        """Until every id is applied, or `seconds` at most; returns those applied."""
        if self.missing and seconds > 0 and self.listening:
            with suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await self.done.wait()
        return set(self.seen)


class ResultWaiter:
    """The process's one subscription to RESULTS_CHANNEL, shared by every waiter."""

    def __init__(self, redis: "aioredis.Redis") -> None:
        self._redis = redis
        self._expected: dict[int, list[Expected]] = {}
        self._task: asyncio.Task[None] | None = None
        self._attempted = asyncio.Event()

    async def start(self) -> None:
        """Listen in the background. Returns once the first subscription attempt is over
        (so a result published after a successful start is not missed); a Redis that cannot
        be reached is retried, and waits meanwhile just time out."""
        self._attempted = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="command results")
        with suppress(TimeoutError):
            async with asyncio.timeout(SUBSCRIBE_WAIT):
                await self._attempted.wait()

    async def stop(self) -> None:
        task, self._task = self._task, None
        try:
            if task is not None:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
        finally:
            for watching in self._expected.values():
                for expected in watching:
                    expected.listening = False
                    expected.done.set()
            self._expected.clear()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @contextmanager
    def expect(self, ids: Iterable[int], orders: Iterable[int] = ()) -> Iterator[Expected]:
        """Watch for `ids` from now until the block ends (and for the states of `orders`
        in the answers that carry those ids)."""
        expected = Expected(missing=set(ids), listening=self.running, orders=frozenset(orders))
        for command_id in expected.missing:
            self._expected.setdefault(command_id, []).append(expected)
        try:
            yield expected
        finally:
            for command_id in expected.missing:
                watching = self._expected.get(command_id)
                if watching is not None:
                    with suppress(ValueError):
                        watching.remove(expected)
                    if not watching:
                        del self._expected[command_id]

    async def wait(self, ids: Iterable[int], seconds: float) -> set[int]:
        """The ids among `ids` applied within `seconds` from now."""
        with self.expect(ids) as expected:
            return await expected.wait(seconds)

    async def _run(self) -> None:
        pubsub = self._redis.pubsub()
        try:
            while True:
                try:
                    if not pubsub.channels:
                        await pubsub.subscribe(RESULTS_CHANNEL)
                    # a lost connection is re-opened (and re-subscribed) by the next read
                    message = await pubsub.get_message(timeout=None)
                except Exception as exc:
                    self._attempted.set()
                    logger.warning("command results: %r; retrying", exc)
                    await asyncio.sleep(RECONNECT_DELAY)
                    continue
                if message is None:
                    continue
                if message["type"] == "subscribe":
                    self._attempted.set()
                elif message["type"] == "message":
                    self._deliver(message["data"])
        finally:
            await pubsub.aclose()  # type: ignore[no-untyped-call]

    def _deliver(self, data: bytes) -> None:
        """A message is a list of applied command ids, or {"ids": [...], "orders": [...]}
        with the states of the orders the batch changed (as `_order_now` reads them)."""
        try:
            ids = orjson.loads(data)
        except orjson.JSONDecodeError:
            logger.warning("command results: not JSON: %r", data[:200])
            return
        states: dict[int, object] = {}
        if isinstance(ids, dict):
            orders = ids.get("orders")
            if isinstance(orders, list):
                for state in orders:
                    if isinstance(state, list) and state and isinstance(state[0], int):
                        states[state[0]] = state
            ids = ids.get("ids")
        if not isinstance(ids, list):
            logger.warning("command results: not a list: %r", data[:200])
            return
        touched: dict[int, Expected] = {}  # by id(): each waiter's states are read once
        for command_id in ids:
            if not isinstance(command_id, int) or isinstance(command_id, bool):
                continue
            for expected in self._expected.pop(command_id, ()):
                expected.missing.discard(command_id)
                expected.seen.add(command_id)
                touched[id(expected)] = expected
        parsed: dict[int, OrderNow | None] = {}
        for expected in touched.values():
            if states and expected.orders:
                for order_id in expected.orders & states.keys():
                    if order_id not in parsed:
                        parsed[order_id] = _order_now(states[order_id])
                    now = parsed[order_id]
                    if now is not None:
                        expected.states[order_id] = now
            if not expected.missing:
                expected.done.set()
