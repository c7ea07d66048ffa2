"""Book snapshots and market stats in a real Redis: the stored format, reading back, both
views, and that an older or repeated publish never overwrites a newer one."""

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import pytest

from engine import Book, Outcome, Side, View
from workers.books import (
    BookSnapshot,
    MarketStats,
    Recount,
    book_key,
    other_view,
    publish_book,
    read_books,
    read_stats,
    stats_key,
    volume_key,
)
from workers.connections import Connections

NOW = 1_767_225_600_000  # 2026-01-01T00:00:00Z in epoch milliseconds
MINUTE = 60_000
DAY = 24 * 60 * MINUTE


def traded_book(market_id: int) -> Book:
    """Resting YES and NO orders on both sides, then a YES taker (a transfer at 45) and a NO
    taker (a mint at 40): 5 shares traded, last YES price 40.

    YES book after: bids 40x3, 38x3, 35x2 (SELL NO @65); asks 45x1, 50x6 (BUY NO @50).
    """
    book = Book(market_id)
    book.place(1, 10, Side.BUY, Outcome.YES, 40, 5)
    book.place(2, 10, Side.BUY, Outcome.YES, 38, 3)
    book.place(3, 11, Side.SELL, Outcome.YES, 45, 4)
    book.place(4, 12, Side.BUY, Outcome.NO, 50, 6)
    book.place(5, 13, Side.SELL, Outcome.NO, 65, 2)
    book.place(6, 14, Side.BUY, Outcome.YES, 46, 3)  # takes 3 of the ask at 45
    book.place(7, 15, Side.BUY, Outcome.NO, 61, 2)  # YES ask at 39: takes 2 of the bid at 40
    return book


async def test_publish_stores_the_documented_format(connections: Connections) -> None:
    redis = connections.redis
    book = traded_book(7)

    assert await publish_book(redis, book, traded_qty=5, now_ms=NOW)

    assert book_key(7) == "book:{7}"
    assert stats_key(7) == "market-stats:{7}"
    raw = await redis.get("book:{7}")
    assert raw is not None
    assert orjson.loads(raw) == {
        "seq": book.seq,
        "ts": NOW,
        "bids": [[40, 3], [38, 3], [35, 2]],
        "asks": [[45, 1], [50, 6]],
        "last": 40,
    }
    assert await redis.hgetall("market-stats:{7}") == {
        b"seq": str(book.seq).encode(),
        b"ts": str(NOW).encode(),
        b"last": b"40",
        b"bid": b"40",
        b"ask": b"45",
        b"volume": b"5",
        b"volume24h": b"5",
    }
    assert await redis.lrange("market-volume:{7}", 0, -1) == [f"{NOW // 60_000}:5".encode()]


async def test_publish_returns_the_stats_it_stored(connections: Connections) -> None:
    """The feeds' ticker carries them: the market's figures as of this batch's seq."""
    redis = connections.redis
    book = traded_book(7)
    await redis.hset(stats_key(7), mapping={"seq": 1, "volume": 10, "volume24h": 10})

    stored = await publish_book(redis, book, traded_qty=5, now_ms=NOW)

    assert stored == MarketStats(7, book.seq, NOW, 40, 40, 45, volume=15, volume_24h=15)
    assert stored == (await read_stats(redis, [7], now_ms=NOW))[7]
    assert await publish_book(redis, book, traded_qty=5, now_ms=NOW) is None  # seq stored


async def test_snapshots_and_stats_read_back_with_both_views(connections: Connections) -> None:
    redis = connections.redis
    book = traded_book(7)
    await publish_book(redis, book, traded_qty=5, now_ms=NOW)
    await publish_book(redis, Book(8), traded_qty=0, now_ms=NOW)  # seq 0, empty, no trade

    books = await read_books(redis, [7, 8, 9])
    stats = await read_stats(redis, [7, 8, 9], now_ms=NOW)

    assert set(books) == set(stats) == {7, 8}  # 9 has none
    snapshot = books[7]
    assert snapshot == BookSnapshot(
        market_id=7,
        seq=book.seq,
        ts=NOW,
        bids=[(40, 3), (38, 3), (35, 2)],
        asks=[(45, 1), (50, 6)],
        last=40,
    )
    for view in View:
        assert snapshot.depth(50, view) == book.depth(50, view)
        assert snapshot.depth(1, view) == book.depth(1, view)
        assert snapshot.best_bid(view) == book.best_bid(view)
        assert snapshot.best_ask(view) == book.best_ask(view)
        assert snapshot.mid(view) == book.mid(view)
        assert snapshot.last_price(view) == book.last(view)
    assert snapshot.depth(50, View.NO) == (
        [(55, 1), (50, 6)],
        [(60, 3), (62, 3), (65, 2)],
    )
    assert (snapshot.best_bid(View.NO), snapshot.best_ask(View.NO)) == (55, 60)
    assert snapshot.mid(View.NO) == 57.5
    assert snapshot.last_price(View.NO) == 60
    assert other_view(*other_view(snapshot.bids, snapshot.asks)) == (snapshot.bids, snapshot.asks)
    assert stats[7] == MarketStats(
        market_id=7,
        seq=book.seq,
        ts=NOW,
        last=40,
        best_bid=40,
        best_ask=45,
        volume=5,
        volume_24h=5,
    )
    assert stats[7].mid == 42.5

    empty = books[8]
    assert (empty.seq, empty.bids, empty.asks, empty.last) == (0, [], [], None)
    assert (empty.best_bid(), empty.best_ask(), empty.mid(), empty.last_price(View.NO)) == (
        None,
        None,
        None,
        None,
    )
    assert stats[8] == MarketStats(
        market_id=8,
        seq=0,
        ts=NOW,
        last=None,
        best_bid=None,
        best_ask=None,
        volume=0,
        volume_24h=0,
    )
    assert stats[8].mid is None
    assert await read_books(redis, []) == {}
    assert await read_stats(redis, []) == {}


