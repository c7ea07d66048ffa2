"""ledger_entries: no foreign keys; the audit checks what they checked.

Every order placed wrote about five ledger legs, and each leg's user, market, order and
trade were looked up and locked (KEY SHARE) by a foreign-key check: two thirds of the
twenty-odd checks an order cost, about a tenth of Postgres's time. The legs are written only
beside the rows they name (in the same statement or transaction, those rows created or
locked), no row they name is ever deleted, and the ledger is append-only; the conservation
audit now also proves that every leg names rows that exist (db.audit).

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_REFERENCES = {
    "user_id": "users",
    "market_id": "markets",
    "order_id": "orders",
    "trade_id": "trades",
}


def upgrade() -> None:
    for column in _REFERENCES:
        op.drop_constraint(f"ledger_entries_{column}_fkey", "ledger_entries", type_="foreignkey")


def downgrade() -> None:
    for column, table in _REFERENCES.items():
        op.create_foreign_key(
            f"ledger_entries_{column}_fkey", "ledger_entries", table, [column], ["id"]
        )
