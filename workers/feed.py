"""The live feed the matcher publishes after each committed batch, for subscriptions.

Per market, one JSON list per batch, published on channel ``market:{id}`` AND appended to a
bounded stream ``market-feed:{id}`` (entry id ``{seq}-0``, fields ``prev`` and ``d``) so a
subscriber that lost messages replays them by sequence number. The list's first item is the
batch header; every item carries the market's ``seq`` and the engine time ``ts`` (epoch ms):

- ``{"type": "batch", "market", "prev", "seq", "ts"}``: the batch covers sequence numbers
  ``prev + 1 .. seq`` (the engine numbers every event, so consecutive batches chain:
  a batch whose ``prev`` is not the previous batch's ``seq`` means one was lost);
- ``{"type": "book", "seq", "ts", "side": "BID"|"ASK", "price", "size"}``: the YES book's
  level now holds ``size`` (0: gone);
- ``{"type": "trade", "seq", "ts", "price", "qty", "kind", "aggressor": "BID"|"ASK"}``
  (YES cents; no user ids on a public channel);
- ``{"type": "status", "seq", "ts", "status": "OPEN"|"HALTED"|"CLOSED"}``;
- ``{"type": "ticker", "seq", "ts", "last", "bid", "ask", "volume", "volume24h"}`` (YES
  cents or null; shares traded in all and in the last 24 hours), when the batch traded or
  moved the book.

Per user, one JSON list per batch on channel ``user:{id}`` (nothing stored):

- ``{"type": "order", "market", "seq", "ts", "id", "side", "outcome", "kind", "price",
  "quantity", "filled", "filled_cost", "reserved_cash", "reserved_shares", "status",
  "reason"}``: every order of the user the batch changed;
- ``{"type": "fill", "market", "seq", "ts", "order", "role": "MAKER"|"TAKER", "side",
  "outcome", "price", "yes_price", "qty", "kind"}``: ``price`` in the order's own outcome;
- ``{"type": "account", "market", "seq", "ts", "available", "reserved"}``: cash as the
  batch committed it.

A batch is appended and published by one script, only if its ``seq`` is newer than the
stream's last entry: messages are at least once, never out of order.
"""

from collections import defaultdict
from typing import Any

import orjson
import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.settlement import BatchEffects
from engine import BookSide, EventType, MarketState, TradeKind
from engine.events import Event
from workers.books import MarketStats

STREAM_MAXLEN = 10_000
"""Batches kept per market for replay (approximately: Redis trims whole nodes)."""

_SIDES = ("BID", "ASK")

# KEYS[1] stream. ARGV: seq, prev, data, maxlen, channel. Returns 1 if appended/published.
_APPEND = """
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if last[1] then
  local stored = tonumber(string.match(last[1][1], '^(%d+)'))
  if tonumber(ARGV[1]) <= stored then
    return 0
  end
end
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[4], ARGV[1] .. '-0', 'prev', ARGV[2], 'd', ARGV[3])
redis.call('PUBLISH', ARGV[5], ARGV[3])
return 1
"""


def market_channel(market_id: int) -> str:
    return f"market:{market_id}"


def market_of(channel: str) -> int | None:
    """The market id of a market channel; None for any other channel."""
    prefix, _, rest = channel.partition(":")
    return int(rest) if prefix == "market" and rest.isdigit() else None


def user_channel(user_id: int) -> str:
    return f"user:{user_id}"


def stream_key(market_id: int) -> str:
    """Hash-tagged like the book keys: one cluster slot per market."""
    return f"market-feed:{{{market_id}}}"


def market_messages(
    effects: BatchEffects, events: list[Event], now_ms: int
) -> list[dict[str, Any]] | None:
    """The batch header and the public messages of a batch; None when it has no events."""
    if not events:
        return None
    first = min(e[1] for e in events)
    last = max(effects.last_seq, max(e[1] for e in events))
    out: list[dict[str, Any]] = [
        {"type": "batch", "market": effects.market_id, "prev": first - 1, "seq": last, "ts": now_ms}
    ]
    for e in sorted(events, key=lambda e: e[1]):
        kind = e[0]
        if kind == EventType.BOOK:
            out.append(
                {
                    "type": "book",
                    "seq": e[1],
                    "ts": now_ms,
                    "side": _SIDES[e[2]],
                    "price": e[3],
                    "size": e[4],
                }
            )
        elif kind == EventType.TRADE:
            out.append(
                {
                    "type": "trade",
                    "seq": e[1],
                    "ts": now_ms,
                    "price": e[2],
                    "qty": e[3],
                    "kind": TradeKind(e[4]).name,
                    "aggressor": BookSide(e[5]).name,
                }
            )
        elif kind == EventType.STATE:
            out.append(
                {"type": "status", "seq": e[1], "ts": now_ms, "status": MarketState(e[2]).name}
            )
    return out


