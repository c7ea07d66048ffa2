"""commands: an index of the AMEND commands not yet applied, by order.

Each matcher batch asks which of its orders have such an amend pending. The partial index
of every unapplied command (by market) also holds, until vacuum, the entries of the
thousands of commands applied since: the question got slower as a busy market ran. Amends
waiting at any moment are few, and so is this index.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "commands_pending_amends",
        "commands",
        ["order_id"],
        unique=False,
        postgresql_where=sa.text("kind = 'AMEND' AND applied_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("commands_pending_amends", table_name="commands")
