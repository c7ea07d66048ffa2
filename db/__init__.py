"""The system of record: SQLModel tables, async sessions, migrations, repositories."""
