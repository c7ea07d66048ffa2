"""The matcher's book snapshots and market stats in Redis, written after each committed batch
and read by the API.

Two keys per market, both carrying the market id as a hash tag so a Redis Cluster keeps them
in one slot (the publishing script touches both):

- ``book:{7}``: JSON ``{"seq", "ts", "bids", "asks", "last"}``, the YES book's top levels
  as ``[yes_price, size]`` pairs, best first, with the sequence number it reflects, the
  engine time in epoch milliseconds and the last traded YES price (or null). The NO view is
  derived on read: NO bids are 100 - YES asks, NO asks are 100 - YES bids.
- ``market-stats:{7}``: a hash of ``seq``, ``ts``, ``volume`` (shares traded in all),
  ``volume24h`` (shares traded in the last 24 hours) and, when there is one, ``last``,
  ``bid`` and ``ask`` (YES cents).
- ``market-volume:{7}``: the 24-hour volume's per-minute buckets, a list of ``"minute:qty"``
  (minute = engine epoch milliseconds // 60,000), oldest first. ``volume24h`` is their sum:
  a trade adds to the newest bucket; publishing and reading drop the buckets 1,440 minutes or
  more older than the current minute (and subtract them), so the window is the current minute
  and the 1,439 before it, and the figure is right even in a market that stopped trading.

Messages are at least once and a matcher may be replaced after a rebalance, so a write
whose ``seq`` is not newer than the stored one changes nothing: an older snapshot never
overwrites a newer one, and a batch published twice counts its volume once.
"""

import hashlib
import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

from engine import Book, View

MAX_DEPTH = 50
"""Levels a side kept in a snapshot, and the most ``depth`` a reader may ask for."""

WINDOW_MINUTES = 24 * 60
"""The 24-hour volume's window, in whole minutes."""

# Drops the window's buckets that are 1,440 minutes or more older than `minute`, subtracting
# them from the stats' volume24h.
_TRIM = f"""
local function trim(stats, buckets, minute)
  while true do
    local head = redis.call('LINDEX', buckets, 0)
    if not head then return end
    local at = string.find(head, ':', 1, true)
    if tonumber(string.sub(head, 1, at - 1)) > minute - {WINDOW_MINUTES} then return end
    redis.call('LPOP', buckets)
    redis.call('HINCRBY', stats, 'volume24h', -tonumber(string.sub(head, at + 1)))
  end
end
"""

# KEYS[1] book, KEYS[2] stats, KEYS[3] buckets. ARGV: seq, ts, snapshot JSON, last, bid, ask
# ('' = none), traded quantity, absolute volume ('' = add the traded quantity), then with an
# absolute volume the window's buckets as minute, qty pairs. Returns the stored volume and
# volume24h if written, 0 if not.
_PUBLISH = (
    _TRIM
    + """
local seq = tonumber(ARGV[1])
local stored = tonumber(redis.call('HGET', KEYS[2], 'seq'))
if stored and seq <= stored then
  return 0
end
if not stored then
  -- no stats (a new market, or they were lost): buckets left over would be subtracted later
  redis.call('DEL', KEYS[3])
end
local minute = math.floor(tonumber(ARGV[2]) / 60000)
redis.call('SET', KEYS[1], ARGV[3])
redis.call('HSET', KEYS[2], 'seq', ARGV[1], 'ts', ARGV[2])
local names = {'last', 'bid', 'ask'}
for i = 1, 3 do
  if ARGV[3 + i] == '' then
    redis.call('HDEL', KEYS[2], names[i])
  else
    redis.call('HSET', KEYS[2], names[i], ARGV[3 + i])
  end
end
if ARGV[8] == '' then
  local qty = tonumber(ARGV[7])
  redis.call('HINCRBY', KEYS[2], 'volume', qty)
  redis.call('HINCRBY', KEYS[2], 'volume24h', qty)
  if qty > 0 then
    local tail = redis.call('LINDEX', KEYS[3], -1)
    local at = tail and string.find(tail, ':', 1, true)
    local newest = tail and tonumber(string.sub(tail, 1, at - 1))
    if newest and newest >= minute then
      -- the same minute (or a clock behind the last publisher's): the newest bucket
      local sum = tonumber(string.sub(tail, at + 1)) + qty
      redis.call('LSET', KEYS[3], -1, string.format('%d:%d', newest, sum))
    else
      redis.call('RPUSH', KEYS[3], string.format('%d:%d', minute, qty))
    end
  end
else
  redis.call('HSET', KEYS[2], 'volume', ARGV[8])
  redis.call('DEL', KEYS[3])
  local sum = 0
  for i = 9, #ARGV, 2 do
    redis.call('RPUSH', KEYS[3], ARGV[i] .. ':' .. ARGV[i + 1])
    sum = sum + tonumber(ARGV[i + 1])
  end
  redis.call('HSET', KEYS[2], 'volume24h', string.format('%d', sum))
end
trim(KEYS[2], KEYS[3], minute)
return redis.call('HMGET', KEYS[2], 'volume', 'volume24h')
"""
)

