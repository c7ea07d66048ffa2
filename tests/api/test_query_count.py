"""Nested queries cost a fixed number of SQL statements, however many rows they return:
the markets of orders, trades and positions come through one DataLoader batch."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import event, text

from db.markets import create_market
from tests.api.factories import Member, gql, member
from workers.connections import Connections

NESTED_ORDERS = """
{
  orders(first: 50) {
    ... on OrderConnection { edges { node { id status market { id title status } } } }
  }
}"""
NESTED_ORDERS_COUNTED = """
{
  orders(first: 50) {
    ... on OrderConnection { totalCount edges { node { id market { title } } } }
  }
}"""
NESTED_POSITIONS = """
{
  positions {
    ... on PositionList { positions { shares markValue unrealizedPnl market { title } } }
  }
}"""


@contextmanager
def statements(connections: Connections) -> Iterator[list[str]]:
    """Every SQL statement the engine sends while the block runs."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2])  # (connection, cursor, statement, parameters, context, many)

    engine = connections.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def _orders_across_markets(
    connections: Connections, owner: Member, markets: int, per_market: int
) -> None:
    """Resting-free orders (REJECTED, nothing reserved): no money moves, the audit holds.
    Positions with no shares but realized PnL are listed too and move no money either."""
    async with connections.sessions() as session:
        for m in range(markets):
            row = await create_market(
                session,
                title=f"Market {m}",
                description="",
                rules="",
                image_url=None,
                category="misc",
                closes_at=datetime.now(UTC) + timedelta(days=1 + m),
                created_by=owner.id,
            )
            for _ in range(per_market):
                await session.execute(
                    text(
                        "INSERT INTO orders (user_id, market_id, side, outcome, kind,"
                        " time_in_force, post_only, stp, price, quantity, status, reason)"
                        " VALUES (:u, :m, 'BUY', 'YES', 'LIMIT', 'GTC', false, 'CANCEL_RESTING',"
                        " 40, 5, 'REJECTED', 'market halted')"
                    ),
                    {"u": owner.id, "m": row.id},
                )
            await session.execute(
                text(
                    "INSERT INTO positions (user_id, market_id, outcome, realized_pnl)"
                    " VALUES (:u, :m, 'YES', 25)"
                ),
                {"u": owner.id, "m": row.id},
            )
        await session.commit()


@pytest.mark.parametrize(("markets", "per_market"), [(1, 1), (3, 4), (7, 6)])
async def test_nested_portfolio_queries_cost_a_fixed_number_of_statements(
    http: httpx.AsyncClient, connections: Connections, markets: int, per_market: int
) -> None:
    ada = await member(connections, "ada")
    await _orders_across_markets(connections, ada, markets, per_market)

    with statements(connections) as plain:
        orders = await gql(http, NESTED_ORDERS, headers=ada.headers)
    with statements(connections) as counted:
        await gql(http, NESTED_ORDERS_COUNTED, headers=ada.headers)
    with statements(connections) as held:
        positions = await gql(http, NESTED_POSITIONS, headers=ada.headers)

    edges = orders["orders"]["edges"]
    assert len(edges) == markets * per_market
    assert {e["node"]["market"]["title"] for e in edges} == {f"Market {m}" for m in range(markets)}
    assert len(positions["positions"]["positions"]) == markets
    # orders, then one batch of markets; totalCount adds its own count
    assert len(plain) == 2, plain
    assert len(counted) == 3, counted
    # positions, then one batch of markets (market, markValue and unrealizedPnl share it)
    assert len(held) == 2, held
    assert sum("FROM markets" in s for s in plain + held) == 2
