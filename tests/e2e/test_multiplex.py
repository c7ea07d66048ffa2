"""Multiplexed public subscriptions (schema.multiplex): sockets sharing a document and its
variables get the same bytes from one execution per event; other variables, another group."""

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
import websockets

from db.markets import create_market
from db.models import Market
from schema import multiplex
from schema.frames import FrameWriter
from schema.multiplex import MULTIPLEXER, Group
from tests.api.factories import Member, gql
from tests.api.test_order_entry import PLACE_MANY
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
            assert isinstance(frame, str)  # graphql-transport-ws messages are text frames
            raw = frame.encode()
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
        # written straight to the sockets (schema.frames), not one ASGI send per frame
        assert all(isinstance(m.writer, FrameWriter) for m in group.members)
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


async def _cross(live: Live, buyer: Member, seller: Member, market: str, pairs: int) -> None:  # noqa: F811
    """`pairs` trades of 1 at 50: `buyer` bids YES, `seller` bids NO, one placeOrders each."""
    for who, outcome in ((buyer, "YES"), (seller, "NO")):
        order = {"marketId": market, "side": "BUY", "outcome": outcome, "price": 50}
        inputs = [order | {"quantity": 1}] * pairs
        placed = await gql(live.http, PLACE_MANY, {"inputs": inputs}, who.headers)
        assert placed["placeOrders"]["__typename"] == "OrdersPlaced", placed


async def _events(ws: Any, until: Any) -> list[dict[str, Any]]:
    """The `trades` events a socket reads (heartbeats skipped) until `until(events)`."""
    events: list[dict[str, Any]] = []
    async with asyncio.timeout(30):
        while not until(events):
            message = orjson.loads(await ws.recv())
            event = message["payload"]["data"]["trades"]
            if event["__typename"] != "Heartbeat":
                events.append(event)
    return events


async def test_a_socket_that_does_not_read_is_cut_loose_and_the_others_get_everything(
    live: Live,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(multiplex, "OUTBOX_LIMIT", 5)
    market = await live.market()
    ada, bob = await live.trader("ada", 100_000), await live.trader("bob", 100_000)
    ws_url = live.stack.url.replace("http://", "ws://") + "/graphql"
    host, port = live.stack.url.removeprefix("http://").split(":")
    # The slow client: small kernel buffers, and its library stops reading from the socket
    # once one message waits unread (max_queue=1).
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.setblocking(False)
    await asyncio.get_running_loop().sock_connect(raw, (host, int(port)))
    subscribe = {"query": TRADES_SUB, "variables": {"m": market}}
    async with (
        websockets.connect(ws_url, sock=raw, subprotocols=[PROTOCOL], max_queue=1) as slow,
        raw_socket(live.stack.url, {"m": market}) as fast,
    ):
        await slow.send(orjson.dumps({"type": "connection_init", "payload": {}}).decode())
        assert orjson.loads(await slow.recv())["type"] == "connection_ack"
        await slow.send(
            orjson.dumps({"id": "1", "type": "subscribe", "payload": subscribe}).decode()
        )
        group = await _group({"m": market}, 2)
        (member,) = [
            m
            for m in group.members
            if m.writer is not None
            and m.writer.transport.get_extra_info("peername")[1] == raw.getsockname()[1]
        ]
        assert member.writer is not None
        member.writer.transport.set_write_buffer_limits(high=1024)
        server_side = member.writer.transport.get_extra_info("socket")
        server_side.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)

        rounds, pairs = 6, 40
        for _ in range(rounds):
            await _cross(live, ada, bob, market, pairs)
        everything = await _events(fast, lambda got: len(got) >= rounds * pairs)
        assert [e["__typename"] for e in everything] == ["MarketTrade"] * rounds * pairs
        seqs = [e["seq"] for e in everything]
        assert seqs == sorted(set(seqs))  # every trade, in order, once
        assert member.lagged or not member.writer.ready  # the slow one is still behind

        await _cross(live, ada, bob, market, 1)  # a trade after the slow one overflowed
        (last,) = await _events(fast, lambda got: len(got) >= 1)
        got = await _events(slow, lambda got: bool(got) and got[-1].get("seq") == last["seq"])
        kinds = [e["__typename"] for e in got]
        assert "ResyncRequired" in kinds  # it is told it lost events...
        assert kinds.count("MarketTrade") < rounds * pairs + 1  # ...which it did
        after = kinds.index("ResyncRequired")
        assert kinds[after + 1 :] == ["MarketTrade"] * (len(kinds) - after - 1)  # then live

    async with asyncio.timeout(5):  # both gone: the group is gone
        while MULTIPLEXER.groups:  # noqa: ASYNC110 (no event to wait on)
            await asyncio.sleep(0.02)
