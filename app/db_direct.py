"""The order path's units of work on raw asyncpg connections: the direct lane (PostgreSQL, issue 10).

A statement run through an `AsyncSession` costs ~1 ms of CPU: BEGIN, the statement through the ORM and SQLAlchemy's
asyncpg adapter, COMMIT, the session's bookkeeping. The same statement on a raw asyncpg connection in autocommit is
one round trip and ~0.2 ms. The statements are still SQLAlchemy's (`order_statements` builds them), compiled once
here with the engine's dialect; values go in through their types' bind processors and come back through the
columns' result processors, and the JSON codecs are the dialect's own, so what is written and read is exactly what
the ORM would write and read.

`DirectLane.fetch` is one statement in autocommit: it commits when it returns, so it is only for a unit of work
that is that statement. With `group_by`, concurrent calls of the same statement share one round trip and one commit
(group commit, `_StatementGroup`); each is still a unit of work of its own, and its caller is answered once the
group is committed. `DirectLane.transaction` is several, with Python between them (a fill). Rows come back as
detached ORM objects with every column loaded, to be read (or moved in memory, then written by the lane's own
statements): a change through a session locks the row again there.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from decimal import Decimal
from types import SimpleNamespace
from typing import Any, TypeVar

import asyncpg
from prometheus_client import Histogram
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import class_mapper, make_transient_to_detached
from sqlalchemy.orm.attributes import instance_state
from sqlalchemy.sql import Executable
from sqlalchemy.types import TypeEngine

__all__ = [
    "CompiledStatement",
    "DirectLane",
    "LaneTransaction",
    "column_values",
    "detached",
    "from_row",
    "numerics_as_text",
]

T = TypeVar("T")

# At most this many calls in one group commit: one statement's rows stay a small message, and a caller behind a
# full group waits for one more round trip at most.
MAX_GROUP = 64
GROUP_CALLS = Histogram(
    "db_group_commit_calls",
    "Units of work committed together by one group commit of the direct lane",
    buckets=(1, 2, 4, 8, 16, 32, 64),
)


@functools.cache
def _attribute_keys(entity: type[Any]) -> dict[str, str]:
    return {prop.columns[0].name: prop.key for prop in class_mapper(entity).column_attrs}


def from_row(entity: type[T], row: Mapping[str, Any], prefix: str = "") -> T:
    """`detached` from a row of the entity's columns (named `prefix` + column name)."""
    keys = _attribute_keys(entity)
    return detached(entity, {key: row[prefix + name] for name, key in keys.items() if prefix + name in row})


def column_values(instance: Any, columns: Sequence[Any]) -> dict[str, Any]:
    """An ORM object's values of these table columns, by column name."""
    keys = _attribute_keys(type(instance))
    return {column.name: getattr(instance, keys[column.name]) for column in columns}


@functools.cache
def _shape(entity: type[Any]) -> tuple[Any, frozenset[str], tuple[str, ...]]:
    """The entity's class manager, its column attributes' keys and its primary key's."""
    mapper = class_mapper(entity)
    columns = frozenset(prop.key for prop in mapper.column_attrs)
    return mapper.class_manager, columns, tuple(mapper.get_property_by_column(c).key for c in mapper.primary_key)


def detached(entity: type[T], values: Mapping[str, Any]) -> T:
    """A detached ORM object of `entity` with `values` as its loaded state (as if read by a query: ~8 µs instead of
    ~85 µs through the constructor). Given every column, it only needs its identity key, which
    `make_transient_to_detached` would compute with much else (~25 µs); given fewer, that function expires the
    others, so reading one raises instead of answering None. Relationships are never loaded: reading one raises
    (`DetachedInstanceError`)."""
    manager, columns, primary_key = _shape(entity)
    instance: T = manager.new_instance()
    instance.__dict__.update(values)
    if columns <= values.keys():
        instance_state(instance).key = (entity, tuple(values[key] for key in primary_key), None)
    else:
        make_transient_to_detached(instance)
    return instance


