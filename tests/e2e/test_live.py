"""The live feed end to end: a real matcher (in process, topics of its own) publishes each
committed batch to Redis; the messages chain by sequence number, the stream replays them,
and the book deltas applied to a snapshot give the next snapshot."""

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
import redis.asyncio as aioredis
import websockets

from db.markets import create_market
from db.money import add_cash
from resolvers import subscriptions
from tests.api.factories import Member, gql, member
from tests.e2e.conftest import Stack
from tests.workers.test_matcher import Exchange, exchange  # noqa: F401
from workers.books import read_books
from workers.feed import market_channel, stream_key, user_channel

PROTOCOL = websockets.Subprotocol("graphql-transport-ws")


async def _collect(pubsub: aioredis.client.PubSub, quiet: float = 1.0) -> list[Any]:
    """(channel, list) published on the subscribed channels, until none came for `quiet`."""
    got: list[Any] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + quiet
    while loop.time() < deadline:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
        if message is not None:
            got.append((message["channel"].decode(), orjson.loads(message["data"])))
            deadline = loop.time() + quiet
    return got


def _apply(book: dict[str, dict[int, int]], items: list[dict[str, Any]]) -> None:
    for item in items:
        if item["type"] == "book":
            side = book[item["side"]]
            if item["size"]:
                side[item["price"]] = item["size"]
            else:
                side.pop(item["price"], None)


async def test_batches_are_published_chained_and_stored_for_replay(exchange: Exchange) -> None:  # noqa: F811
    redis = exchange.connections.redis
    market = exchange.market
    ada = await exchange.user("ada")
    bob = await exchange.user("bob")
    pubsub = redis.pubsub()
    await pubsub.subscribe(market_channel(market), user_channel(ada), user_channel(bob))
    try:
        first = await exchange.order(ada, "BUY", "YES", 40, 10)
        await exchange.until_applied(first.command_id)
        second = await exchange.order(ada, "BUY", "YES", 42, 5)
        taker = await exchange.order(bob, "BUY", "NO", 60, 8)  # takes 5 at 42, 3 at 40
        await exchange.until_applied(second.command_id, taker.command_id)
        got = await _collect(pubsub)
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]

    batches = [items for channel, items in got if channel == market_channel(market)]
    assert [b[0]["type"] for b in batches] == ["batch"] * len(batches)
    assert batches[0][0]["prev"] == 0
    for before, after in itertools.pairwise(batches):
        assert after[0]["prev"] == before[0]["seq"]  # no gap between batches
    for batch in batches:
        seqs = [m["seq"] for m in batch[1:]]
        assert seqs == sorted(seqs)
        assert all(batch[0]["prev"] < s <= batch[0]["seq"] for s in seqs)
    trades = [m for b in batches for m in b if m["type"] == "trade"]
    assert [(t["price"], t["qty"], t["aggressor"]) for t in trades] == [
        (42, 5, "ASK"),
        (40, 3, "ASK"),
    ]
    ticker = batches[-1][-1]
    assert ticker["type"] == "ticker"
    assert (ticker["last"], ticker["bid"], ticker["ask"]) == (40, 40, None)
    assert (ticker["volume"], ticker["volume24h"]) == (8, 8)

    book: dict[str, dict[int, int]] = {"BID": {}, "ASK": {}}
    for batch in batches:
        _apply(book, batch)
    snapshot = (await read_books(redis, [market]))[market]
    assert snapshot.seq == batches[-1][0]["seq"]
    assert sorted(book["BID"].items(), reverse=True) == snapshot.bids
    assert sorted(book["ASK"].items()) == snapshot.asks

    bob_messages = [m for channel, items in got if channel == user_channel(bob) for m in items]
    fills = [m for m in bob_messages if m["type"] == "fill"]
    assert [(f["role"], f["outcome"], f["price"], f["qty"]) for f in fills] == [
        ("TAKER", "NO", 58, 5),
        ("TAKER", "NO", 60, 3),
    ]
    account = [m for m in bob_messages if m["type"] == "account"][-1]
    assert (account["available"], account["reserved"]) == (10_000 - 8 * 60 + 2 * 5, 0)
    orders = [m for m in bob_messages if m["type"] == "order"]
    assert orders[-1]["status"] == "FILLED"
    ada_messages = [m for channel, items in got if channel == user_channel(ada) for m in items]
    assert {m["id"] for m in ada_messages if m["type"] == "order"} == {
        first.order_id,
        second.order_id,
    }
    assert all(m.get("order") != taker.order_id for m in ada_messages)

    stored: list[tuple[bytes, dict[bytes, bytes]]] = await redis.xrange(  # type: ignore[assignment]
        stream_key(market)
    )
    assert [int(entry_id.split(b"-")[0]) for entry_id, _ in stored] == [
        b[0]["seq"] for b in batches
    ]
    assert [orjson.loads(fields[b"d"]) for _, fields in stored] == batches


