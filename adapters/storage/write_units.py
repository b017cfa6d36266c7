"""Write transactions as one unit of work: a plain function over a `StatementRunner`.

Placing a batch or acknowledging an entry runs a handful of statements. Through aiosqlite each
SQLAlchemy statement costs three or four hand-offs to the driver's thread (cursor, execute, fetch,
close), and on a busy machine every hand-off is a thread switch: a 20-line placement spent ~10 ms
queueing. So on SQLite the whole transaction (BEGIN IMMEDIATE .. COMMIT) runs inside the driver's
thread in ONE hand-off, on the raw `sqlite3` connection, with the same SQL and the same stored
forms as SQLAlchemy would use (each statement is compiled once for SQLite and its parameters go
through the column types' bind processors). On PostgreSQL the same function runs through
SQLAlchemy on the async connection (`run_sync`): a round trip per statement, as before.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, NoReturn, Protocol, TypeVar

from sqlalchemy import Connection
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.crud import REQUIRED

from adapters.storage.database import sqlite_writer_turn, write_transaction

T = TypeVar("T")
Params = Mapping[str, Any]


class StatementRunner(Protocol):
    """Runs Core statements inside the current write transaction."""

    dialect_name: str

    def first(self, statement: ClauseElement, params: Params) -> Sequence[Any] | None:
        """The first row of a query, or None. Only for integers and text: on SQLite the values
        come back as the driver gives them, without the column types' conversions."""
        ...

    def rows(self, statement: ClauseElement, params: Params) -> list[Sequence[Any]]:
        """Every row of a query (the same caveat on values as `first`)."""
        ...

    def execute(self, statement: ClauseElement, params: Params) -> None:
        """Run one statement."""
        ...

    def execute_many(self, statement: ClauseElement, rows: Sequence[Params]) -> None:
        """Run one statement for each parameter set (one call, not one per row)."""
        ...

    def execute_rows(
        self, statement: ClauseElement, names: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        """`execute_many` with each parameter set as a tuple of values in the order of `names`
        (no dict per row: for the hundreds of rows of a frame of statuses)."""
        ...


async def run_write(
    engine: AsyncEngine, work: Callable[[StatementRunner], T], *, durable: bool = True
) -> T:
    """Run `work` in one write transaction: committed if it returns, rolled back if it raises.
    `work` must only use the runner (on SQLite it runs in the driver's thread, not on the loop).

    `durable=False` is for writes whose loss in a power cut is harmless because they are redone
    (an executor's acknowledgement: a batch whose ack is lost is sent again on resume, and the
    executor's journal recognises it): the commit does not wait for the disk (SQLite
    `synchronous=NORMAL` for that transaction, PostgreSQL `synchronous_commit = off`). It is
    still atomic and ordered: a later durable commit makes it durable too."""
    if engine.dialect.name != "sqlite":
        async with write_transaction(engine) as connection:
            if not durable:
                await connection.exec_driver_sql("SET LOCAL synchronous_commit = off")
            return await connection.run_sync(lambda sync: work(_AlchemyRunner(sync)))
    async with sqlite_writer_turn(engine), engine.connect() as connection:
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection  # the aiosqlite.Connection
        # aiosqlite runs every call of a connection on that connection's own thread; `_execute`
        # queues one function there (SQLAlchemy's own aiosqlite adapter uses the same queue).
        result: T = await driver._execute(_immediate_transaction, driver._conn, work, durable)
        return result


def _immediate_transaction(
    connection: sqlite3.Connection, work: Callable[[StatementRunner], T], durable: bool = True
) -> T:
    # The engine's connections are in autocommit mode (isolation_level None): transactions are
    # begun explicitly. IMMEDIATE takes the write lock first (a writer of another process queues
    # on the busy timeout instead of failing half-way).
    runner = _SqliteRunner(connection)
    # In WAL mode NORMAL skips only the fsync of this commit's WAL frames; the next FULL commit
    # syncs the WAL file, these frames included.
    synchronous = None if durable else connection.execute("PRAGMA synchronous").fetchone()[0]
    try:
        if synchronous is not None:
            connection.execute("PRAGMA synchronous=NORMAL")
        runner.run("BEGIN IMMEDIATE")
        result = work(runner)
        runner.run("COMMIT")
    except BaseException as error:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        if isinstance(error, sqlite3.Error):
            # The same exception types as through SQLAlchemy (IntegrityError, OperationalError ...),
            # so callers and the HTTP error handlers see no difference.
            raise DBAPIError.instance(runner.last_sql, None, error, sqlite3.Error) from error
        raise
    finally:
        if synchronous is not None:
            connection.execute(f"PRAGMA synchronous={int(synchronous)}")
    return result


class _AlchemyRunner:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self.dialect_name = connection.dialect.name

    def first(self, statement: ClauseElement, params: Params) -> Sequence[Any] | None:
        row: Sequence[Any] | None = self._connection.execute(
            statement, dict(params)  # type: ignore[call-overload]
        ).first()
        return row

    def rows(self, statement: ClauseElement, params: Params) -> list[Sequence[Any]]:
        return list(self._connection.execute(statement, dict(params)).all())  # type: ignore[call-overload]

    def execute(self, statement: ClauseElement, params: Params) -> None:
        self._connection.execute(statement, dict(params))  # type: ignore[call-overload]

    def execute_many(self, statement: ClauseElement, rows: Sequence[Params]) -> None:
        self._connection.execute(statement, [dict(row) for row in rows])  # type: ignore[call-overload]

    def execute_rows(
        self, statement: ClauseElement, names: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        self.execute_many(statement, [dict(zip(names, row, strict=True)) for row in rows])


_DIALECT = sqlite.dialect()


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A statement as SQLite SQL with `?` placeholders, and how to fill them from named params."""

    sql: str
    names: tuple[str, ...]
    defaults: tuple[Any, ...]  # values bound in the statement itself (e.g. `id = 1`)
    required: frozenset[str]  # parameters without such a value
    processors: tuple[tuple[int, Callable[[Any], Any]], ...]  # (position, the type's bind processor)
    # When every parameter is required (an INSERT of whole rows): all of them in one C call.
    take_all: Callable[[Params], tuple[Any, ...]] | None = None

    def parameters(self, params: Params) -> list[Any]:
        if self.take_all is not None:
            try:
                values = list(self.take_all(params))
            except KeyError:
                self._refuse(params)
        else:
            if not self.required.issubset(params):
                self._refuse(params)
            values = list(map(params.get, self.names, self.defaults))
        for position, process in self.processors:
            value = values[position]
            if value is not None:
                values[position] = process(value)
        return values

    def parameter_rows(self, rows: Sequence[Params]) -> list[tuple[Any, ...]]:
        """`parameters` of each row (what executemany takes), the conversions done column by
        column."""
        if self.take_all is not None:
            try:
                values = list(map(self.take_all, rows))
            except KeyError:
                for params in rows:
                    if not self.required.issubset(params):
                        self._refuse(params)
                raise
        else:
            values = []
            for params in rows:
                if not self.required.issubset(params):
                    self._refuse(params)
                values.append(tuple(map(params.get, self.names, self.defaults)))
        return self.processed(values)

    def processed(self, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """Positional rows with each column through its type's bind processor."""
        if not self.processors or not rows:
            return rows
        columns: list[Sequence[Any]] = list(zip(*rows, strict=True))
        for position, process in self.processors:
            columns[position] = _processed_column(process, columns[position])
        return list(zip(*columns, strict=True))

    def _refuse(self, params: Params) -> NoReturn:
        missing = ", ".join(sorted(self.required.difference(params)))
        raise ValueError(f"a value is required for the parameter(s) {missing} of: {self.sql}")


def _processed_column(process: Callable[[Any], Any], column: Sequence[Any]) -> list[Any]:
    # None stays None, as in `parameters`. A value that is the same object as the one before it
    # (a frame's reports share one `reported_at`) is not converted again: a bind processor's
    # result depends on the value alone, which nothing changes during the call.
    out: list[Any] = []
    last: Any = None
    converted: Any = None
    for value in column:
        if value is not last:
            last = value
            converted = None if value is None else process(value)
        out.append(converted)
    return out


_compiled: dict[tuple[int, tuple[str, ...]], tuple[ClauseElement, _Compiled]] = {}
_MAX_COMPILED = 256  # the stores use a dozen statements, built once; this only bounds a misuse


def _compile(statement: ClauseElement, keys: tuple[str, ...]) -> _Compiled:
    cache_key = (id(statement), keys)
    cached = _compiled.get(cache_key)
    if cached is not None and cached[0] is statement:
        return cached[1]
    if len(_compiled) >= _MAX_COMPILED:
        _compiled.clear()
    compiled = statement.compile(dialect=_DIALECT, column_keys=list(keys))
    assert isinstance(compiled, SQLCompiler)
    names = tuple(compiled.positiontup or ())
    binds = [compiled.binds[name] for name in names]
    processors = [bind.type.dialect_impl(_DIALECT).bind_processor(_DIALECT) for bind in binds]
    # A parameter without a value in the statement: a plain bindparam (None), or an INSERT's column
    # (SQLAlchemy's REQUIRED marker, which must never reach the driver as a value).
    unset = [bind.effective_value is None or bind.effective_value is REQUIRED for bind in binds]
    required = frozenset(
        bind.key for bind, no_value in zip(binds, unset, strict=True) if bind.required and no_value
    )
    take_all = itemgetter(*names) if len(names) > 1 and required == frozenset(names) else None
    result = _Compiled(
        compiled.string,
        names,
        tuple(bind.effective_value for bind in binds),
        required,
        tuple((position, process) for position, process in enumerate(processors) if process is not None),
        take_all,
    )
    _compiled[cache_key] = (statement, result)  # the statement is kept, so its id stays its own
    return result


class _SqliteRunner:
    # sqlite3 keeps a cache of prepared statements per connection, keyed by the SQL text: the same
    # compiled text each time means each statement is prepared once per connection.
    dialect_name = "sqlite"

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection
        self.last_sql = ""

    def run(self, sql: str, parameters: Sequence[Any] = ()) -> sqlite3.Cursor:
        self.last_sql = sql
        return self._connection.execute(sql, parameters)

    def first(self, statement: ClauseElement, params: Params) -> Sequence[Any] | None:
        compiled = _compile(statement, tuple(params))
        row: Sequence[Any] | None = self.run(compiled.sql, compiled.parameters(params)).fetchone()
        return row

    def rows(self, statement: ClauseElement, params: Params) -> list[Sequence[Any]]:
        compiled = _compile(statement, tuple(params))
        return self.run(compiled.sql, compiled.parameters(params)).fetchall()

    def execute(self, statement: ClauseElement, params: Params) -> None:
        compiled = _compile(statement, tuple(params))
        self.run(compiled.sql, compiled.parameters(params))

    def execute_many(self, statement: ClauseElement, rows: Sequence[Params]) -> None:
        if not rows:
            return
        compiled = _compile(statement, tuple(rows[0]))
        self.last_sql = compiled.sql
        self._connection.executemany(compiled.sql, compiled.parameter_rows(rows))

    def execute_rows(
        self, statement: ClauseElement, names: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        if not rows:
            return
        keys = tuple(names)
        compiled = _compile(statement, keys)
        if compiled.names != keys:
            # Another order, or values bound in the statement itself: by name, as execute_many.
            self.execute_many(statement, [dict(zip(keys, row, strict=True)) for row in rows])
            return
        width = len(keys)
        if len(rows[0]) != width or len(set(map(len, rows))) != 1:
            raise ValueError(f"each row needs {width} values ({', '.join(keys)}) for: {compiled.sql}")
        self.last_sql = compiled.sql
        self._connection.executemany(compiled.sql, compiled.processed([tuple(row) for row in rows]))
