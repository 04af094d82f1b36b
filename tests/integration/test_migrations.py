"""Alembic owns the schema: empty → head works on both backends and matches the models exactly."""

from __future__ import annotations

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from alembic import command
from app.db import create_engine
from app.migrations import alembic_config, upgrade_to_head_async
from app.models import Base


def _schema_diff(connection) -> list:  # type: ignore[no-untyped-def]
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return compare_metadata(context, Base.metadata)


async def test_models_and_migrations_agree(engine: AsyncEngine) -> None:
    """Fails when a model changes without a migration (or a migration without the model)."""
    async with engine.connect() as connection:
        diff = await connection.run_sync(_schema_diff)
    assert diff == []


async def test_upgrade_downgrade_upgrade_from_empty(empty_database_url: str) -> None:
    await upgrade_to_head_async(empty_database_url)
    await asyncio.to_thread(command.downgrade, alembic_config(empty_database_url), "base")

    engine = create_engine(empty_database_url)
    try:
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        assert tables <= {"alembic_version"}

        await upgrade_to_head_async(empty_database_url)
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
            diff = await connection.run_sync(_schema_diff)
        assert set(Base.metadata.tables) <= tables
        assert diff == []
    finally:
        await engine.dispose()
