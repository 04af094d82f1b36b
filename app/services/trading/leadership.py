"""`Leadership`: which replica runs the account-wide background work (order tracker, execution resumption, dead-man
switch). Several replicas may serve the API on one PostgreSQL; exactly one of them leads.

On PostgreSQL the leader holds a session-level advisory lock on a connection of its own. If the process dies, its
connection closes and PostgreSQL releases the lock at once; a standby, trying every `retry_s`, takes over. The leader
checks its connection every `retry_s` too: a lost connection means lost leadership (another replica may already have
the lock), so it stops leading before anything else. On SQLite (one process by design) the service always leads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

__all__ = ["LEADER_LOCK_KEY", "Leadership", "engine_of"]

log = logging.getLogger(__name__)

LEADER_LOCK_KEY = 0x7E5_0001  # arbitrary, fixed: the "tracker leader" lock of this service's database


def engine_of(session_factory: async_sessionmaker[AsyncSession]) -> AsyncEngine:
    bind = session_factory.kw["bind"]
    return bind if isinstance(bind, AsyncEngine) else bind.engine


class Leadership:
    def __init__(self, engine: AsyncEngine, *, retry_s: float = 1.0) -> None:
        self.engine = engine
        self.retry_s = retry_s
        self.is_leader = False
        self._connection: AsyncConnection | None = None

    @property
    def role(self) -> str:
        return "leader" if self.is_leader else "standby"

    async def acquire(self) -> None:
        """Return once this replica leads (at once on SQLite)."""
        if self.engine.dialect.name != "postgresql":
            self.is_leader = True
            return
        while True:
            try:
                connection = await self.engine.connect()
                try:
                    got = (await connection.execute(text(f"SELECT pg_try_advisory_lock({LEADER_LOCK_KEY})"))).scalar()
                    await connection.commit()  # the lock is the session's, not the transaction's
                except BaseException:
                    await connection.close()
                    raise
                if got:
                    self._connection, self.is_leader = connection, True
                    log.info("leadership: this replica now runs the order tracker")
                    return
                await connection.close()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("leadership: cannot reach the database to ask for the lock: %s", exc)
            await asyncio.sleep(self.retry_s)

    async def watch(self) -> None:
        """Return when leadership is lost (the lock's connection failed); never on SQLite."""
        if self._connection is None:
            await asyncio.Event().wait()
        assert self._connection is not None
        while True:
            await asyncio.sleep(self.retry_s)
            try:
                async with asyncio.timeout(max(1.0, self.retry_s)):
                    await self._ping(self._connection)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error("leadership lost: the lock's database connection failed: %s", exc)
                await self.release()
                return

    @staticmethod
    async def _ping(connection: AsyncConnection) -> Any:
        result = (await connection.execute(text("SELECT 1"))).scalar()
        await connection.commit()
        return result

    async def release(self) -> None:
        self.is_leader = False
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.execute(text(f"SELECT pg_advisory_unlock({LEADER_LOCK_KEY})"))
                await connection.commit()
            with contextlib.suppress(Exception):
                await connection.close()
