"""SQLite: a unit of work cancelled mid-statement leaves no lock behind (`app.db._roll_back_before_close`).

A cancelled unit of work has its connection closed by SQLAlchemy, and aiosqlite closes it with sqlite3_close_v2,
which only marks it a zombie while a cursor still holds a statement. The zombie kept the database's write lock until
the garbage collector ran, and every other writer failed with "database is locked" after its busy timeout (CI,
2026-12-06: the order tracker's stop cancelled pushes being applied).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sqlite3
from pathlib import Path

from sqlalchemy import text

from app.db import create_engine, create_session_factory


def _write_lock_held(path: Path) -> bool:
    other = sqlite3.connect(path, timeout=0.2)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        other.close()


async def test_a_unit_of_work_cancelled_mid_statement_leaves_the_database_writable(tmp_path: Path) -> None:
    path = tmp_path / "cancelled.db"
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE t (x INTEGER)"))
    factory = create_session_factory(engine)

    async def unit_of_work() -> None:
        async with factory() as session:
            await session.execute(text("SELECT 1"))
            await session.execute(text("INSERT INTO t VALUES (1)"))
            await session.commit()

    cancel_after = random.Random(7)  # the same moments every run: a cancel lands before, inside and after statements
    try:
        for attempt in range(120):
            task = asyncio.create_task(unit_of_work())
            await asyncio.sleep(cancel_after.random() * 0.003)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await asyncio.sleep(0.01)  # the cancelled statement's thread finishes, its connection is closed
            assert not _write_lock_held(path), f"the write lock is still held after cancel {attempt}"
    finally:
        await engine.dispose()
