"""Alembic environment: async engine from the service's own settings, one code path for SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from logging.config import fileConfig
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection

from alembic import context
from app.config import SettingsError, load_settings
from app.db import create_engine
from app.models import Base

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def _database_url() -> str:
    url = config.attributes.get("database_url")
    if url:
        return url
    try:
        return load_settings().database_url
    except SettingsError as exc:
        raise SystemExit(f"Configuration error: {exc}") from None


def _configure(connection: Connection | None = None, url: str | None = None) -> None:
    dialect = connection.dialect.name if connection is not None else url.split(":", 1)[0]
    context.configure(
        connection=connection,
        url=url,
        target_metadata=target_metadata,
        compare_type=True,
        # SQLite cannot ALTER most things in place: Alembic rebuilds the table instead.
        render_as_batch=dialect.startswith("sqlite"),
        literal_binds=connection is None,
        # Our SQLite connections emit BEGIN themselves (app.db), so a failed migration rolls back there too.
        transactional_ddl=True,
    )


def run_migrations_offline() -> None:
    _configure(url=_database_url())
    with context.begin_transaction():
        context.run_migrations()


def _foreign_keys_off(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=OFF")
    cursor.close()


def _run_sync(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()
        if connection.dialect.name == "sqlite":
            dangling = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if dangling:
                raise RuntimeError(f"the migration left rows whose foreign keys point nowhere: {dangling[:5]}")


async def run_migrations_online() -> None:
    engine = create_engine(_database_url())
    if engine.dialect.name == "sqlite":
        # SQLite alters a table by rebuilding it (batch mode), and the DROP of the old copy would delete, or refuse
        # to, every row another table refers to: foreign keys are off while migrating and checked before the
        # commit, SQLite's own procedure (https://www.sqlite.org/lang_altertable.html#otheralter).
        event.listen(engine.sync_engine, "connect", _foreign_keys_off)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_sync)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_migrations_online())
