"""orders: every order has a price (a MARKET order's is its worst price), and a resting
order keeps the sequence number at which it joined its price level's queue, so that a
matcher can rebuild a book in priority order from Postgres.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint("limit_orders_have_price", "orders", type_="check")
    op.alter_column("orders", "price", existing_type=sa.Integer(), nullable=False)
    op.add_column("orders", sa.Column("queue_seq", sa.BigInteger(), nullable=True))
    op.create_check_constraint(
        "market_buys_have_budget",
        "orders",
        "(kind = 'MARKET' AND side = 'BUY') = (budget IS NOT NULL)",
    )


def downgrade() -> None:
    op.drop_constraint("market_buys_have_budget", "orders", type_="check")
    op.drop_column("orders", "queue_seq")
    op.alter_column("orders", "price", existing_type=sa.Integer(), nullable=True)
    op.execute("UPDATE orders SET price = NULL WHERE kind = 'MARKET'")
    op.create_check_constraint(
        "limit_orders_have_price", "orders", "(kind = 'LIMIT') = (price IS NOT NULL)"
    )
