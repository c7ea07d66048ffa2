"""The feed hub alone, against real Redis: one subscription per channel for the process,
the same batch to every subscriber, a slow one cut loose without slowing the others, and
a lost batch repaired from the market's stream."""

import asyncio
from collections.abc import AsyncIterator

import orjson
import pytest

from workers.connections import Connections
from workers.fanout import FeedHub
from workers.feed import market_channel, stream_key


@pytest.fixture
async def hub(connections: Connections) -> AsyncIterator[FeedHub]:
    feed = FeedHub(connections.redis, queue_size=4)
    await feed.start()
    try:
        yield feed
    finally:
        await feed.stop()


def _batch(market: int, prev: int, seq: int) -> bytes:
    header = {"type": "batch", "market": market, "prev": prev, "seq": seq, "ts": 1}
    return orjson.dumps([header])


async def test_a_slow_subscriber_is_cut_loose_and_the_others_get_everything(
    hub: FeedHub, connections: Connections
) -> None:
    redis = connections.redis
    channel = market_channel(7)
    async with hub.listen(channel) as fast, hub.listen(channel) as slow:
        assert dict(await redis.pubsub_numsub(channel)) == {channel.encode(): 1}
        got = []
        for seq in range(1, 11):
            await redis.publish(channel, _batch(7, seq - 1, seq))
            batch = await fast.next(5)
            assert batch is not None
            got.append(batch[0]["seq"])
        assert got == list(range(1, 11))
        assert slow.lagged  # never read: its queue overflowed and was dropped
        assert await slow.next(0.01) is None
        slow.recover()
        await redis.publish(channel, _batch(7, 10, 11))
        again = await slow.next(5)
        assert again is not None
        assert again[0]["seq"] == 11
    assert hub.count() == 0
    assert dict(await redis.pubsub_numsub(channel)) == {channel.encode(): 0}


async def test_a_lost_batch_is_replayed_from_the_stream(
    hub: FeedHub, connections: Connections
) -> None:
    redis = connections.redis
    channel = market_channel(8)
    async with hub.listen(channel) as subscriber:
        await redis.publish(channel, _batch(8, 0, 3))
        # seq 5 reached the stream but its pub/sub message was lost
        await redis.xadd(stream_key(8), {"prev": 3, "d": _batch(8, 3, 5)}, id="5-0")
        await redis.xadd(stream_key(8), {"prev": 5, "d": _batch(8, 5, 9)}, id="9-0")
        await redis.publish(channel, _batch(8, 5, 9))
        seqs = []
        for _ in range(3):
            batch = await asyncio.wait_for(subscriber.next(5), 6)
            assert batch is not None
            seqs.append(batch[0]["seq"])
        assert seqs == [3, 5, 9]
        await redis.publish(channel, _batch(8, 9, 12))
        await redis.publish(channel, _batch(8, 20, 25))  # lost, and not in the stream either
        batch = await subscriber.next(5)
        assert batch is not None
        assert batch[0]["seq"] == 12
        assert await subscriber.next(1) is None
        assert subscriber.lagged