# ---------------------------------------------------------------- over WebSocket


class Socket:
    """A graphql-transport-ws client: subscriptions by id, their payloads in order."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws
        self.inbox: dict[str, list[dict[str, Any]]] = {}
        self.done: set[str] = set()
        self._ids = itertools.count(1)

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None) -> str:
        op = str(next(self._ids))
        self.inbox[op] = []
        message = {"query": query, "variables": variables or {}}
        await self.ws.send(
            orjson.dumps({"id": op, "type": "subscribe", "payload": message}).decode()
        )
        return op

    async def _pump(self) -> None:
        message = orjson.loads(await self.ws.recv())
        if message["type"] == "next":
            assert "errors" not in message["payload"], message
            data = message["payload"]["data"]
            self.inbox[message["id"]].append(next(iter(data.values())))
        elif message["type"] in ("complete", "error"):
            self.done.add(message["id"])
        elif message["type"] == "ping":
            await self.ws.send(orjson.dumps({"type": "pong"}).decode())

    async def until(
        self, op: str, done: Callable[[list[dict[str, Any]]], bool], seconds: float = 15
    ) -> list[dict[str, Any]]:
        """The payloads of `op` once `done` says they are enough (not heartbeats)."""
        async with asyncio.timeout(seconds):
            while not done(self.events(op)):
                await self._pump()
        return self.events(op)

    def events(self, op: str) -> list[dict[str, Any]]:
        return [e for e in self.inbox[op] if e["__typename"] != "Heartbeat"]


@contextlib.asynccontextmanager
async def socket(url: str, payload: dict[str, Any] | None = None) -> AsyncIterator[Socket]:
    ws_url = url.replace("http://", "ws://") + "/graphql"
    async with websockets.connect(ws_url, subprotocols=[PROTOCOL]) as ws:
        await ws.send(orjson.dumps({"type": "connection_init", "payload": payload or {}}).decode())
        assert orjson.loads(await ws.recv())["type"] == "connection_ack"
        yield Socket(ws)


def bearer(who: Member) -> dict[str, str]:
    return {"Authorization": f"Bearer {who.token}"}


BOOK_SUB = """
subscription($m: ID!, $depth: Int, $view: BookView, $after: Int) {
  orderBook(marketId: $m, depth: $depth, view: $view, afterSeq: $after) {
    __typename
    ... on OrderBookSnapshot { seq bids { price quantity } asks { price quantity } }
    ... on BookUpdate { prevSeq seq changes { seq side price quantity } }
    ... on Heartbeat { seq }
    ... on ResyncRequired { seq reason }
    ... on Error { code message }
  }
}"""
TRADES_SUB = """subscription($m: ID!) { trades(marketId: $m) { __typename
  ... on MarketTrade { seq yesPrice quantity kind aggressor } ... on Heartbeat { seq } } }"""
TICKER_SUB = """subscription($ms: [ID!]!) { ticker(marketIds: $ms) { __typename
  ... on TickerUpdate { marketId seq lastPrice bestBid bestAsk mid volume volume24h } } }"""
FILLS_SUB = """subscription { myFills { __typename
  ... on Fill { seq orderId role side outcome price quantity }
  ... on Error { code message } } }"""
ORDERS_SUB = """subscription { myOrders { __typename
  ... on OrderUpdate { orderId seq status filled remaining } ... on Error { code } } }"""
ACCOUNT_SUB = """subscription { myAccount { __typename
  ... on AccountUpdate { seq available reserved total } ... on Error { code } } }"""
PLACE = """mutation($input: PlaceOrderInput!) { placeOrder(input: $input) {
  __typename ... on OrderPlaced { order { id status } } } }"""
BOOK = """query($m: ID!, $depth: Int, $view: BookView) {
  orderBook(marketId: $m, depth: $depth, view: $view) {
    ... on OrderBook { seq bids { price quantity } asks { price quantity } } } }"""


@dataclass
class Live:
    stack: Stack
    http: httpx.AsyncClient

    async def trader(self, name: str, cash: int = 10_000) -> Member:
        who = await member(self.stack.connections, name)
        async with self.stack.connections.sessions() as session:
            await add_cash(session, who.id, cash)
            await session.commit()
        return who

    async def market(self) -> str:
        async with self.stack.connections.sessions() as session:
            admin = await member(self.stack.connections, "admin")
            row = await create_market(
                session,
                title="Will it rain?",
                description="",
                rules="",
                image_url=None,
                category="weather",
                closes_at=datetime.now(UTC) + timedelta(days=7),
                created_by=admin.id,
            )
            await session.commit()
        return str(row.id)

    async def place(
        self, who: Member, market: str, side: str, outcome: str, price: int, qty: int
    ) -> str:
        given = {"marketId": market, "side": side, "outcome": outcome, "price": price}
        data = await gql(self.http, PLACE, {"input": given | {"quantity": qty}}, who.headers)
        placed = data["placeOrder"]
        assert placed["__typename"] == "OrderPlaced", placed
        assert placed["order"]["status"] != "PENDING"
        order_id: str = placed["order"]["id"]
        return order_id

    async def book(self, market: str, depth: int = 10, view: str = "YES") -> dict[str, Any]:
        found: dict[str, Any] = (
            await gql(self.http, BOOK, {"m": market, "depth": depth, "view": view})
        )["orderBook"]
        return found


@pytest.fixture
async def live(clean_stack: Stack) -> AsyncIterator[Live]:
    async with httpx.AsyncClient(base_url=clean_stack.url, timeout=10) as client:
        yield Live(clean_stack, client)


def apply_updates(
    start: dict[str, Any], updates: list[dict[str, Any]], depth: int
) -> dict[str, Any]:
    """A client's book: the snapshot (or resumed book), each update applied in order, gap
    checked, then the best `depth` levels a side."""
    bids = {level["price"]: level["quantity"] for level in start["bids"]}
    asks = {level["price"]: level["quantity"] for level in start["asks"]}
    seq = start["seq"]
    for update in updates:
        assert update["prevSeq"] == seq, "a gap in the book updates"
        assert [c["seq"] for c in update["changes"]] == sorted(c["seq"] for c in update["changes"])
        for change in update["changes"]:
            side = bids if change["side"] == "BID" else asks
            if change["quantity"]:
                side[change["price"]] = change["quantity"]
            else:
                side.pop(change["price"], None)
        seq = update["seq"]
    return {
        "seq": seq,
        "bids": [{"price": p, "quantity": q} for p, q in sorted(bids.items(), reverse=True)][
            :depth
        ],
        "asks": [{"price": p, "quantity": q} for p, q in sorted(asks.items())][:depth],
    }


async def test_book_trades_ticker_and_fills_arrive_in_order(live: Live) -> None:
    market = await live.market()
    ada, bob, eve = [await live.trader(n) for n in ("ada", "bob", "eve")]
    async with (
        socket(live.stack.url) as public,
        socket(live.stack.url, bearer(ada)) as ada_ws,
        socket(live.stack.url, bearer(bob)) as bob_ws,
        socket(live.stack.url, {"authorization": f"Bearer {eve.token}"}) as eve_ws,
    ):
        book = await public.subscribe(BOOK_SUB, {"m": market, "depth": 2})
        no_book = await public.subscribe(BOOK_SUB, {"m": market, "depth": 2, "view": "NO"})
        trades = await public.subscribe(TRADES_SUB, {"m": market})
        ticker = await public.subscribe(TICKER_SUB, {"ms": [market]})
        ada_fills = await ada_ws.subscribe(FILLS_SUB)
        ada_orders = await ada_ws.subscribe(ORDERS_SUB)
        bob_fills = await bob_ws.subscribe(FILLS_SUB)
        bob_account = await bob_ws.subscribe(ACCOUNT_SUB)
        eve_fills = await eve_ws.subscribe(FILLS_SUB)
        await public.until(book, lambda e: len(e) >= 1)
        await public.until(no_book, lambda e: len(e) >= 1)
        await asyncio.sleep(0.2)  # the private subscriptions are attached
        first = await live.place(ada, market, "BUY", "YES", 40, 10)
        second = await live.place(ada, market, "BUY", "YES", 42, 5)
        await live.place(ada, market, "BUY", "YES", 38, 1)  # below depth 2
        await live.place(bob, market, "BUY", "NO", 60, 8)  # takes 5 at 42, 3 at 40
        fresh, fresh_no = await live.book(market, 2), await live.book(market, 2, "NO")

        events = await public.until(book, lambda e: e[-1]["seq"] >= fresh["seq"])
        assert events[0]["__typename"] == "OrderBookSnapshot"
        assert events[0]["seq"] == 0
        assert apply_updates(events[0], events[1:], 2) == fresh
        no_events = await public.until(no_book, lambda e: e[-1]["seq"] >= fresh["seq"])
        assert apply_updates(no_events[0], no_events[1:], 2) == fresh_no

        traded = await public.until(trades, lambda e: len(e) >= 2)
        assert [(t["yesPrice"], t["quantity"], t["aggressor"]) for t in traded] == [
            (42, 5, "ASK"),
            (40, 3, "ASK"),
        ]
        assert traded[0]["seq"] < traded[1]["seq"]
        figures = await public.until(ticker, lambda e: bool(e) and e[-1]["volume"] == 8)
        assert figures[-1]["volume24h"] == 8
        assert [f["seq"] for f in figures] == sorted({f["seq"] for f in figures})
        assert (figures[-1]["lastPrice"], figures[-1]["bestBid"], figures[-1]["bestAsk"]) == (
            40,
            40,
            None,
        )

        fills = await ada_ws.until(ada_fills, lambda e: len(e) >= 2)
        assert [(f["orderId"], f["role"], f["price"], f["quantity"]) for f in fills] == [
            (second, "MAKER", 42, 5),
            (first, "MAKER", 40, 3),
        ]
        taken = await bob_ws.until(bob_fills, lambda e: len(e) >= 2)
        assert [(f["role"], f["outcome"], f["price"], f["quantity"]) for f in taken] == [
            ("TAKER", "NO", 58, 5),
            ("TAKER", "NO", 60, 3),
        ]
        orders = await ada_ws.until(ada_orders, lambda e: len(e) >= 5)
        assert {o["orderId"] for o in orders} <= {first, second, str(int(second) + 1)}
        account = await bob_ws.until(bob_account, lambda e: bool(e))
        assert (account[-1]["available"], account[-1]["reserved"]) == (10_000 - 480 + 10, 0)
        await asyncio.sleep(0.3)
        assert eve_ws.events(eve_fills) == []  # another user's fills never reach her


async def test_an_anonymous_socket_cannot_subscribe_to_private_data(live: Live) -> None:
    async with socket(live.stack.url) as anonymous:
        op = await anonymous.subscribe(FILLS_SUB)
        refused = await anonymous.until(op, lambda e: bool(e))
        assert refused == [
            {
                "__typename": "NotAuthenticated",
                "code": "NOT_AUTHENTICATED",
                "message": "Sign in, or send an API key, to do this.",
            }
        ]
    async with socket(live.stack.url, {"Authorization": "Bearer forged"}) as forged:
        op = await forged.subscribe(ORDERS_SUB)
        assert (await forged.until(op, lambda e: bool(e)))[0]["code"] == "NOT_AUTHENTICATED"


async def test_a_restarted_connection_resumes_with_after_seq(live: Live) -> None:
    market = await live.market()
    ada, bob = await live.trader("ada"), await live.trader("bob")
    async with socket(live.stack.url) as ws:
        op = await ws.subscribe(BOOK_SUB, {"m": market, "depth": 3})
        await live.place(ada, market, "BUY", "YES", 40, 10)
        await live.place(ada, market, "BUY", "YES", 41, 10)
        seen = await ws.until(op, lambda e: len(e) >= 2 and e[-1]["seq"] > 0)
    client = apply_updates(seen[0], seen[1:], 3)
    # while the client is away: levels come, go, and one below depth moves up into view
    await live.place(ada, market, "BUY", "YES", 39, 4)
    await live.place(ada, market, "BUY", "YES", 38, 2)
    await live.place(bob, market, "BUY", "NO", 59, 10)  # takes the 41 level
    await live.place(bob, market, "BUY", "NO", 55, 3)  # rests as a YES ask at 45
    fresh = await live.book(market, 3)
    # the answer came after the feed: the stream already holds the batch the book shows
    newest: Any = await live.stack.connections.redis.xrevrange(stream_key(int(market)), count=1)
    assert int(newest[0][0].split(b"-")[0]) == fresh["seq"]
    async with socket(live.stack.url) as ws:
        op = await ws.subscribe(BOOK_SUB, {"m": market, "depth": 3, "after": client["seq"]})
        resumed = await ws.until(op, lambda e: bool(e) and e[-1]["seq"] >= fresh["seq"])
    assert [e["__typename"] for e in resumed] == ["BookUpdate"]
    assert apply_updates(client, resumed, 3) == fresh


async def test_an_after_seq_the_stream_no_longer_holds_gets_a_resync(live: Live) -> None:
    market = await live.market()
    ada = await live.trader("ada")
    await live.place(ada, market, "BUY", "YES", 40, 10)
    await live.place(ada, market, "BUY", "YES", 41, 10)
    await live.stack.connections.redis.delete(stream_key(int(market)))  # trimmed away
    fresh = await live.book(market, 5)
    async with socket(live.stack.url) as ws:
        op = await ws.subscribe(BOOK_SUB, {"m": market, "depth": 5, "after": 1})
        events = await ws.until(op, lambda e: len(e) >= 2)
    assert [e["__typename"] for e in events] == ["ResyncRequired", "OrderBookSnapshot"]
    snapshot = events[1]
    assert snapshot == {"__typename": "OrderBookSnapshot", **fresh}


async def test_a_quiet_feed_sends_heartbeats(live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(subscriptions, "HEARTBEAT_SECONDS", 0.2)
    market = await live.market()
    ada = await live.trader("ada")
    await live.place(ada, market, "BUY", "YES", 40, 10)
    seq = (await live.book(market))["seq"]
    async with socket(live.stack.url) as ws:
        op = await ws.subscribe(TRADES_SUB, {"m": market})
        async with asyncio.timeout(5):
            while len(ws.inbox[op]) < 2:
                await ws._pump()
    assert [e["__typename"] for e in ws.inbox[op]] == ["Heartbeat", "Heartbeat"]
    assert {e["seq"] for e in ws.inbox[op]} == {seq}


async def test_closed_sockets_leave_no_subscription_or_task(live: Live) -> None:
    market = await live.market()
    ada = await live.trader("ada")
    redis = live.stack.connections.redis
    channel = market_channel(int(market))
    tasks_before = len(asyncio.all_tasks())
    sockets = [socket(live.stack.url, bearer(ada)) for _ in range(5)]
    opened = [await s.__aenter__() for s in sockets]
    for ws in opened:
        op = await ws.subscribe(BOOK_SUB, {"m": market})
        await ws.subscribe(FILLS_SUB)
        await ws.until(op, lambda e: bool(e))
    # one Redis subscription per channel for the whole process
    assert dict(await redis.pubsub_numsub(channel, user_channel(ada.id))) == {
        channel.encode(): 1,
        user_channel(ada.id).encode(): 1,
    }
    for ws in opened:
        ws.ws.transport.abort()  # dead sockets: no close handshake, no `complete`
    for s in sockets:
        with contextlib.suppress(Exception):
            await s.__aexit__(None, None, None)
    async with asyncio.timeout(5):
        while any(n for _, n in await redis.pubsub_numsub(channel, user_channel(ada.id))):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        while len(asyncio.all_tasks()) > tasks_before:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