class CompiledStatement:
    """A SQLAlchemy statement compiled once for asyncpg: its SQL, how a dict of parameters becomes its positional
    arguments, and how a returned row becomes Python values (by `result_types`, column name → type)."""

    def __init__(self, statement: Executable, dialect: Dialect, result_types: Mapping[str, TypeEngine[Any]]) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = compiled.string
        self._dialect = dialect
        self._result_types = result_types
        # Python-side column defaults (created_at, is_external …) and onupdate values (updated_at) are computed by
        # SQLAlchemy's execution context, not held in the compiled statement: computed here the same way.
        defaults = {column.key: column.default for column in compiled.insert_prefetch}
        defaults.update({column.key: column.onupdate for column in compiled.update_prefetch})
        self._arguments: list[tuple[str, Any, Any, Any]] = []  # name, processor, fixed value, default
        for name in compiled.positiontup or ():
            bind = compiled.binds[name]
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            self._arguments.append((name, processor, bind.value, defaults.get(name)))
        self._result_processors: dict[str, Any] | None = None  # by column name, once the row's types are known

    def arguments(self, parameters: Mapping[str, Any]) -> list[Any]:
        values = []
        for name, processor, fixed, default in self._arguments:
            if name in parameters:
                value = parameters[name]
            elif default is not None:
                value = default.arg(None) if default.is_callable else default.arg
            else:
                value = fixed  # a literal of the statement
            values.append(processor(value) if processor is not None else value)
        return values

    def learn_row_types(self, attributes: Sequence[Any]) -> None:
        """The result processors, from the prepared statement's column types (a NUMERIC's needs its OID)."""
        processors = {}
        for attribute in attributes:
            kind = self._result_types.get(attribute.name)
            if kind is None:
                raise KeyError(f"no type given for the returned column {attribute.name!r} of: {self.sql}")
            processors[attribute.name] = kind.dialect_impl(self._dialect).result_processor(
                self._dialect, attribute.type.oid
            )
        self._result_processors = processors

    def row(self, record: asyncpg.Record) -> dict[str, Any]:
        assert self._result_processors is not None
        return {
            name: (processor(value) if (processor := self._result_processors[name]) is not None else value)
            for name, value in record.items()
        }


async def numerics_as_text(connection: asyncpg.Connection) -> None:
    """NUMERIC values cross the wire as text: `str(Decimal)` out, `Decimal(str)` in, both exact (the scale kept,
    as PostgreSQL's binary format keeps it). asyncpg's binary codec took ~2.3 µs per Decimal sent and text takes
    ~0.3 (40 parameters: 120 against 36 µs a statement, 2026-11-30); a fill's write sends ~20."""
    await connection.set_type_codec("numeric", encoder=str, decoder=Decimal, schema="pg_catalog", format="text")


async def _no_reset(_connection: asyncpg.Connection) -> None:
    """Nothing to reset: the lane runs statements in autocommit, or in a transaction that ends with its block,
    and never changes a session setting."""


