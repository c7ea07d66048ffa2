"""Alembic, driven from code: `predmarket migrate` and the tests call these."""

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlmodel import SQLModel

import db.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from db.session import make_engine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url), revision)


def head() -> str | None:
    return ScriptDirectory.from_config(alembic_config("")).get_current_head()


def run_migrations(database_url: str, config: Config) -> None:
    """Run whatever the environment context holds, on an asyncpg connection."""
    from alembic import context

    def run(connection: Connection) -> None:
        context.configure(
            connection=connection, target_metadata=SQLModel.metadata, compare_type=True
        )
        with context.begin_transaction():
            context.run_migrations()

    async def main() -> None:
        engine = make_engine(database_url, pool_size=1)
        try:
            async with engine.connect() as connection:
                await connection.run_sync(run)
                await connection.commit()
        finally:
            await engine.dispose()

    asyncio.run(main())
