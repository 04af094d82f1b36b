"""`Leadership`: which replica runs the account-wide background work (order tracker, execution resumption, dead-man
switch). Several replicas may serve the API on one PostgreSQL; exactly one of them leads.

On PostgreSQL the leader holds a session-level advisory lock on a connection of its own. If the process dies, its
connection closes and PostgreSQL releases the lock at once; a standby, trying every `retry_s`, takes over. The leader
checks its connection every `retry_s` too: a lost connection means lost leadership (another replica may already have
the lock), so it stops leading before anything else. On SQLite (one process by design) the service always leads.

A slow answer is not a lost lock. PostgreSQL gives a session's advisory lock back only when the session ends, and a
session it ends (terminated, the server restarted) closes its socket: the check fails at once with an error, and
the leader stands down at once. Silence is nearly always a busy machine: under a CPU-starved minute the check took
over 1 s, and a leader that stood down for that (as it did until 2026-12-06) stopped its order tracker and restarted
it with a reconciliation of every open order, leaving 3,600 orders unapplied for over a minute: the worst thing to
do under overload. Silence means loss only where PostgreSQL notices a dead network before this side does (TCP
keepalives: hours by default), so the leader waits `silence_limit_s` (10 s) before standing down for it, and then
drops the connection rather than waiting on it to give the lock back.
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
SILENCE_LIMIT_S = 10.0  # how long the lock's connection may not answer before this replica stops leading


def engine_of(session_factory: async_sessionmaker[AsyncSession]) -> AsyncEngine:
    bind = session_factory.kw["bind"]
    return bind if isinstance(bind, AsyncEngine) else bind.engine


class Leadership:
    def __init__(self, engine: AsyncEngine, *, retry_s: float = 1.0, silence_limit_s: float = SILENCE_LIMIT_S) -> None:
        self.engine = engine
        self.retry_s = retry_s
        self.silence_limit_s = silence_limit_s
        self.is_leader = False
        self._connection: AsyncConnection | None = None

    @property
    def role(self) -> str:
        return "leader" if self.is_leader else "standby"

    async def acquire(self) -> None:
        """Return once this replica leads (at once on SQLite)."""
        while True:
            try:
                if await self.try_acquire():
                    return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("leadership: cannot reach the database to ask for the lock: %s", exc)
            await asyncio.sleep(self.retry_s)

    async def try_acquire(self) -> bool:
        """Ask for the lock once: True if this replica now leads (always on SQLite)."""
        if self.engine.dialect.name != "postgresql":
            self.is_leader = True
            return True
        connection = await self.engine.connect()
        try:
            got = (await connection.execute(text(f"SELECT pg_try_advisory_lock({LEADER_LOCK_KEY})"))).scalar()
            await connection.commit()  # the lock is the session's, not the transaction's
        except BaseException:
            await connection.close()
            raise
        if not got:
            await connection.close()
            return False
        self._connection, self.is_leader = connection, True
        log.info("leadership: this replica now runs the order tracker")
        return True

    async def watch(self) -> None:
        """Return when leadership is lost (the lock's connection failed, or said nothing for `silence_limit_s`);
        never on SQLite."""
        if self._connection is None:
            await asyncio.Event().wait()
        assert self._connection is not None
        while True:
            await asyncio.sleep(self.retry_s)
            try:
                async with asyncio.timeout(self.silence_limit_s):
                    await self._ping(self._connection)
            except asyncio.CancelledError:
                raise
            except TimeoutError:
                log.error("leadership lost: the lock's connection said nothing for %g s", self.silence_limit_s)
            except Exception as exc:
                log.error("leadership lost: the lock's database connection failed: %s", exc)
            else:
                continue
            await self._drop()
            return

    @staticmethod
    async def _ping(connection: AsyncConnection) -> Any:
        result = (await connection.execute(text("SELECT 1"))).scalar()
        await connection.commit()
        return result

    async def release(self) -> None:
        """Stop leading and give the lock back; a connection that has not done so within a second (or `retry_s`)
        is dropped instead."""
        self.is_leader = False
        connection = self._connection
        if connection is None:
            return
        try:
            async with asyncio.timeout(max(1.0, self.retry_s)):
                await connection.execute(text(f"SELECT pg_advisory_unlock({LEADER_LOCK_KEY})"))
                await connection.commit()
        except Exception:
            await self._drop()
            return
        self._connection = None
        with contextlib.suppress(Exception):
            await connection.close()

    async def _drop(self) -> None:
        """Stop leading on a connection that cannot be trusted to answer: closed at once, never waited on.
        PostgreSQL gives the lock back when it sees the session end."""
        self.is_leader = False
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.invalidate()
            with contextlib.suppress(Exception):
                await connection.close()
