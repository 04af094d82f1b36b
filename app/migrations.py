"""Apply the Alembic migrations from Python (used by `python -m app` and the tests)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic.config import Config

from alembic import command

__all__ = ["alembic_config", "upgrade_to_head", "upgrade_to_head_async"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def alembic_config(database_url: str | None = None, *, quiet: bool = False) -> Config:
    """Alembic's config for this project; `database_url` overrides DATABASE_URL from the settings. `quiet` leaves
    logging alone (the CLI prints only what it was asked for)."""
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "alembic"))
    if database_url is not None:
        config.attributes["database_url"] = database_url
    if quiet:
        config.attributes["configure_logging"] = False
    return config


def upgrade_to_head(database_url: str | None = None, *, quiet: bool = False) -> None:
    command.upgrade(alembic_config(database_url, quiet=quiet), "head")


async def upgrade_to_head_async(database_url: str | None = None, *, quiet: bool = False) -> None:
    """Alembic's env runs its own event loop, so from async code it goes to a worker thread."""
    await asyncio.to_thread(upgrade_to_head, database_url, quiet=quiet)
