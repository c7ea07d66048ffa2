"""Migrations up and down on a real Postgres, in a database of their own."""

import asyncio

import asyncpg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

import db.models  # noqa: F401 (the tables, in SQLModel's metadata)
from db import migrate as migrations
from db.session import async_url
from settings import Settings

EXPECTED_TABLES = {
    "users",
    "api_keys",
    "refresh_tokens",
    "accounts",
    "ledger_entries",
    "markets",
    "market_sequences",
    "orders",
    "commands",
    "trades",
    "positions",
    "matcher_offsets",
}


async def _tables(url: str) -> set[str]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {row["tablename"] for row in rows} - {"alembic_version"}
    finally:
        await connection.close()


@pytest.fixture
async def scratch_url(settings: Settings) -> str:
    admin = await asyncpg.connect(settings.database_url)
    try:
        await admin.execute("DROP DATABASE IF EXISTS migration_scratch")
        await admin.execute("CREATE DATABASE migration_scratch")
    finally:
        await admin.close()
    return settings.database_url.rsplit("/", 1)[0] + "/migration_scratch"


async def test_upgrade_creates_the_whole_model_and_downgrade_removes_it(scratch_url: str) -> None:
    await asyncio.to_thread(migrations.upgrade, scratch_url)
    assert await _tables(scratch_url) == EXPECTED_TABLES

    await asyncio.to_thread(migrations.downgrade, scratch_url, "base")
    assert await _tables(scratch_url) == set()

    # and up again: the downgrade left nothing behind that would block it
    await asyncio.to_thread(migrations.upgrade, scratch_url)
    assert await _tables(scratch_url) == EXPECTED_TABLES
    connection = await asyncpg.connect(scratch_url)
    try:
        assert await connection.fetchval("SELECT version_num FROM alembic_version") == (
            migrations.head()
        )
    finally:
        await connection.close()


async def test_the_migrated_schema_is_the_models(scratch_url: str) -> None:
    """Alembic's comparison of the models with a database migrated to head finds nothing:
    every table, column, type, index and foreign key the code declares is what the
    migrations made, and nothing more."""
    await asyncio.to_thread(migrations.upgrade, scratch_url)
    engine = create_async_engine(async_url(scratch_url))
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True}),
                    SQLModel.metadata,
                )
            )
    finally:
        await engine.dispose()
    assert differences == []