def user_messages(
    effects: BatchEffects, now_ms: int, accounts: dict[int, tuple[int, int]]
) -> dict[int, list[dict[str, Any]]]:
    """Each user's order changes, fills and cash, keyed by user id."""
    market, seq = effects.market_id, effects.last_seq
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for order in sorted(effects.orders.values(), key=lambda o: o.id):
        out[order.user_id].append(
            {
                "type": "order",
                "market": market,
                "seq": seq,
                "ts": now_ms,
                "id": order.id,
                "side": order.side,
                "outcome": order.outcome,
                "kind": order.kind,
                "price": order.price,
                "quantity": order.quantity,
                "filled": order.filled,
                "filled_cost": order.filled_cost,
                "reserved_cash": order.reserved_cash,
                "reserved_shares": order.reserved_shares,
                "status": order.status.value,
                "reason": order.reason,
            }
        )
    for trade in effects.trades:
        for role, order_id, user_id in (
            ("MAKER", trade.maker_order_id, trade.maker_user_id),
            ("TAKER", trade.taker_order_id, trade.taker_user_id),
        ):
            found = effects.orders.get(order_id)
            outcome = found.outcome if found is not None else "YES"
            out[user_id].append(
                {
                    "type": "fill",
                    "market": market,
                    "seq": trade.seq,
                    "ts": now_ms,
                    "order": order_id,
                    "role": role,
                    "side": found.side if found is not None else None,
                    "outcome": outcome,
                    "price": trade.yes_price if outcome == "YES" else 100 - trade.yes_price,
                    "yes_price": trade.yes_price,
                    "qty": trade.quantity,
                    "kind": trade.kind,
                }
            )
    for user_id, (available, reserved) in sorted(accounts.items()):
        out[user_id].append(
            {
                "type": "account",
                "market": market,
                "seq": seq,
                "ts": now_ms,
                "available": available,
                "reserved": reserved,
            }
        )
    return out


async def read_accounts(
    sessions: async_sessionmaker[AsyncSession], user_ids: set[int]
) -> dict[int, tuple[int, int]]:
    """Cash (available, reserved) of the users, in one query, as committed now."""
    if not user_ids:
        return {}
    async with sessions() as session:
        rows = await session.execute(
            text(
                "SELECT user_id, cash_available, cash_reserved FROM accounts"
                " WHERE user_id = ANY(:u)"
            ),
            {"u": sorted(user_ids)},
        )
        return {int(u): (int(a), int(r)) for u, a, r in rows}


def queue_market(
    pipe: "aioredis.client.Pipeline",
    effects: BatchEffects,
    events: list[Event],
    now_ms: int,
    stats: MarketStats | None,
) -> None:
    """Queue a committed batch's market messages (channel and stream) on ``pipe``; the
    stream refuses a seq it already holds. The ticker carries ``stats``, the market's as the
    batch's book snapshot stored them (`publish_book`); without them (the snapshot already
    held this seq) the batch has no ticker message."""
    market = market_messages(effects, events, now_ms)
    if market is None:
        return
    header = market[0]
    if stats is not None and any(m["type"] in ("book", "trade") for m in market):
        market.append(
            {
                "type": "ticker",
                "seq": header["seq"],
                "ts": now_ms,
                "last": stats.last,
                "bid": stats.best_bid,
                "ask": stats.best_ask,
                "volume": stats.volume,
                "volume24h": stats.volume_24h,
            }
        )
    # EVAL, not EVALSHA: a pipeline's scripts cost a SCRIPT EXISTS round trip of their own
    pipe.eval(
        _APPEND,
        1,
        stream_key(effects.market_id),
        header["seq"],
        header["prev"],
        orjson.dumps(market),
        STREAM_MAXLEN,
        market_channel(effects.market_id),
    )


async def publish_users(
    redis: "aioredis.Redis",
    effects: BatchEffects,
    now_ms: int,
    *,
    sessions: async_sessionmaker[AsyncSession] | None = None,
) -> None:
    """Publish a committed batch's messages to each user whose orders or fills it changed,
    with their cash as the batch committed it (read again with ``sessions`` when a
    resolution changed it after)."""
    users = {o.user_id for o in effects.orders.values()}
    users |= {t.maker_user_id for t in effects.trades} | {t.taker_user_id for t in effects.trades}
    if not users:
        return
    if effects.final:
        accounts = {u: cash for u, cash in effects.accounts.items() if u in users}
    elif sessions is not None:
        accounts = await read_accounts(sessions, users)
    else:
        accounts = {}
    private = user_messages(effects, now_ms, accounts)
    async with redis.pipeline(transaction=False) as pipe:
        for user_id, messages in sorted(private.items()):
            pipe.publish(user_channel(user_id), orjson.dumps(messages))
        await pipe.execute()
