"""The API process's one Redis pub/sub connection for live subscriptions, fanned out to any
number of subscribers, each with a bounded queue of its own.

One Redis subscription per channel per process, reference counted: the first subscriber of
a channel subscribes, the last one to leave unsubscribes (``async with hub.listen(...)``).
A message is decoded once and the same list is queued for every subscriber. A subscriber
whose queue is full is marked ``lagged`` and its queue dropped: it resynchronises (a fresh
snapshot) and never slows the others, nor the matcher.

Market channels chain by sequence number (workers.feed): a batch whose ``prev`` is past the
last one seen (messages lost while Redis reconnected) is repaired from the market's stream
before it is delivered, or, when the stream no longer holds it, every subscriber of that
market is told to resynchronise. After a reconnection the hub catches every market channel
up from its stream the same way (private channels, having no stream, resynchronise): a
subscriber never goes silent behind a lost message. ``broadcaster`` is not used: its queues
are unbounded and it hides the per-channel continuity this needs.
"""

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import orjson
import redis.asyncio as aioredis

from workers.feed import STREAM_MAXLEN, market_of, stream_key

logger = logging.getLogger("predmarket.fanout")

QUEUE_SIZE = 1_000
"""Batches a subscriber may have waiting before it is declared lagged."""
SUBSCRIBE_WAIT = 5.0
RECONNECT_DELAY = 0.5
_OPENER = "feed-hub"  # a channel nobody publishes on: keeps the connection open

Batch = list[dict[str, Any]]


class Subscriber:
    """One subscriber's bounded queue of batches."""

    __slots__ = ("_wakeup", "lagged", "limit", "queue")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.queue: deque[Batch] = deque()
        self.lagged = False
        self._wakeup = asyncio.Event()

    def put(self, batch: Batch) -> None:
        if self.lagged:
            return
        if len(self.queue) >= self.limit:
            self.lagged = True
            self.queue.clear()
        else:
            self.queue.append(batch)
        self._wakeup.set()

    def mark_lagged(self) -> None:
        self.lagged = True
        self.queue.clear()
        self._wakeup.set()

    async def next(self, seconds: float) -> Batch | None:
        """The next batch, or None after `seconds` without one (or when lagged:
        the caller checks ``lagged`` and then calls ``recover``)."""
        if not self.queue and not self.lagged:
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await self._wakeup.wait()
        if self.lagged or not self.queue:
            return None
        return self.queue.popleft()

    def recover(self) -> None:
        """Start over after a resynchronisation: queue empty, taking messages again."""
        self.lagged = False
        self.queue.clear()


