"""API keys: created with scopes, stored as a SHA-256 hash, verified, listed and revoked.

Scopes nest: `admin` includes `trade`, which includes `read` — a key that may trade may also read what it traded.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.auth import ApiKey
from app.models.base import utcnow

__all__ = [
    "SCOPES",
    "VerifiedKeys",
    "create_api_key",
    "grants",
    "hash_key",
    "list_api_keys",
    "revoke_api_key",
    "verify_api_key",
]

SCOPES = ("read", "trade", "admin")
KEY_PREFIX = "tes_"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def grants(scopes: Iterable[str], needed: str) -> bool:
    """Whether a key with `scopes` may do what needs `needed` (admin ⊇ trade ⊇ read)."""
    rank = {scope: index for index, scope in enumerate(SCOPES)}
    return any(rank.get(scope, -1) >= rank[needed] for scope in scopes)


def _parse_scopes(scopes: Iterable[str]) -> list[str]:
    parsed = {scope.strip() for scope in scopes if scope.strip()}
    unknown = sorted(scope for scope in parsed if scope not in SCOPES)
    if unknown or not parsed:
        raise ValueError(f"scopes must be some of {', '.join(SCOPES)}; got {', '.join(unknown) or 'none'}")
    return [scope for scope in SCOPES if scope in parsed]


async def create_api_key(session: AsyncSession, *, name: str, scopes: Iterable[str]) -> tuple[str, ApiKey]:
    """A new key: the plain key is returned once and never stored."""
    if not name.strip() or len(name) > 64:
        raise ValueError("name must be 1-64 characters")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(name=name.strip(), key_prefix=key[:12], key_hash=hash_key(key), scopes=",".join(_parse_scopes(scopes)))
    session.add(row)
    await session.flush()
    return key, row


async def verify_api_key(session: AsyncSession, key: str) -> ApiKey | None:
    """The active key matching `key`, or None."""
    if not key.startswith(KEY_PREFIX):
        return None
    row = (await session.execute(select(ApiKey).where(ApiKey.key_hash == hash_key(key)))).scalar_one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    return row


async def list_api_keys(session: AsyncSession) -> Sequence[ApiKey]:
    return (await session.execute(select(ApiKey).order_by(ApiKey.id))).scalars().all()


async def revoke_api_key(session: AsyncSession, *, key_id: int | None = None, prefix: str | None = None) -> int:
    """Revoke by id or by the shown prefix; returns how many keys were revoked."""
    query = select(ApiKey).where(ApiKey.revoked_at.is_(None))
    if key_id is not None:
        query = query.where(ApiKey.id == key_id)
    elif prefix:
        query = query.where(ApiKey.key_prefix == prefix)
    else:
        raise ValueError("give a key id or a prefix")
    rows = (await session.execute(query)).scalars().all()
    for row in rows:
        row.revoked_at = utcnow()
    await session.flush()
    return len(rows)


class VerifiedKeys:
    """Answers of `verify_api_key` kept for `ttl_s` seconds, by key hash, so that a busy caller costs no query per
    request. A revoked key therefore stops working within `ttl_s` (5 s by default), in every replica."""

    def __init__(self, ttl_s: float = 5.0, max_entries: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, ApiKey | None]] = {}

    def get(self, key_hash: str) -> tuple[bool, ApiKey | None]:
        """(known, the key or None for a refused one)."""
        entry = self._entries.get(key_hash)
        if entry is None or entry[0] < time.monotonic():
            return False, None
        return True, entry[1]

    def put(self, key_hash: str, api_key: ApiKey | None) -> None:
        if len(self._entries) >= self.max_entries:  # random tokens must not grow this without bound
            self._entries.clear()
        self._entries[key_hash] = (time.monotonic() + self.ttl_s, api_key)
