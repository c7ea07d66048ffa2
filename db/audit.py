"""The conservation audit of DESIGN.md: balances are a cache of the ledger, and money is
neither created nor destroyed inside the exchange."""

from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True, slots=True)
class AuditReport:
    deposits: int
    withdrawals: int
    users_cash: int
    markets_collateral: int
    discrepancies: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.discrepancies


_TOTALS = """
SELECT
  (SELECT coalesce(sum(-amount), 0) FROM ledger_entries
     WHERE account = 'EXTERNAL' AND asset = 'CASH' AND amount < 0) AS deposits,
  (SELECT coalesce(sum(amount), 0) FROM ledger_entries
     WHERE account = 'EXTERNAL' AND asset = 'CASH' AND amount > 0) AS withdrawals,
  (SELECT coalesce(sum(cash_available + cash_reserved), 0) FROM accounts) AS users_cash,
  (SELECT coalesce(sum(collateral), 0) FROM markets) AS markets_collateral
"""

# What each order, command and trade names (no foreign keys since migration 0005): a row
# for every name of no existing row.
_NAMED = (
    ("orders", "user_id", "users"),
    ("orders", "market_id", "markets"),
    ("commands", "market_id", "markets"),
    ("commands", "order_id", "orders"),
    ("commands", "user_id", "users"),
    ("trades", "market_id", "markets"),
    ("trades", "maker_order_id", "orders"),
    ("trades", "taker_order_id", "orders"),
    ("trades", "maker_user_id", "users"),
    ("trades", "taker_user_id", "users"),
)
_NAMES_MISSING = " UNION ALL ".join(
    f"SELECT format('{source[:-1]} %s', r.id), format('{table[:-1]} %s', r.{column})"
    f" FROM {source} r WHERE r.{column} IS NOT NULL"
    f" AND NOT EXISTS (SELECT FROM {table} t WHERE t.id = r.{column})"
    for source, column, table in _NAMED
)

# Each query returns a row (where, what was found) for every place the check fails.
_CHECKS = {
    "unbalanced journal": """
        SELECT format('journal %s %s', journal_id, asset), format('sums to %s', sum(amount))
        FROM ledger_entries GROUP BY journal_id, asset HAVING sum(amount) <> 0
    """,
    "ledger names what does not exist": """
        SELECT format('ledger entry %s', l.id), concat_ws(', ',
                 CASE WHEN u.id IS NULL AND l.user_id IS NOT NULL THEN 'user ' || l.user_id END,
                 CASE WHEN m.id IS NULL AND l.market_id IS NOT NULL
                      THEN 'market ' || l.market_id END,
                 CASE WHEN o.id IS NULL AND l.order_id IS NOT NULL THEN 'order ' || l.order_id END,
                 CASE WHEN t.id IS NULL AND l.trade_id IS NOT NULL THEN 'trade ' || l.trade_id END)
        FROM ledger_entries l
        LEFT JOIN users u ON u.id = l.user_id
        LEFT JOIN markets m ON m.id = l.market_id
        LEFT JOIN orders o ON o.id = l.order_id
        LEFT JOIN trades t ON t.id = l.trade_id
        WHERE (u.id IS NULL AND l.user_id IS NOT NULL) OR (m.id IS NULL AND l.market_id IS NOT NULL)
           OR (o.id IS NULL AND l.order_id IS NOT NULL) OR (t.id IS NULL AND l.trade_id IS NOT NULL)
        ORDER BY l.id
    """,
    "order flow names what does not exist": f"""
        {_NAMES_MISSING}
        ORDER BY 1, 2
    """,
    "user cash differs from ledger": """
        WITH l AS (
          SELECT user_id,
                 sum(amount) FILTER (WHERE account = 'USER_AVAILABLE') AS available,
                 sum(amount) FILTER (WHERE account = 'USER_RESERVED') AS reserved
          FROM ledger_entries WHERE asset = 'CASH' AND user_id IS NOT NULL GROUP BY user_id)
        SELECT format('user %s cash available/reserved', coalesce(a.user_id, l.user_id)),
               format('ledger %s/%s, accounts %s/%s', coalesce(l.available, 0),
                      coalesce(l.reserved, 0), a.cash_available, a.cash_reserved)
        FROM accounts a FULL JOIN l ON l.user_id = a.user_id
        WHERE coalesce(a.cash_available, 0) <> coalesce(l.available, 0)
           OR coalesce(a.cash_reserved, 0) <> coalesce(l.reserved, 0)
    """,
    "user shares differ from ledger": """
        WITH l AS (
          SELECT user_id, market_id, asset AS outcome,
                 sum(amount) FILTER (WHERE account = 'USER_AVAILABLE') AS available,
                 sum(amount) FILTER (WHERE account = 'USER_RESERVED') AS reserved
          FROM ledger_entries WHERE asset <> 'CASH' AND user_id IS NOT NULL
          GROUP BY user_id, market_id, asset)
        SELECT format('user %s market %s %s shares available/reserved',
                      coalesce(p.user_id, l.user_id), coalesce(p.market_id, l.market_id),
                      coalesce(p.outcome, l.outcome)),
               format('ledger %s/%s, positions %s/%s', coalesce(l.available, 0),
                      coalesce(l.reserved, 0), p.shares_available, p.shares_reserved)
        FROM positions p
        FULL JOIN l ON (l.user_id, l.market_id, l.outcome) = (p.user_id, p.market_id, p.outcome)
        WHERE coalesce(p.shares_available, 0) <> coalesce(l.available, 0)
           OR coalesce(p.shares_reserved, 0) <> coalesce(l.reserved, 0)
    """,
    "market collateral differs from ledger": """
        WITH l AS (
          SELECT market_id, sum(amount) AS collateral FROM ledger_entries
          WHERE account = 'MARKET_COLLATERAL' AND asset = 'CASH' GROUP BY market_id)
        SELECT format('market %s collateral', m.id),
               format('ledger %s, markets %s', coalesce(l.collateral, 0), m.collateral)
        FROM markets m LEFT JOIN l ON l.market_id = m.id
        WHERE m.collateral <> coalesce(l.collateral, 0)
    """,
    "collateral does not back the shares outstanding": """
        WITH s AS (
          SELECT market_id,
                 sum(shares_available + shares_reserved) FILTER (WHERE outcome = 'YES') AS yes,
                 sum(shares_available + shares_reserved) FILTER (WHERE outcome = 'NO') AS no
          FROM positions GROUP BY market_id)
        SELECT format('market %s', m.id),
               format('collateral %s, 100 x YES = %s, 100 x NO = %s', m.collateral,
                      100 * coalesce(s.yes, 0), 100 * coalesce(s.no, 0))
        FROM markets m LEFT JOIN s ON s.market_id = m.id
        WHERE m.collateral <> 100 * coalesce(s.yes, 0) OR m.collateral <> 100 * coalesce(s.no, 0)
    """,
}


async def run_audit(session: AsyncSession) -> AuditReport:
    row = (await session.execute(text(_TOTALS))).one()
    deposits, withdrawals, users_cash, collateral = (int(v) for v in row)
    problems: list[str] = []
    if users_cash + collateral != deposits - withdrawals:
        problems.append(
            f"cash not conserved: users {users_cash} + collateral {collateral} "
            f"!= deposits {deposits} - withdrawals {withdrawals}"
        )
    for name, query in _CHECKS.items():
        for where, found in (await session.execute(text(query))).all():
            problems.append(f"{name}: {where}: {found}")
    return AuditReport(deposits, withdrawals, users_cash, collateral, problems)