class FeedHub:
    def __init__(self, redis: "aioredis.Redis", queue_size: int = QUEUE_SIZE) -> None:
        self.redis = redis
        self.queue_size = queue_size
        self.subscribers: dict[str, set[Subscriber]] = {}
        self._confirmed: dict[str, asyncio.Event] = {}
        self._last: dict[str, int] = {}  # market channel -> last batch seq delivered
        self._pubsub: aioredis.client.PubSub | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        self._pubsub = self.redis.pubsub()
        try:
            async with asyncio.timeout(SUBSCRIBE_WAIT):
                await self._pubsub.subscribe(_OPENER)
        except Exception as exc:  # Redis down: the reader retries; subscribers wait
            logger.warning("feed hub: %r; retrying", exc)
        self._task = asyncio.create_task(self._run(), name="feed hub")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for subscribers in self.subscribers.values():
            for subscriber in subscribers:
                subscriber.mark_lagged()
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            await pubsub.aclose()  # type: ignore[no-untyped-call]

    def count(self) -> int:
        """Subscribers attached now, over every channel."""
        return sum(len(s) for s in self.subscribers.values())

    @contextlib.asynccontextmanager
    async def listen(self, *channels: str) -> AsyncIterator[Subscriber]:
        """A subscriber of `channels` until the block ends. Once inside, every message
        published on them reaches it (the Redis subscriptions are confirmed)."""
        pubsub = self._pubsub
        if pubsub is None:
            raise RuntimeError("the feed hub is not started")
        subscriber = Subscriber(self.queue_size)
        waits: list[asyncio.Event] = []
        try:
            async with self._lock:
                for channel in channels:
                    self.subscribers.setdefault(channel, set()).add(subscriber)
                    confirmed = self._confirmed.get(channel)
                    if confirmed is None:
                        confirmed = self._confirmed[channel] = asyncio.Event()
                        await pubsub.subscribe(channel)
                    waits.append(confirmed)
            async with asyncio.timeout(SUBSCRIBE_WAIT):
                for confirmed in waits:
                    await confirmed.wait()
            yield subscriber
        finally:
            async with self._lock:
                for channel in channels:
                    await self._leave(channel, subscriber)

    async def _leave(self, channel: str, subscriber: Subscriber) -> None:
        subscribers = self.subscribers.get(channel)
        if subscribers is None:
            return
        subscribers.discard(subscriber)
        if subscribers:
            return
        del self.subscribers[channel]
        self._confirmed.pop(channel, None)
        self._last.pop(channel, None)
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.unsubscribe(channel)

    async def replay(self, market_id: int, after_seq: int) -> list[Batch] | None:
        """The batches of the market's stream after `after_seq`, in order; None when the
        stream no longer holds all of them (the caller must resynchronise)."""
        entries: list[tuple[bytes, dict[bytes, bytes]]] = await self.redis.xrange(  # type: ignore[assignment]
            stream_key(market_id), min=f"({after_seq}-0", max="+", count=STREAM_MAXLEN
        )
        batches: list[Batch] = []
        expected = None
        for _, fields in entries:
            batch: Batch = orjson.loads(fields[b"d"])
            header = batch[0]
            if expected is None:
                if header["prev"] > after_seq:
                    return None
            elif header["prev"] != expected:
                return None
            expected = header["seq"]
            batches.append(batch)
        if not batches:
            newest: list[tuple[bytes, Any]] = await self.redis.xrevrange(  # type: ignore[assignment]
                stream_key(market_id), count=1
            )
            if newest and int(newest[0][0].split(b"-")[0]) != after_seq:
                return None  # the stream is behind the client's seq: it lost batches
        return batches

    # ------------------------------------------------------------------ the reader

    async def _run(self) -> None:
        pubsub = self._pubsub
        assert pubsub is not None
        while True:
            try:
                if pubsub.connection is None:
                    await pubsub.subscribe(_OPENER)
                message = await pubsub.get_message(timeout=None)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("feed hub: %r; reconnecting", exc)
                await asyncio.sleep(RECONNECT_DELAY)
                continue
            if message is None:
                continue
            kind = message["type"]
            channel = message["channel"]
            channel = channel.decode() if isinstance(channel, bytes) else str(channel)
            if kind == "subscribe":
                confirmed = self._confirmed.get(channel)
                if confirmed is None:
                    continue
                if confirmed.is_set():  # subscribed again after a reconnection
                    try:
                        await self._resubscribed(channel)
                    except Exception:
                        logger.exception("feed hub: catching up %s failed; resync", channel)
                        self._lag(channel)
                confirmed.set()
            elif kind == "message":
                try:
                    await self._deliver(channel, message["data"])
                except Exception:
                    logger.exception("feed hub: delivering on %s failed", channel)

    async def _resubscribed(self, channel: str) -> None:
        """After a reconnection: what was published on `channel` while the hub was not
        subscribed is lost from pub/sub. A market channel's batches are caught up from its
        stream (messages published from now on wait behind this); a channel with no stream,
        or with nothing delivered yet to chain from, makes its subscribers resynchronise."""
        last = self._last.get(channel)
        market = market_of(channel)
        if market is None or last is None:
            logger.warning("feed hub: %s resubscribed; its subscribers resync", channel)
            self._lag(channel)
            return
        missed = await self.replay(market, last)
        if missed is None:
            logger.warning("feed hub: %s lost batches after %s; resync", channel, last)
            self._lag(channel)
            return
        if missed:
            self._last[channel] = missed[-1][0]["seq"]
            self._put(channel, missed)

    def _lag(self, channel: str) -> None:
        """Every subscriber of `channel` resynchronises; the sequence chain starts over."""
        self._last.pop(channel, None)
        for subscriber in self.subscribers.get(channel, ()):
            subscriber.mark_lagged()

    def _put(self, channel: str, batches: list[Batch]) -> None:
        for subscriber in list(self.subscribers.get(channel, ())):
            for item in batches:
                subscriber.put(item)

    async def _deliver(self, channel: str, data: bytes) -> None:
        subscribers = self.subscribers.get(channel)
        if not subscribers:
            return
        batch: Batch = orjson.loads(data)
        batches = [batch]
        header = batch[0] if batch else {}
        if header.get("type") == "batch":
            last = self._last.get(channel)
            if last is not None and header["seq"] <= last:
                return  # already delivered (at least once upstream)
            if last is not None and header["prev"] > last:
                missed = await self.replay(int(header["market"]), last)
                if missed is None:
                    logger.warning("feed hub: %s lost batches after %s; resync", channel, last)
                    self._lag(channel)
                    self._last[channel] = header["seq"]
                    return
                batches = [b for b in missed if b[0]["seq"] <= header["seq"]]
                if not batches or batches[-1][0]["seq"] != header["seq"]:
                    batches.append(batch)
            self._last[channel] = header["seq"]
        self._put(channel, batches)