# KEYS[1] stats, KEYS[2] buckets; ARGV[1] now in epoch milliseconds. The stats as a flat
# field, value list after dropping the buckets out of the window.
_READ = (
    _TRIM
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {}
end
trim(KEYS[1], KEYS[2], math.floor(tonumber(ARGV[1]) / 60000))
return redis.call('HGETALL', KEYS[1])
"""
)
_READ_SHA = hashlib.sha1(_READ.encode()).hexdigest()


def book_key(market_id: int) -> str:
    return f"book:{{{market_id}}}"


def stats_key(market_id: int) -> str:
    return f"market-stats:{{{market_id}}}"


def volume_key(market_id: int) -> str:
    return f"market-volume:{{{market_id}}}"


Level = tuple[int, int]
"""(price in cents, quantity in shares)."""


def other_view(bids: list[Level], asks: list[Level]) -> tuple[list[Level], list[Level]]:
    """The same book seen from the other outcome: its bids are 100 - our asks, its asks
    100 - our bids, each still best first. YES -> NO and NO -> YES alike."""
    return [(100 - p, q) for p, q in asks], [(100 - p, q) for p, q in bids]


def _in_view(yes_price: int | None, view: View) -> int | None:
    if yes_price is None or view is View.YES:
        return yes_price
    return 100 - yes_price


def _mid(bid: int | None, ask: int | None) -> float | None:
    return None if bid is None or ask is None else (bid + ask) / 2


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    """A market's YES book as the matcher last published it (top ``MAX_DEPTH`` levels)."""

    market_id: int
    seq: int
    ts: int
    """Engine time of the snapshot, epoch milliseconds."""
    bids: list[Level]
    """YES bids, highest first."""
    asks: list[Level]
    """YES asks, lowest first."""
    last: int | None
    """Last traded YES price."""

    def depth(self, n: int, view: View = View.YES) -> tuple[list[Level], list[Level]]:
        """Up to ``n`` levels a side as (bids, asks), best first, in the view's cents."""
        bids, asks = self.bids[:n], self.asks[:n]
        return (bids, asks) if view is View.YES else other_view(bids, asks)

    def best_bid(self, view: View = View.YES) -> int | None:
        if view is View.YES:
            return self.bids[0][0] if self.bids else None
        return 100 - self.asks[0][0] if self.asks else None

    def best_ask(self, view: View = View.YES) -> int | None:
        if view is View.YES:
            return self.asks[0][0] if self.asks else None
        return 100 - self.bids[0][0] if self.bids else None

    def mid(self, view: View = View.YES) -> float | None:
        """Halfway between best bid and best ask (a display figure, not a price)."""
        return _mid(self.best_bid(view), self.best_ask(view))

    def last_price(self, view: View = View.YES) -> int | None:
        return _in_view(self.last, view)


@dataclass(frozen=True, slots=True)
class MarketStats:
    """A market's ticker as the matcher last published it; prices in YES cents."""

    market_id: int
    seq: int
    ts: int
    last: int | None
    best_bid: int | None
    best_ask: int | None
    volume: int
    """Shares traded in all."""
    volume_24h: int
    """Shares traded in the last 24 hours (whole minutes: this one and the 1,439 before)."""

    @property
    def mid(self) -> float | None:
        return _mid(self.best_bid, self.best_ask)


def _optional(value: int | None) -> str:
    return "" if value is None else str(value)


@dataclass(frozen=True, slots=True)
class Recount:
    """A market's volume counted again from Postgres: all its traded shares, and the last 24
    hours' by minute (``(minute, qty)`` pairs, oldest first; minute = epoch ms // 60,000)."""

    total: int
    minutes: list[tuple[int, int]]


async def publish_book(
    redis: "aioredis.Redis",
    book: Book,
    *,
    traded_qty: int,
    now_ms: int,
    depth: int = MAX_DEPTH,
    recount: Recount | None = None,
) -> MarketStats | None:
    """Store the book's snapshot and stats in one round trip, and return the stats as stored;
    None if Redis already holds this or a later ``seq`` (then nothing changes).

    ``traded_qty`` is the shares traded by the batch, added to the volumes at engine time
    ``now_ms``. A matcher that has just rebuilt its books may pass ``recount`` (the market's
    trades in Postgres) to set the volumes instead: a batch committed by a matcher that died
    before publishing is otherwise never counted.
    """
    if traded_qty < 0:
        raise ValueError("traded_qty must not be negative")
    market_id = book.market_id
    bids, asks = book.depth(depth)
    last = book.last()
    snapshot = orjson.dumps(
        {"seq": book.seq, "ts": now_ms, "bids": bids, "asks": asks, "last": last}
    )
    window: list[int] = []
    if recount is not None:
        window = [n for minute, qty in recount.minutes for n in (minute, qty)]
    best_bid, best_ask = book.best_bid(), book.best_ask()
    script = redis.register_script(_PUBLISH)
    written = await script(
        keys=[book_key(market_id), stats_key(market_id), volume_key(market_id)],
        args=[
            book.seq,
            now_ms,
            snapshot,
            _optional(last),
            _optional(best_bid),
            _optional(best_ask),
            traded_qty,
            "" if recount is None else recount.total,
            *window,
        ],
    )
    if not written:
        return None
    volume, volume_24h = written
    return MarketStats(
        market_id, book.seq, now_ms, last, best_bid, best_ask, int(volume), int(volume_24h)
    )


def _levels(raw: Any) -> list[Level]:
    return [(int(price), int(size)) for price, size in raw]


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


async def read_books(
    redis: "aioredis.Redis", market_ids: Collection[int]
) -> dict[int, BookSnapshot]:
    """The snapshots of the markets that have one, in one MGET."""
    ids = list(market_ids)
    if not ids:
        return {}
    found: dict[int, BookSnapshot] = {}
    for market_id, raw in zip(ids, await redis.mget([book_key(i) for i in ids]), strict=True):
        if raw is None:
            continue
        data = orjson.loads(raw)
        found[market_id] = BookSnapshot(
            market_id=market_id,
            seq=int(data["seq"]),
            ts=int(data["ts"]),
            bids=_levels(data["bids"]),
            asks=_levels(data["asks"]),
            last=_optional_int(data["last"]),
        )
    return found


async def read_stats(
    redis: "aioredis.Redis", market_ids: Collection[int], now_ms: int | None = None
) -> dict[int, MarketStats]:
    """The stats of the markets that have them, in one round trip; the 24-hour volume as of
    ``now_ms`` (default: now)."""
    ids = list(market_ids)
    if not ids:
        return {}
    at = int(time.time() * 1000) if now_ms is None else now_ms

    async def each() -> list[Any]:
        async with redis.pipeline(transaction=False) as pipe:
            for market_id in ids:
                pipe.evalsha(_READ_SHA, 2, stats_key(market_id), volume_key(market_id), at)
            return await pipe.execute(raise_on_error=False)

    replies = await each()
    if any(isinstance(r, NoScriptError) for r in replies):  # a new or restarted Redis
        await redis.script_load(_READ)
        replies = await each()
    found: dict[int, MarketStats] = {}
    for market_id, reply in zip(ids, replies, strict=True):
        if isinstance(reply, Exception):
            raise reply
        if not reply:
            continue
        fields = dict(zip(reply[::2], reply[1::2], strict=True))
        found[market_id] = MarketStats(
            market_id=market_id,
            seq=int(fields[b"seq"]),
            ts=int(fields[b"ts"]),
            last=_optional_int(fields.get(b"last")),
            best_bid=_optional_int(fields.get(b"bid")),
            best_ask=_optional_int(fields.get(b"ask")),
            volume=int(fields.get(b"volume", 0)),
            volume_24h=int(fields.get(b"volume24h", 0)),
        )
    return found
