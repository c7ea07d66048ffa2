"""ledger_entries: no index on journal_id.

No query looks legs up by journal (the balance of each journal is checked over the
statement's new rows by a trigger, and the audit sums the whole table); the index only
cost an insertion per leg, about five per order placed and matched.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ledger_by_journal", table_name="ledger_entries")


def downgrade() -> None:
    op.create_index("ledger_by_journal", "ledger_entries", ["journal_id"], unique=False)
