"""The benchmarks' own PostgreSQL database: dropped, created and migrated to head before each run."""

from __future__ import annotations

import asyncpg

from app.migrations import upgrade_to_head_async


async def recreate_database(url: str) -> None:
    """Drop and create the database `url` names (any open connections to it are cut), then migrate it."""
    admin_url, _, name = url.replace("postgresql+asyncpg://", "postgresql://").rpartition("/")
    admin = await asyncpg.connect(admin_url + "/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    await upgrade_to_head_async(url, quiet=True)
