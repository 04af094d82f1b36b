"""The async engine and session factory: one code path for SQLite (aiosqlite) and PostgreSQL (asyncpg)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session

from app.config import normalize_database_url, sqlite_file_path
from app.db_direct import DirectLane, numerics_as_text, server_unavailable

__all__ = [
    "FLUSH_WRITERS",
    "ServiceSession",
    "UnitOfWork",
    "create_engine",
    "create_session_factory",
    "direct_lane",
    "ping",
]

_DIRECT_LANE = "direct_lane"  # a session's info: the lane its one-statement units of work may take

# Writers of rows queued on a session outside the ORM (the execution events: `events.record_event`), run by every
# flush of a `UnitOfWork`.
FLUSH_WRITERS: list[Callable[[Session], None]] = []


class UnitOfWork(Session):
    """The service's Session: `flush()` (explicit, autoflush before a query, or at commit) also writes the rows
    queued outside the ORM — even when no ORM object is dirty, when a plain Session's flush does nothing."""

    def flush(self, objects: Iterable[Any] | None = None) -> None:
        super().flush(objects)
        for write in FLUSH_WRITERS:
            write(self)


class ServiceSession(AsyncSession):
    """The service's AsyncSession: a session that holds no transaction is closed in place. Closing it does no I/O
    (no connection to give back), and AsyncSession's own close runs in a task of its own and a greenlet, ~35 µs
    each time; most requests and pushes on PostgreSQL never begin a transaction in their session (the direct lane
    writes), so that was paid for nothing, twice per order."""

    async def close(self) -> None:
        if self.sync_session.in_transaction():
            await super().close()
        else:
            self.sync_session.close()

    async def __aexit__(self, type_: Any, value: Any, traceback: Any) -> None:
        if self.sync_session.in_transaction():
            await super().__aexit__(type_, value, traceback)
        else:
            self.sync_session.close()


def _prepare_sqlite(engine: AsyncEngine) -> None:
    """Make SQLite behave like a real transactional database.

    pysqlite/aiosqlite open transactions lazily and do not emit BEGIN themselves, which breaks SAVEPOINT and
    lets a transaction span less than it should; SQLAlchemy's documented fix is to emit BEGIN ourselves.
    It is `BEGIN IMMEDIATE`: a transaction that reads and then writes would otherwise fail at once with "database
    is locked" when another writer holds the lock (SQLite cannot wait out a lock upgrade); taking the write lock at
    BEGIN makes concurrent units of work (the API, the order tracker) queue behind `busy_timeout` instead. SQLite
    is the single-process default; PostgreSQL is for concurrency.
    WAL lets readers outside a transaction proceed while one writer writes; foreign keys are off unless asked for.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    @event.listens_for(engine.sync_engine, "close")
    def _on_close(dbapi_connection: Any, _record: Any) -> None:
        _roll_back_before_close(dbapi_connection)


def _roll_back_before_close(adapted: Any) -> None:
    """End the connection's transaction before it is closed, on aiosqlite's own thread (queued after whatever runs
    there, before the close). A unit of work cancelled mid-statement has its connection closed by SQLAlchemy, and
    aiosqlite closes it with `sqlite3_close_v2`, which only marks it a zombie while a cursor still holds a statement:
    the zombie kept the database's write lock until the garbage collector ran, and every other writer failed with
    "database is locked" after its busy timeout (CI, 2026-12-06; `tests/integration/test_sqlite_cancellation.py`).
    A rollback ends the transaction whatever the cursors hold; on a connection with none it does nothing."""
    connection = getattr(adapted, "_connection", None)  # the aiosqlite connection
    sqlite = getattr(connection, "_connection", None)  # its sqlite3 connection: used on its worker thread only
    queue = getattr(connection, "_tx", None)
    if sqlite is not None and queue is not None:
        queue.put_nowait((None, sqlite.rollback))


def create_engine(database_url: str, **kwargs: Any) -> AsyncEngine:
    url = normalize_database_url(database_url)
    if (path := sqlite_file_path(url)) is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    if url.startswith("postgresql"):
        # Every connection kept once opened (no overflow): an overflow connection is closed whenever it comes back
        # to a full pool, so a load hovering around the pool's size opened and closed connections all the time
        # (`benchmarks/load.py`: ~14 new PostgreSQL backends a second, each a fork, a login and SQLAlchemy's
        # first-connect queries, CPU on both sides).
        kwargs.setdefault("pool_size", 20)
        kwargs.setdefault("max_overflow", 0)
        # No ping per checkout (a round trip on every unit of work, ~3 per order): a connection a database restart
        # broke fails its one unit of work (503, nothing sent to the exchange unless already written ahead), and
        # SQLAlchemy then invalidates every older connection of the pool at once.
        kwargs.setdefault("pool_pre_ping", False)
        kwargs.setdefault("pool_recycle", 1800)
    else:  # SQLite: one writer at a time anyway; the pool settings are PostgreSQL's
        kwargs.pop("pool_size", None)
        kwargs.pop("pool_timeout", None)
    engine = create_async_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        _prepare_sqlite(engine)
    elif engine.dialect.driver == "asyncpg":

        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.run_async(numerics_as_text)  # as on the direct lane: one wire format for NUMERIC

        @event.listens_for(engine.sync_engine, "handle_error")
        def _as_operational(context: ExceptionContext) -> BaseException | None:
            # A server starting up, shutting down or out of connections: 503, as on the direct lane.
            error = context.sqlalchemy_exception
            if isinstance(error, OperationalError) or not server_unavailable(context.original_exception.__cause__):
                return None
            return OperationalError(context.statement, context.parameters, context.original_exception)

    return engine


def create_session_factory(
    engine: AsyncEngine, *, direct: DirectLane | None = None
) -> async_sessionmaker[AsyncSession]:
    """Sessions of the service; with `direct` (PostgreSQL), their one-statement units of work take that lane."""
    # Objects stay readable after commit: API responses are built from them once the unit of work is done.
    info = {_DIRECT_LANE: direct} if direct is not None else None
    return async_sessionmaker(
        engine, class_=ServiceSession, expire_on_commit=False, sync_session_class=UnitOfWork, info=info
    )


def direct_lane(session: AsyncSession) -> DirectLane | None:
    """The session's direct lane, if it has one and no transaction in progress: a unit of work that is one
    statement may then run (and commit) there, with nothing of the session's own left out of it."""
    lane: DirectLane | None = session.info.get(_DIRECT_LANE)
    return lane if lane is not None and not session.in_transaction() else None


async def ping(engine: AsyncEngine) -> None:
    """One round trip to the database; raises if it cannot be reached."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