class DirectLane:
    """A small pool of raw asyncpg connections (autocommit) beside the engine's, for one-statement units of work.

    Errors come out as SQLAlchemy's, so the service's handlers treat them as any other database error: the pool's
    timeout as `TimeoutError` (503 database_busy), a lost connection as `OperationalError` (503), a constraint as
    `IntegrityError` (an idempotency key that raced in)."""

    def __init__(self, pool: asyncpg.Pool, dialect: Dialect, timeout_s: float) -> None:
        self._pool = pool
        # Connections checked out of the pool and idle: the next unit of work takes one without the pool's own
        # checkout and return, which start an asyncio task each (`wait_for` for the timeout, `shield` on release):
        # ~30 µs of CPU each way, two or three times per order (issue 10). They stay counted as in use by the
        # pool, so its size still bounds them all, and the pool is asked only when none is idle.
        self._idle: list[asyncpg.Connection] = []
        self._waiting = 0  # callers waiting for the pool: a connection that ends its work goes to them, not idle
        self._dialect = dialect
        self._timeout_s = timeout_s
        self._compiled: dict[Executable, CompiledStatement] = {}
        self._groups: dict[tuple[CompiledStatement, str, str], _StatementGroup] = {}

    @classmethod
    async def open(cls, engine: AsyncEngine, *, size: int, timeout_s: float) -> DirectLane:
        if engine.dialect.name != "postgresql":
            raise ValueError("the direct lane is PostgreSQL's (asyncpg)")
        dialect = engine.dialect

        async def codecs(connection: asyncpg.Connection) -> None:
            adapted = SimpleNamespace(_connection=connection)  # what the dialect's codec set-up reads
            await dialect.setup_asyncpg_json_codec(adapted)  # type: ignore[attr-defined]
            await dialect.setup_asyncpg_jsonb_codec(adapted)  # type: ignore[attr-defined]
            await numerics_as_text(connection)

        dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        # No connection opened here (min_size=0): the service starts, and says it is not ready, while the
        # database is down, as with the engine's pool.
        pool = await asyncpg.create_pool(dsn, min_size=0, max_size=size, init=codecs, reset=_no_reset)
        return cls(pool, dialect, timeout_s)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            await self._give_back(connection)
        await self._pool.close()

    def compiled(self, statement: Executable, result_types: Mapping[str, TypeEngine[Any]]) -> CompiledStatement:
        compiled = self._compiled.get(statement)
        if compiled is None:
            compiled = self._compiled[statement] = CompiledStatement(statement, self._dialect, result_types)
        return compiled

    async def fetch(
        self,
        statement: CompiledStatement,
        parameters: Mapping[str, Any],
        *,
        group_by: tuple[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        """Run the statement as its own transaction; its rows, as Python values.

        `group_by` (a parameter's name, the returned column that equals it) lets concurrent calls of this statement
        share a round trip and a commit: each call's rows are those whose column equals its parameter."""
        if group_by is None:
            async with self._connection() as connection:
                return await _fetch_on(connection, statement, parameters)
        group = self._groups.get((statement, *group_by))
        if group is None:
            group = self._groups[(statement, *group_by)] = _StatementGroup(self, statement, *group_by)
        return await group.fetch(parameters)

    async def fetch_many(
        self, statement: CompiledStatement, parameters: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        """The statement once per set of parameters, in order, as one transaction (all or nothing) and one round
        trip; every execution's rows, in order."""
        arguments = [statement.arguments(p) for p in parameters]  # a value its type refuses is not the connection's
        async with self._connection() as connection:
            return await _run_on(connection, statement, lambda: connection.fetchmany(statement.sql, arguments))

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[LaneTransaction]:
        """Several statements as one transaction on one lane connection (BEGIN … COMMIT), for a unit of work with
        Python between its statements (a fill: the position's arithmetic runs on the rows it has locked). Committed
        when the block ends, rolled back if it raises."""
        async with self._connection() as connection:
            try:
                async with connection.transaction():
                    yield LaneTransaction(connection)
            except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError) as exc:  # BEGIN or COMMIT failed
                raise _as_sqlalchemy_error(exc, "BEGIN/COMMIT") from exc

    async def _give_back(self, connection: asyncpg.Connection) -> None:
        """Back to the pool. A connection the server closes as it goes back was taken back by the pool itself
        meanwhile (asyncpg checks that before its release, which runs a loop turn later, then finds the holder
        free and raises InternalClientError): it is back, and the error is not the caller's (CI, 2026-12-06: a
        terminated backend's release failed a test)."""
        try:
            await self._pool.release(connection)
        except asyncpg.InternalClientError:
            if _is_open(connection):
                raise

    async def _idle_connection(self) -> asyncpg.Connection | None:
        """An idle connection that is still open. One the server closed meanwhile (a restart) is not: the pool took
        it back itself when it closed (its proxy then only raises "released back to the pool", and across a
        restart each idle one failed a unit of work so, pushes' moves included); one closed and not taken back is
        given back here."""
        while self._idle:
            connection = self._idle.pop()
            if _is_open(connection):
                return connection
            await self._give_back(connection)  # nothing to do for one the pool took back
        return None

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[asyncpg.Connection]:
        """An idle connection, else one from the pool. Back to the idle ones when the block ends normally (its
        statements answered, no transaction open) and no caller is waiting for the pool; otherwise to the pool,
        which hands it to the first caller waiting (one kept idle would leave them waiting until their timeout),
        and whose release waits out a query being cancelled and closes a broken connection, so that no idle
        connection is in an unknown state."""
        connection = await self._idle_connection()
        if connection is None:
            self._waiting += 1
            try:
                connection = await self._pool.acquire(timeout=self._timeout_s)
            except TimeoutError as exc:
                raise sa_exc.TimeoutError("every connection of the direct lane is in use") from exc
            except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError) as exc:  # it could not be made
                raise _as_sqlalchemy_error(exc, "connect") from exc
            finally:
                self._waiting -= 1
        try:
            yield connection
        except BaseException:
            await self._give_back(connection)
            raise
        if self._waiting or not _is_open(connection) or connection.is_in_transaction():
            await self._give_back(connection)  # kept idle, it would not wake a caller waiting in the pool
        else:
            self._idle.append(connection)


def _is_open(connection: asyncpg.Connection) -> bool:
    try:
        return not connection.is_closed()
    except asyncpg.InterfaceError:  # its proxy detached: the pool took it back when the server closed it
        return False


class LaneTransaction:
    """The statements of one `DirectLane.transaction`."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self._connection = connection

    async def fetch(self, statement: CompiledStatement, parameters: Mapping[str, Any]) -> list[dict[str, Any]]:
        return await _fetch_on(self._connection, statement, parameters)


class _StatementGroup:
    """Group commit of one statement: the calls that arrive while the group before theirs is running are run
    together, as `DirectLane.fetch_many` (one round trip, one transaction, one WAL flush), which costs PostgreSQL
    and this process a fraction of as many statements (issue 10). A call alone runs at once, as before.

    - Each call is a unit of work of its own: answered once its group is committed, with its own rows (by the
      grouping key). A key already waiting goes in the next group, so rows always tell their call.
    - A group is ordered by its key, so groups of statements that lock rows by that key (an order's id) lock them
      in one order and cannot deadlock each other.
    - A group is all or nothing in PostgreSQL: when it fails on a statement's error (a constraint, a deadlock),
      nothing of it was written and each of its calls runs alone, to meet its own outcome. A connection's error
      (the pool's timeout, a lost connection) is every call's.
    - The group runs in a task of its own: a caller that goes away (a request cancelled) does not cancel the
      others' work; its own may still be committed, as a statement already sent would be."""

    def __init__(self, lane: DirectLane, statement: CompiledStatement, parameter: str, column: str) -> None:
        self._lane = lane
        self._statement = statement
        self._parameter = parameter
        self._column = column
        self._waiting: dict[Any, tuple[Mapping[str, Any], asyncio.Future[list[dict[str, Any]]]]] = {}
        self._later: list[tuple[Mapping[str, Any], asyncio.Future[list[dict[str, Any]]]]] = []  # keys waiting
        self._runner: asyncio.Task[None] | None = None

    async def fetch(self, parameters: Mapping[str, Any]) -> list[dict[str, Any]]:
        future: asyncio.Future[list[dict[str, Any]]] = asyncio.get_running_loop().create_future()
        self._add(parameters, future)
        if self._runner is None:
            self._runner = asyncio.create_task(self._run())
        return await future

    def _add(self, parameters: Mapping[str, Any], future: asyncio.Future[list[dict[str, Any]]]) -> None:
        key = parameters[self._parameter]
        if key in self._waiting:
            self._later.append((parameters, future))
        else:
            self._waiting[key] = (parameters, future)

    async def _run(self) -> None:
        try:
            while self._waiting:
                keys = sorted(self._waiting)[:MAX_GROUP]
                calls = [self._waiting.pop(key) for key in keys]
                later, self._later = self._later, []
                for parameters, future in later:
                    self._add(parameters, future)
                calls = [(parameters, future) for parameters, future in calls if not future.done()]
                if calls:
                    await self._commit(calls)
        finally:
            self._runner = None

    async def _commit(self, calls: list[tuple[Mapping[str, Any], asyncio.Future[list[dict[str, Any]]]]]) -> None:
        GROUP_CALLS.observe(len(calls))
        try:
            rows = await self._lane.fetch_many(self._statement, [parameters for parameters, _ in calls])
        except sa_exc.DatabaseError as exc:
            if len(calls) == 1 or isinstance(exc, sa_exc.OperationalError):
                _answer_all(calls, exc)
                return
            for parameters, future in calls:  # nothing was written: each alone, to meet its own outcome
                await _settle(future, lambda p=parameters: self._lane.fetch(self._statement, p))
            return
        except BaseException as exc:  # the pool's timeout (sa TimeoutError), a cancel at shutdown: every call's
            _answer_all(calls, exc)
            if not isinstance(exc, Exception):
                raise
            return
        by_key: dict[Any, list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            by_key[row[self._column]].append(row)
        for parameters, future in calls:
            if not future.done():
                future.set_result(by_key.get(parameters[self._parameter], []))


def _again(exc: BaseException) -> BaseException:
    """A copy of a group's error for each of its calls (one exception object raised in many tasks would share,
    and keep growing, one traceback)."""
    again = copy.copy(exc)
    again.__cause__ = exc.__cause__
    return again


def _answer_all(
    calls: Sequence[tuple[Mapping[str, Any], asyncio.Future[list[dict[str, Any]]]]],
    error: BaseException,
) -> None:
    for _, future in calls:
        if not future.done():
            future.set_exception(_again(error))


async def _settle(
    future: asyncio.Future[list[dict[str, Any]]], call: Callable[[], Awaitable[list[dict[str, Any]]]]
) -> None:
    try:
        result = await call()
    except Exception as exc:
        if not future.done():
            future.set_exception(exc)
        return
    if not future.done():
        future.set_result(result)


async def _fetch_on(
    connection: asyncpg.Connection, statement: CompiledStatement, parameters: Mapping[str, Any]
) -> list[dict[str, Any]]:
    arguments = statement.arguments(parameters)
    return await _run_on(connection, statement, lambda: connection.fetch(statement.sql, *arguments))


async def _run_on(
    connection: asyncpg.Connection,
    statement: CompiledStatement,
    run: Callable[[], Awaitable[list[asyncpg.Record]]],
) -> list[dict[str, Any]]:
    try:
        attributes = None
        if statement._result_processors is None:
            attributes = (await connection.prepare(statement.sql)).get_attributes()
        records = await run()
    except asyncpg.PostgresError as exc:
        if isinstance(exc, asyncpg.PostgresConnectionError):
            _terminate(connection)
        raise _as_sqlalchemy_error(exc, statement.sql) from exc
    except Exception as exc:
        # The client's end of the connection is broken (lost, or in a state it cannot leave, as after the server
        # terminated it): never given out again; the pool opens a new one.
        _terminate(connection)
        raise _as_sqlalchemy_error(exc, statement.sql) from exc
    if attributes is not None:
        statement.learn_row_types(attributes)
    return [statement.row(record) for record in records]


def _terminate(connection: asyncpg.Connection) -> None:
    # InterfaceError: the pool took it back already, as it does itself when the server closes a connection (its
    # proxy is then detached); the next acquire opens a new one. Raised, it would replace the connection's error
    # (503 database_unavailable) with a 500.
    with contextlib.suppress(asyncpg.InterfaceError):
        connection.terminate()


def server_unavailable(error: BaseException | None) -> bool:
    """An error of the server's state, not of the statement: PEP 249's OperationalError (503 database_unavailable),
    as psycopg maps SQLSTATE classes 08 (the connection), 53 (insufficient resources: too many connections), 57
    (operator intervention: starting up, shutting down, terminated, canceled) and 58 (system error). asyncpg and
    SQLAlchemy's asyncpg dialect leave 53, 57 and 58 a plain database error, a 500: across a restart under load,
    five requests were answered so, one for an order the exchange had accepted (its client never told)."""
    sqlstate = getattr(error, "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate[:2] in {"08", "53", "57", "58"}


def _as_sqlalchemy_error(exc: Exception, sql: str) -> Exception:
    if isinstance(exc, asyncpg.IntegrityConstraintViolationError):
        return sa_exc.IntegrityError(sql, None, exc)
    if isinstance(exc, asyncpg.PostgresConnectionError) or server_unavailable(exc):
        return sa_exc.OperationalError(sql, None, exc)
    if isinstance(exc, asyncpg.PostgresError):  # the statement's own error, or an argument it cannot take: a 500
        return sa_exc.DatabaseError(sql, None, exc)
    return sa_exc.OperationalError(sql, None, exc)  # the connection: lost, refused, broken
