"""Write transactions as one unit of work: a plain function over a `StatementRunner`.

Placing a batch or acknowledging an entry runs a handful of statements. Through aiosqlite each
SQLAlchemy statement costs three or four hand-offs to the driver's thread (cursor, execute, fetch,
close), and on a busy machine every hand-off is a thread switch: a 20-line placement spent ~10 ms
queueing. So on SQLite the whole transaction (BEGIN IMMEDIATE .. COMMIT) runs inside the driver's
thread in ONE hand-off, on the raw `sqlite3` connection, with the same SQL and the same stored
forms as SQLAlchemy would use (each statement is compiled once for SQLite and its parameters go
through the column types' bind processors). On PostgreSQL the same function runs through
SQLAlchemy on the async connection (`run_sync`): a round trip per statement, as before.

Many rows (a batch's legs, a frame's reports and leg updates) go to SQLite as a few multi-row
statements rather than an executemany, which steps (and lets go of the GIL) once per row; see
`_SqliteRunner._execute_in_chunks`.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from operator import itemgetter
from typing import Any, NoReturn, Protocol, TypeVar

from sqlalchemy import Connection, Table, bindparam, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import ClauseElement, Insert
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

    def update_rows(
        self, table: Table, key: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        """Per row (the `key` column's value, then the new values of `columns`, in that order):
        `UPDATE table SET columns WHERE key = value`. Each key at most once."""
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

    def update_rows(
        self, table: Table, key: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        if rows:
            statement, names = _keyed_update(table, key, tuple(columns))
            self.execute_rows(statement, names, rows)


_keyed_updates: dict[tuple[Table, str, tuple[str, ...]], tuple[ClauseElement, tuple[str, ...]]] = {}


def _keyed_update(table: Table, key: str, columns: tuple[str, ...]) -> tuple[ClauseElement, tuple[str, ...]]:
    """`UPDATE table SET column = :new_column ... WHERE key = :key_key` and its parameters' names
    in the order of an `update_rows` row."""
    cache_key = (table, key, columns)
    cached = _keyed_updates.get(cache_key)
    if cached is None:
        key_name = f"key_{key}"
        statement = (
            update(table)
            .where(table.c[key] == bindparam(key_name, type_=table.c[key].type))
            .values({column: bindparam(f"new_{column}", type_=table.c[column].type) for column in columns})
        )
        cached = (statement, (key_name, *(f"new_{column}" for column in columns)))
        _keyed_updates[cache_key] = cached
    return cached


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
    # When rows can go in as one VALUES list: the SQL before it, one row's "(?, ...)", the SQL
    # after it (a plain INSERT of whole rows, or `update_rows`' statement).
    values_row: tuple[str, str, str] | None = None
    # The SQL of n rows in one statement, by n (made once per n).
    _many_rows_sql: dict[int, str] = field(default_factory=dict, compare=False)

    def many_rows_sql(self, count: int) -> str:
        sql = self._many_rows_sql.get(count)
        if sql is None:
            assert self.values_row is not None
            head, row, tail = self.values_row
            sql = head + ", ".join([row] * count) + tail
            self._many_rows_sql[count] = sql
        return sql

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

    def processed_flat(self, rows: Sequence[Sequence[Any]]) -> list[Any]:
        """The values of `processed(rows)`, row after row in one list (what a multi-row VALUES
        statement takes): flattened first, each column then converted in place through a slice,
        with no transposing of the rows to columns and back."""
        flat = list(chain.from_iterable(rows))
        width = len(self.names)
        for position, process in self.processors:
            flat[position::width] = _processed_column(process, flat[position::width])
        return flat

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


# "INSERT INTO t (a, b) VALUES (?, ?)" and nothing after it (no ON CONFLICT, no RETURNING).
_ONE_ROW_OF_VALUES = re.compile(r"(INSERT INTO [^()]+ \([^()]*\) VALUES )(\(\?(?:, \?)*\))")

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
    values_row = None
    if isinstance(statement, Insert) and names and required == frozenset(names):
        whole_rows = _ONE_ROW_OF_VALUES.fullmatch(compiled.string)
        if whole_rows is not None and whole_rows.group(2).count("?") == len(names):
            values_row = (whole_rows.group(1), whole_rows.group(2), "")
    result = _Compiled(
        compiled.string,
        names,
        tuple(bind.effective_value for bind in binds),
        required,
        tuple((position, process) for position, process in enumerate(processors) if process is not None),
        take_all,
        values_row,
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
        self._write_rows(compiled, compiled.parameter_rows(rows))

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
        if compiled.values_row is None or len(rows) == 1:
            self._connection.executemany(compiled.sql, compiled.processed([tuple(row) for row in rows]))
        else:
            self._execute_in_chunks(compiled, compiled.processed_flat(rows), len(rows))

    def _write_rows(self, compiled: _Compiled, rows: list[tuple[Any, ...]]) -> None:
        self.last_sql = compiled.sql
        if compiled.values_row is None or len(rows) == 1:
            self._connection.executemany(compiled.sql, rows)
        else:
            self._execute_in_chunks(compiled, list(chain.from_iterable(rows)), len(rows))

    def update_rows(
        self, table: Table, key: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        if not rows:
            return
        compiled = _keyed_update_sql(table, key, tuple(columns))
        width = len(compiled.names)
        if len(rows[0]) != width or len(set(map(len, rows))) != 1:
            raise ValueError(
                f"each row needs {width} values ({', '.join(compiled.names)}) to update {table.name}"
            )
        if len({row[0] for row in rows}) != len(rows):
            raise ValueError(f"update_rows of {table.name}: a {key} is given twice; give each once")
        self.last_sql = compiled.sql
        if compiled.values_row is None:  # an SQLite without UPDATE .. FROM (before 3.33)
            self._connection.executemany(compiled.sql, compiled.processed([tuple(row) for row in rows]))
        else:
            self._execute_in_chunks(compiled, compiled.processed_flat(rows), len(rows))

    def _execute_in_chunks(self, compiled: _Compiled, values: list[Any], row_count: int) -> None:
        # Many rows in few statements. Each sqlite3 step lets go of the GIL and executemany steps
        # once per row: with another thread of the process busy (the order file's writer), taking
        # the GIL back can wait a whole switch interval (5 ms), once per row. In chunks of 2**k
        # rows (a count's binary digits), so the SQL texts are few and each is prepared once per
        # connection (sqlite3's statement cache). A VALUES list yields its rows in order: inserted
        # rows get their row ids in the order given. `values`: the rows' values, row after row.
        width = len(compiled.names)
        largest = _largest_chunk(width)
        start, remaining = 0, row_count
        while remaining:
            count = min(largest, 1 << (remaining.bit_length() - 1))
            end = start + count * width
            self._connection.execute(compiled.many_rows_sql(count), values[start:end])
            start = end
            remaining -= count


# SQLite allowed at most 999 parameters in a statement before 3.32; chunks stay under that, and
# under 128 rows (a longer VALUES list saves nothing more, and costs more to prepare).
_MAX_PARAMETERS = 999
_MAX_CHUNK_ROWS = 128


def _largest_chunk(width: int) -> int:
    fitting = max(1, min(_MAX_CHUNK_ROWS, _MAX_PARAMETERS // max(width, 1)))
    return 1 << (fitting.bit_length() - 1)


_UPDATE_FROM = sqlite3.sqlite_version_info >= (3, 33, 0)
_keyed_update_sqls: dict[tuple[Table, str, tuple[str, ...]], _Compiled] = {}


def _keyed_update_sql(table: Table, key: str, columns: tuple[str, ...]) -> _Compiled:
    """`update_rows` on SQLite: the rows as a VALUES list joined to the table by its key
    (`WITH new_values (key, a, b) AS (VALUES (?, ?, ?), ...) UPDATE t SET a = new_values.a ...
    FROM new_values WHERE t.key = new_values.key`), each key found through the table's index.
    `sql` is the one-row statement (numbered parameters, in the same order)."""
    cache_key = (table, key, columns)
    cached = _keyed_update_sqls.get(cache_key)
    if cached is not None:
        return cached
    names = (key, *columns)
    quote = _DIALECT.identifier_preparer.quote
    target = _DIALECT.identifier_preparer.format_table(table)
    processors = [table.c[name].type.dialect_impl(_DIALECT).bind_processor(_DIALECT) for name in names]
    one_row = (
        f"UPDATE {target} SET "
        + ", ".join(f"{quote(column)} = ?{position}" for position, column in enumerate(columns, start=2))
        + f" WHERE {quote(key)} = ?1"
    )
    values_row = None
    if _UPDATE_FROM:
        values_row = (
            f"WITH new_values ({', '.join(map(quote, names))}) AS (VALUES ",
            "(" + ", ".join("?" * len(names)) + ")",
            f") UPDATE {target} SET "
            + ", ".join(f"{quote(column)} = new_values.{quote(column)}" for column in columns)
            + f" FROM new_values WHERE {target}.{quote(key)} = new_values.{quote(key)}",
        )
    compiled = _Compiled(
        one_row,
        names,
        (None,) * len(names),
        frozenset(names),
        tuple((position, process) for position, process in enumerate(processors) if process is not None),
        None,
        values_row,
    )
    _keyed_update_sqls[cache_key] = compiled
    return compiled