async def test_an_older_or_repeated_seq_never_overwrites_a_newer_snapshot(
    connections: Connections,
) -> None:
    redis = connections.redis
    book = traded_book(7)
    older = Book.restore(book.snapshot())  # the same state, seq and all
    assert await publish_book(redis, book, traded_qty=5, now_ms=NOW)
    book.place(8, 16, Side.SELL, Outcome.YES, 38, 3)  # takes the bid at 40 (3 shares)
    assert await publish_book(redis, book, traded_qty=3, now_ms=NOW + 10)
    newer_book = await redis.get(book_key(7))
    newer_stats = await redis.hgetall(stats_key(7))

    # A replaced matcher's late message, then the same batch delivered again.
    assert not await publish_book(redis, older, traded_qty=5, now_ms=NOW + 20)
    assert not await publish_book(redis, book, traded_qty=3, now_ms=NOW + 30)

    assert await redis.get(book_key(7)) == newer_book
    assert await redis.hgetall(stats_key(7)) == newer_stats
    stats = (await read_stats(redis, [7]))[7]
    assert (stats.seq, stats.ts, stats.last, stats.volume) == (book.seq, NOW + 10, 40, 8)
    assert (await read_books(redis, [7]))[7].bids == [(38, 3), (35, 2)]


async def test_volume_accumulates_and_a_rebuilt_matcher_may_set_it(
    connections: Connections,
) -> None:
    redis = connections.redis
    book = Book(7)
    book.place(1, 10, Side.BUY, Outcome.YES, 50, 100)
    await publish_book(redis, book, traded_qty=0, now_ms=NOW)
    volumes = []
    for i, qty in enumerate((4, 6, 10), start=2):
        book.place(i, 11, Side.BUY, Outcome.NO, 50, qty)  # mints qty at 50
        await publish_book(redis, book, traded_qty=qty, now_ms=NOW + i)
        volumes.append((await read_stats(redis, [7]))[7].volume)
    assert volumes == [4, 10, 20]

    book.place(9, 11, Side.BUY, Outcome.NO, 50, 1)
    # After a rebuild, the matcher counts the market's trades in Postgres (here 27 shares,
    # 12 of them in the last 24 hours) and replaces what Redis counted.
    minute = NOW // MINUTE
    recount = Recount(total=27, minutes=[(minute - 1439, 5), (minute - 2, 7)])
    await publish_book(redis, book, traded_qty=1, now_ms=NOW + 9, recount=recount)
    stats = (await read_stats(redis, [7], now_ms=NOW + 9))[7]
    assert (stats.volume, stats.volume_24h) == (27, 12)
    assert await redis.lrange(volume_key(7), 0, -1) == [
        f"{minute - 1439}:5".encode(),
        f"{minute - 2}:7".encode(),
    ]
    # a minute later the oldest bucket is out of the window
    stats = (await read_stats(redis, [7], now_ms=NOW + MINUTE))[7]
    assert (stats.volume, stats.volume_24h) == (27, 7)


