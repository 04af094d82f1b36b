"""API key commands: `create-api-key` prints the new key and nothing else (it is shown once), `list-api-keys`,
`revoke-api-key (--id N | --prefix PREFIX)` (PREFIX as list-api-keys shows it)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.services.auth import create_api_key, list_api_keys, revoke_api_key

__all__ = ["COMMANDS", "add_commands", "run"]

COMMANDS = frozenset({"create-api-key", "list-api-keys", "revoke-api-key"})


def add_commands(commands: Any) -> None:
    create = commands.add_parser("create-api-key", help="create a key and print it (it is shown once)")
    create.add_argument("--name", required=True)
    create.add_argument("--scopes", default="read", help="comma-separated: read, trade, admin")
    commands.add_parser("list-api-keys", help="id, prefix, name, scopes and state of every key")
    revoke = commands.add_parser("revoke-api-key", help="revoke a key by id or prefix")
    target = revoke.add_mutually_exclusive_group(required=True)
    target.add_argument("--id", type=int)
    target.add_argument("--prefix")


async def run(args: argparse.Namespace, session_factory: async_sessionmaker[AsyncSession]) -> int:
    async with session_factory() as session:
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
    return 0
