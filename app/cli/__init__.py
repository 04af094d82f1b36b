"""`python -m app.cli`: the operator's command line.

API keys (api_keys.py):
    create-api-key --name NAME --scopes read,trade   prints the new key, and nothing else
    list-api-keys
    revoke-api-key (--id N | --prefix PREFIX)
Operations (operations.py):
    orders [--instrument ID] | positions [--all] | cancel-all [--instrument ID]
    kill-switch on|off|status [--reason TEXT] | reconcile [--dry-run]

Every command works on the database named by DATABASE_URL (migrated first if needed) and, where it needs one, the
exchange named by the settings. Exit codes: 0 done, 1 the command failed (one sentence on stderr says why),
2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from sqlalchemy.exc import SQLAlchemyError

from app.cli import api_keys, operations
from app.config import Settings, SettingsError, load_settings
from app.db import create_engine, create_session_factory
from app.migrations import upgrade_to_head_async
from app.services.okx.errors import OKXError

__all__ = ["main"]


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    await upgrade_to_head_async(settings.database_url, quiet=True)
    engine = create_engine(settings.database_url)
    try:
        factory = create_session_factory(engine)
        if args.command in api_keys.COMMANDS:
            return await api_keys.run(args, factory)
        return await operations.run(args, settings, factory)
    finally:
        await engine.dispose()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app.cli", description="Operate the trading service")
    commands = parser.add_subparsers(dest="command", required=True)
    api_keys.add_commands(commands)
    operations.add_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        return 2
    # The services' warnings (an order that could not be canceled, say) go to stderr; the tables to stdout.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(message)s")
    try:
        return asyncio.run(_run(args, settings))
    except operations.CommandFailed as exc:
        print(exc, file=sys.stderr)
        return 1
    except OKXError as exc:
        print(f"The exchange request failed: {exc}", file=sys.stderr)
        return 1
    except (OSError, SQLAlchemyError) as exc:
        print(f"The database could not be used: {exc.__class__.__name__}: {exc}".splitlines()[0], file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
