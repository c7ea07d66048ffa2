"""Multiplexed public subscriptions (schema.multiplex): sockets sharing a document and its
variables get the same bytes from one execution per event; other variables, another group."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import websockets

from db.markets import create_market
from db.models import Market
from schema.multiplex import MULTIPLEXER, Group
from tests.e2e.test_live import PROTOCOL, TRADES_SUB, Live, live  # noqa: F401


@contextlib.asynccontextmanager
async def raw_socket(url: str, variables: dict[str, Any]) -> AsyncIterator[Any]:
    """A graphql-transport-ws socket with one subscription (id "1") to TRADES_SUB."""
    ws_url = url.replace("http://", "ws://") + "/graphql"
    async with websockets.connect(ws_url, subprotocols=[PROTOCOL]) as ws:
        await ws.send(orjson.dumps({"type": "connection_init", "payload": {}}).decode())
        assert orjson.loads(await ws.recv())["type"] == "connection_ack"
        message = {"query": TRADES_SUB, "variables": variables}
        await ws.send(orjson.dumps({"id": "1", "type": "subscribe", "payload": message}).decode())
        yield ws


async def _group(variables: dict[str, Any], members: int) -> Group:
    key = (TRADES_SUB, None, orjson.dumps(variables, option=orjson.OPT_SORT_KEYS))
    async with asyncio.timeout(5):
        while (found := MULTIPLEXER.groups.get(key)) is None or len(found.members) < members:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    await asyncio.sleep(0.3)  # the group's execution is attached to the feed hub
    return found


async def _trades(ws: Any, count: int) -> list[bytes]:
    """The next `count` raw `next` frames carrying a MarketTrade (heartbeats skipped)."""
    got: list[bytes] = []
    async with asyncio.timeout(15):
        while len(got) < count:
            frame = await ws.recv()
            raw = frame if isinstance(frame, bytes) else frame.encode()
            if b"MarketTrade" in raw:
                got.append(raw)
    return got


async def test_same_document_and_variables_share_one_execution(live: Live) -> None:  # noqa: F811
    market = await live.market()
    async with live.stack.connections.sessions() as session:
        admin = (await session.get_one(Market, int(market))).created_by
        row = await create_market(
            session,
            title="Will it snow?",
            description="",
            rules="",
            image_url=None,
            category="weather",
            closes_at=datetime.now(UTC) + timedelta(days=7),
            created_by=admin,
        )
        await session.commit()
    other = str(row.id)
    ada, bob = await live.trader("ada"), await live.trader("bob")
    async with (
        raw_socket(live.stack.url, {"m": market}) as first,
        raw_socket(live.stack.url, {"m": market}) as second,
        raw_socket(live.stack.url, {"m": market}) as third,
        raw_socket(live.stack.url, {"m": other}) as elsewhere,
    ):
        group = await _group({"m": market}, 3)
        other_group = await _group({"m": other}, 1)
        assert group is not other_group
        before = group.executions

        await live.place(ada, market, "BUY", "YES", 40, 10)
        await live.place(bob, market, "BUY", "NO", 60, 4)  # one trade: 4 at 40
        await live.place(ada, market, "BUY", "YES", 45, 2)
        await live.place(bob, market, "BUY", "NO", 60, 2)  # one trade: 2 at 45
        await live.place(ada, other, "BUY", "YES", 30, 3)
        await live.place(bob, other, "BUY", "NO", 70, 3)  # one trade in the other market

        frames = [await _trades(ws, 2) for ws in (first, second, third)]
        assert frames[0] == frames[1] == frames[2]  # the very same bytes on every socket
        events = [orjson.loads(f)["payload"]["data"]["trades"] for f in frames[0]]
        assert [(e["yesPrice"], e["quantity"]) for e in events] == [(40, 4), (45, 2)]
        executed = group.executions - before
        heartbeats_at_most = 1  # a 5 s heartbeat may fall in between
        assert 2 <= executed <= 2 + heartbeats_at_most  # once per event, not once per socket

        (other_frame,) = await _trades(elsewhere, 1)
        other_event = orjson.loads(other_frame)["payload"]["data"]["trades"]
        assert (other_event["yesPrice"], other_event["quantity"]) == (30, 3)
        assert other_frame not in frames[0]

        resync = orjson.loads(await group.resync())  # a lagging member's event, its selection
        assert resync == {"data": {"trades": {"__typename": "ResyncRequired"}}}

    async with asyncio.timeout(5):  # the last member gone, the group is gone
        while MULTIPLEXER.groups:  # noqa: ASYNC110 (no event to wait on)
            await asyncio.sleep(0.02)