async def test_the_24_hour_volume_slides_by_the_minute_even_without_trades(
    connections: Connections,
) -> None:
    redis = connections.redis
    book = Book(7)
    book.place(1, 10, Side.BUY, Outcome.YES, 50, 100)
    seen: list[tuple[int, int]] = []

    async def trade(qty: int, at_ms: int) -> None:
        book.place(book.seq + 100, 11, Side.BUY, Outcome.NO, 50, qty)  # mints qty at 50
        assert await publish_book(redis, book, traded_qty=qty, now_ms=at_ms)

    async def figures(at_ms: int) -> None:
        stats = (await read_stats(redis, [7], now_ms=at_ms))[7]
        seen.append((stats.volume, stats.volume_24h))

    await trade(5, NOW)
    await trade(2, NOW + 59_999)  # the same minute
    await trade(3, NOW + 30 * MINUTE)
    await trade(4, NOW + 30 * MINUTE - 1)  # a clock a little behind: the newest bucket
    await figures(NOW + DAY - 1)  # the window still holds NOW's minute
    await figures(NOW + DAY)  # it does not any more
    await figures(NOW + DAY + 30 * MINUTE)  # a quiet day later
    assert seen == [(14, 14), (14, 7), (14, 0)]
    assert await redis.lrange(volume_key(7), 0, -1) == []

    # A trade after the quiet day starts the window again; reading at an older time (a
    # reader's clock behind the matcher's) counts what the window holds.
    await trade(6, NOW + 2 * DAY)
    await figures(NOW + 2 * DAY + 5)
    await figures(NOW + DAY)
    assert seen[3:] == [(20, 6), (20, 6)]
    assert await redis.hget(stats_key(7), "volume24h") == b"6"


async def test_stats_lost_without_their_buckets_start_the_window_again(
    connections: Connections,
) -> None:
    redis = connections.redis
    book = Book(7)
    book.place(1, 10, Side.BUY, Outcome.YES, 50, 100)
    book.place(2, 11, Side.BUY, Outcome.NO, 50, 5)  # mints 5
    await publish_book(redis, book, traded_qty=5, now_ms=NOW)
    await redis.delete(stats_key(7))  # evicted, say; the buckets are still there
    book.place(3, 11, Side.BUY, Outcome.NO, 50, 2)  # mints 2
    await publish_book(redis, book, traded_qty=2, now_ms=NOW + MINUTE)

    stats = (await read_stats(redis, [7], now_ms=NOW + DAY + MINUTE - 1))[7]
    assert (stats.volume, stats.volume_24h) == (2, 2)  # counted from the loss, never below
    stats = (await read_stats(redis, [7], now_ms=NOW + DAY + MINUTE))[7]
    assert (stats.volume, stats.volume_24h) == (2, 0)


async def test_reading_stats_loads_its_script_into_a_redis_that_lost_it(
    connections: Connections,
) -> None:
    redis = connections.redis
    await publish_book(redis, traded_book(7), traded_qty=5, now_ms=NOW)
    await redis.script_flush()
    stats = await read_stats(redis, [7, 8], now_ms=NOW)
    assert set(stats) == {7}
    assert (stats[7].volume, stats[7].volume_24h) == (5, 5)


async def test_a_snapshot_keeps_at_most_the_asked_depth_but_best_prices_are_exact(
    connections: Connections,
) -> None:
    redis = connections.redis
    book = Book(7)
    for i, price in enumerate(range(1, 31), start=1):  # YES bids at 1..30
        book.place(i, 10, Side.BUY, Outcome.YES, price, i)
    for i, price in enumerate(range(60, 100), start=100):  # YES asks at 60..99
        book.place(i, 11, Side.SELL, Outcome.YES, price, 1)
    await publish_book(redis, book, traded_qty=0, now_ms=NOW, depth=5)

    snapshot = (await read_books(redis, [7]))[7]
    assert snapshot.bids == [(30, 30), (29, 29), (28, 28), (27, 27), (26, 26)]
    assert snapshot.asks == [(p, 1) for p in range(60, 65)]
    assert (await read_stats(redis, [7]))[7].mid == 45.0


async def test_publish_is_one_round_trip_and_reading_books_one_mget(
    connections: Connections, monkeypatch: pytest.MonkeyPatch
) -> None:
    redis = connections.redis
    book = traded_book(7)
    await publish_book(redis, Book(7), traded_qty=0, now_ms=NOW)  # loads the script once
    sent: list[Any] = []
    send: Callable[..., Awaitable[Any]] = redis.execute_command

    async def counted(*args: Any, **options: Any) -> Any:
        sent.append(args[0])
        return await send(*args, **options)

    monkeypatch.setattr(redis, "execute_command", counted)
    await publish_book(redis, book, traded_qty=5, now_ms=NOW)
    await read_books(redis, [7, 8, 9])
    assert sent == ["EVALSHA", "MGET"]


async def test_a_negative_traded_quantity_is_refused(connections: Connections) -> None:
    with pytest.raises(ValueError, match="traded_qty"):
        await publish_book(connections.redis, Book(7), traded_qty=-1, now_ms=NOW)
    assert await read_books(connections.redis, [7]) == {}
