"""orders, commands and trades: no foreign keys; the audit checks what they checked.

Order entry wrote an order and its PLACE command with five foreign-key checks (the order's
user and market, the command's market, order and user), each a lookup and a KEY SHARE lock,
and every trade five more (its market, both orders, both users): about a fifth of the order
entry statement's time in Postgres. These rows are written only by the statements that
create or lock what they name (order entry checks the market and the signed-in user in the
same statement; commands and trades name orders written or locked with them), no user,
market or order is ever deleted, and the conservation audit now proves that every order,
command and trade names rows that exist (db.audit), as it does for the ledger since 0004.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_REFERENCES = {
    "orders": {"user_id": "users", "market_id": "markets"},
    "commands": {"user_id": "users", "market_id": "markets", "order_id": "orders"},
    "trades": {
        "market_id": "markets",
        "maker_order_id": "orders",
        "taker_order_id": "orders",
        "maker_user_id": "users",
        "taker_user_id": "users",
    },
}


def upgrade() -> None:
    for table, columns in _REFERENCES.items():
        for column in columns:
            op.drop_constraint(f"{table}_{column}_fkey", table, type_="foreignkey")


def downgrade() -> None:
    for table, columns in _REFERENCES.items():
        for column, target in columns.items():
            op.create_foreign_key(f"{table}_{column}_fkey", table, target, [column], ["id"])
