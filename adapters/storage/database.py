"""Engines for the cloud's database: SQLite (a file, the default) or PostgreSQL, by URL.

Users write plain URLs (`sqlite:///data/tradebridge.db`, `postgresql://user@host/db`); this module
picks the async driver (aiosqlite, asyncpg) and sets SQLite up for a server: WAL journal, foreign
keys on, a busy timeout, and `BEGIN IMMEDIATE` for write transactions so that two writers queue
for the lock instead of failing half-way with "database is locked". Writers of one process also
take turns on an asyncio lock first: SQLite's busy handler retries by sleeping (1, 2, 5 ms ...), so
a placement arriving during an acknowledgement's commit would otherwise sleep for milliseconds.
"""

from __future__ import annotations

import asyncio
import re
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, Pool, PoolResetState

SQLITE_BUSY_TIMEOUT_MS = 10_000
_WRITE_OPTION = "tradebridge_write"
_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class DatabaseUrlError(ValueError):
    """A database URL this program cannot use; the message shows the forms it accepts."""


_ACCEPTED = "use sqlite:///path/to/file.db or postgresql://user:password@host:5432/database"


def normalize_url(url: str) -> URL:
    """The SQLAlchemy URL with the async driver for a user's `sqlite://` or `postgresql://` URL."""
    try:
        parsed = make_url(url.strip())
    except ArgumentError:
        raise DatabaseUrlError(f"database URL {url!r} is not a URL; {_ACCEPTED}") from None
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "sqlite" and driver in ("", "aiosqlite"):
        if not parsed.database or parsed.database == ":memory:":
            raise DatabaseUrlError(
                f"database URL {url!r} names no file; an in-memory database would lose every order "
                f"on restart, {_ACCEPTED}"
            )
        return parsed.set(drivername="sqlite+aiosqlite")
    if backend in ("postgresql", "postgres") and driver in ("", "asyncpg"):
        if not parsed.database:
            raise DatabaseUrlError(f"database URL {url!r} names no database; {_ACCEPTED}")
        return parsed.set(drivername="postgresql+asyncpg")
    raise DatabaseUrlError(f"database URL scheme {parsed.drivername!r} is not supported; {_ACCEPTED}")


def create_engine_from_url(url: str, *, schema: str | None = None, echo: bool = False) -> AsyncEngine:
    """An async engine for `url`. `schema` (PostgreSQL only) puts every table in that schema,
    which must exist, by setting the connections' search_path."""
    target = normalize_url(url)
    if target.get_backend_name() == "sqlite":
        if schema is not None:
            raise DatabaseUrlError("a schema can only be chosen on PostgreSQL; SQLite has one per file")
        return _sqlite_engine(target, echo)
    connect_args: dict[str, Any] = {"server_settings": {"timezone": "UTC"}}
    if schema is not None:
        if not _SCHEMA_NAME.match(schema):
            raise DatabaseUrlError(f"schema name {schema!r} must be letters, digits and _ (at most 63)")
        connect_args["server_settings"]["search_path"] = schema
    return create_async_engine(target, echo=echo, pool_pre_ping=True, connect_args=connect_args)


def _sqlite_engine(target: URL, echo: bool) -> AsyncEngine:
    assert target.database is not None
    Path(target.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    # The pool's own reset (a ROLLBACK on every return) is replaced by _on_reset below.
    engine = create_async_engine(target, echo=echo, pool_reset_on_return=None)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "reset")
    def _on_reset(_dbapi_connection: Any, record: ConnectionPoolEntry, state: PoolResetState) -> None:
        # Roll back only a transaction still open: the rollback of a finished one changes nothing
        # but costs a hand-off to the driver's thread, on every return to the pool.
        if not state.asyncio_safe or state.transaction_was_reset:
            return
        driver = record.driver_connection  # the aiosqlite.Connection
        if driver is not None and driver.in_transaction:
            record.dbapi_connection.rollback()  # type: ignore[union-attr]

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # A deferred transaction that reads and then writes fails at once with SQLITE_BUSY when
        # another writer got there first; IMMEDIATE takes the write lock up front and waits.
        immediate = connection.get_execution_options().get(_WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


# Per SQLite connection pool (an engine and its option variants share one) and event loop (an
# asyncio.Lock belongs to one): the writers' turn.
_writer_locks: weakref.WeakKeyDictionary[Pool, tuple[asyncio.AbstractEventLoop, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


@asynccontextmanager
async def sqlite_writer_turn(engine: AsyncEngine) -> AsyncIterator[None]:
    """On SQLite, wait for this process's other writers on `engine` (first come, first served);
    on PostgreSQL (row locks, many writers) nothing."""
    if engine.dialect.name != "sqlite":
        yield
        return
    loop = asyncio.get_running_loop()
    held = _writer_locks.get(engine.pool)
    if held is None or held[0] is not loop:
        held = (loop, asyncio.Lock())
        _writer_locks[engine.pool] = held
    async with held[1]:
        yield


@asynccontextmanager
async def write_transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A transaction that will write: committed on success, rolled back on any exception."""
    async with (
        sqlite_writer_turn(engine),
        engine.execution_options(**{_WRITE_OPTION: True}).begin() as connection,
    ):
        yield connection


@asynccontextmanager
async def read_transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A transaction that only reads: one consistent snapshot for several queries."""
    async with engine.begin() as connection:
        yield connection
