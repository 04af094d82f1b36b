"""`python -m app.cli`: API keys from the command line.

    python -m app.cli create-api-key --name NAME --scopes read,trade   # prints the new key, and nothing else
    python -m app.cli list-api-keys
    python -m app.cli revoke-api-key (--id N | --prefix PREFIX)   # PREFIX as list-api-keys shows it

It works on the database named by DATABASE_URL and migrates it first if needed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from app.config import SettingsError, load_settings
from app.db import create_engine, create_session_factory
from app.migrations import upgrade_to_head_async
from app.services.auth import create_api_key, list_api_keys, revoke_api_key

__all__ = ["main"]


async def _run(args: argparse.Namespace, database_url: str) -> int:
    await upgrade_to_head_async(database_url, quiet=True)
    engine = create_engine(database_url)
    try:
        async with create_session_factory(engine)() as session:
            if args.command == "create-api-key":
                key, _ = await create_api_key(session, name=args.name, scopes=args.scopes.split(","))
                await session.commit()
                print(key)
            elif args.command == "list-api-keys":
                for row in await list_api_keys(session):
                    state = f"revoked {row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "active"
                    print(f"{row.id}\t{row.key_prefix}\t{row.name}\t{row.scopes}\t{state}")
            else:
                revoked = await revoke_api_key(session, key_id=args.id, prefix=args.prefix)
                await session.commit()
                if not revoked:
                    print("no active key matches", file=sys.stderr)
                    return 1
                print(f"revoked {revoked} key(s)", file=sys.stderr)
    finally:
        await engine.dispose()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.cli", description="API keys of the trading service")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-api-key", help="create a key and print it (it is shown once)")
    create.add_argument("--name", required=True)
    create.add_argument("--scopes", default="read", help="comma-separated: read, trade, admin")
    commands.add_parser("list-api-keys", help="id, prefix, name, scopes and state of every key")
    revoke = commands.add_parser("revoke-api-key", help="revoke a key by id or prefix")
    target = revoke.add_mutually_exclusive_group(required=True)
    target.add_argument("--id", type=int)
    target.add_argument("--prefix")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_run(args, settings.database_url))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
