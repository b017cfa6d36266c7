"""`adapters.storage.write_units` on a real SQLite file: a write unit is all or nothing, driver
errors keep SQLAlchemy's exception types, a cancelled placement leaves the database consistent,
and the pool's reset hook rolls back only a transaction that is still open."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import threading
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import pytest
from sqlalchemy import bindparam, event, func, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import PoolResetState
from sqlalchemy.pool.base import ResetStyle

from adapters.storage import SqlBatchStore, create_engine_from_url, migrate
from adapters.storage.batch_rows import batch_row, leg_rows, line_rows
from adapters.storage.database import write_transaction
from adapters.storage.outbox import append_entries
from adapters.storage.tables import (
    batch_legs,
    batch_lines,
    batches,
    idempotency_keys,
    outbox,
    outbox_counter,
)
from adapters.storage.write_units import StatementRunner, run_write
from core.clock import ManualClock
from core.stores import StoreError, json_ready
from tests.contract.storage_builders import make_batch, payload_of

SETTLE = 10.0  # seconds: only a guard against a hang, never a measured time


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating costs more than the tests)."""
    path = tmp_path_factory.mktemp("write-units") / "template.db"
    asyncio.run(migrate(f"sqlite:///{path}"))
    return path


@dataclass
class Database:
    path: Path
    engine: AsyncEngine
    store: SqlBatchStore
    clock: ManualClock = field(default_factory=ManualClock)


@pytest.fixture
async def db(template: Path, tmp_path: Path) -> AsyncIterator[Database]:
    path = tmp_path / "cloud.db"
    shutil.copyfile(template, path)
    engine = create_engine_from_url(f"sqlite:///{path}")
    clock = ManualClock()
    try:
        yield Database(path, engine, SqlBatchStore(engine, clock), clock)
    finally:
        await engine.dispose()


@dataclass(frozen=True)
class Snapshot:
    batches: int
    lines: int
    legs: int
    outbox: int
    keys: int
    last_seq: int


async def snapshot(engine: AsyncEngine) -> Snapshot:
    async with engine.connect() as connection:
        counts = [
            int((await connection.execute(select(func.count()).select_from(table))).scalar_one())
            for table in (batches, batch_lines, batch_legs, outbox, idempotency_keys)
        ]
        last_seq = int((await connection.execute(select(outbox_counter.c.last_seq))).scalar_one())
    batch_count, line_count, leg_count, entry_count, key_count = counts
    return Snapshot(batch_count, line_count, leg_count, entry_count, key_count, last_seq)


async def assert_consistent(db: Database) -> Snapshot:
    """Every stored batch is whole (lines, 3 legs each, one outbox entry), the counter is the last
    entry's seq, and no connection still holds the write lock."""
    async with db.engine.connect() as connection:
        per_batch = (await connection.execute(text(
            "SELECT b.batch_id,"
            " (SELECT count(*) FROM batch_lines l WHERE l.batch_id = b.batch_id),"
            " (SELECT count(*) FROM batch_legs g WHERE g.batch_id = b.batch_id),"
            " (SELECT count(*) FROM outbox o WHERE o.batch_id = b.batch_id) FROM batches b"
        ))).all()
        max_seq = (await connection.execute(select(func.max(outbox.c.seq)))).scalar_one()
    state = await snapshot(db.engine)
    for batch_id, lines, legs, entries in per_batch:
        assert lines > 0 and legs == 3 * lines and entries == 1, (batch_id, lines, legs, entries)
    assert (state.lines, state.legs, state.outbox) == (
        sum(row[1] for row in per_batch), sum(row[2] for row in per_batch), len(per_batch)
    ), "rows of a batch that is not stored"
    assert state.last_seq == (max_seq or 0)
    assert_write_lock_free(db.path)
    return state


def assert_write_lock_free(path: Path) -> None:
    # A transaction left open on a pooled connection would still hold SQLite's write lock.
    probe = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
    finally:
        probe.close()


async def settle(db: Database) -> None:
    # Closing the pool waits for each connection's queued driver work: nothing can land later.
    await asyncio.wait_for(db.engine.dispose(), SETTLE)


async def place(db: Database, batch_id: str, **kwargs: Any) -> tuple[int, ...]:
    batch = make_batch(batch_id)
    placed = await db.store.place_batch(batch, ["DU1"], payload_of(batch), **kwargs)
    return tuple(entry.seq for entry in placed.entries)


class StatementLog:
    """Records the SQL each of the engine's SQLite connections runs (sqlite3's trace callback,
    called in the driver's thread). Armed with `hold_at`, it holds that thread at the first
    statement starting so until `release` is set: a placement caught half-way."""

    def __init__(self, engine: AsyncEngine, hold_at: str | None = None) -> None:
        self.statements: list[str] = []
        self.hold_at = hold_at
        self.reached = threading.Event()
        self.release = threading.Event()
        event.listen(engine.sync_engine, "connect", self._install)

    def _install(self, _dbapi_connection: Any, record: Any) -> None:
        record.driver_connection._conn.set_trace_callback(self._trace)

    def _trace(self, sql: str) -> None:
        self.statements.append(sql)
        if self.hold_at is not None and sql.startswith(self.hold_at):
            self.hold_at = None
            self.reached.set()
            self.release.wait(SETTLE)

    def ran(self, prefix: str) -> bool:
        return any(sql.startswith(prefix) for sql in self.statements)


# --- all or nothing ----------------------------------------------------------------------------------


async def test_a_placement_refused_at_its_last_statement_leaves_nothing_and_the_counter_unchanged(
    db: Database,
) -> None:
    assert await place(db, "B0") == (1,)
    before = await snapshot(db.engine)
    log = StatementLog(db.engine)
    await db.engine.dispose()  # new connections, so the log sees every statement
    async with db.engine.begin() as connection:
        # The idempotency key is the placement's last row: everything else is written by then.
        await connection.execute(text(
            "CREATE TRIGGER refuse_key BEFORE INSERT ON idempotency_keys "
            "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
        ))
    with pytest.raises(StoreError, match="nothing of it was") as refused:
        await place(db, "B1", idempotency_key="key-1", request_hash="hash-1")
    assert isinstance(refused.value.__cause__, IntegrityError)
    for prefix in ("INSERT INTO batches", "INSERT INTO batch_lines", "INSERT INTO batch_legs",
                   "INSERT INTO outbox", "UPDATE outbox_counter", "INSERT INTO idempotency_keys"):
        assert log.ran(prefix), f"the placement never got to {prefix}"
    assert await snapshot(db.engine) == before
    assert await db.store.get_batch("B1") is None
    await assert_consistent(db)
    async with db.engine.begin() as connection:
        await connection.execute(text("DROP TRIGGER refuse_key"))
    assert await place(db, "B1", idempotency_key="key-1", request_hash="hash-1") == (2,)


async def test_a_unit_that_raises_midway_is_rolled_back_and_its_own_error_comes_out(db: Database) -> None:
    before = await snapshot(db.engine)
    batch = make_batch("B1")
    now = db.clock.now()

    class Midway(Exception):
        pass

    def half_a_placement(runner: StatementRunner) -> None:
        payload = msgspec.json.encode(json_ready(payload_of(batch))).decode()
        runner.execute(batches.insert(), batch_row(batch, batch.content_hash, ["DU1"], payload, now))
        runner.execute_many(batch_lines.insert(), line_rows(batch))
        runner.execute_many(batch_legs.insert(), leg_rows(batch))
        append_entries(runner, before.last_seq, batch.batch_id, ["DU1"], now, batch.expires_at)
        raise Midway("stop here")

    with pytest.raises(Midway, match="stop here"):
        await run_write(db.engine, half_a_placement)
    assert await snapshot(db.engine) == before
    await assert_consistent(db)
    assert await place(db, "B1") == (1,)  # the same batch, whole, the next time
    assert await snapshot(db.engine) == Snapshot(1, 2, 6, 1, 0, 1)


async def test_a_unit_that_returns_is_committed_with_its_result(db: Database) -> None:
    def move_counter(runner: StatementRunner) -> int:
        runner.execute(update(outbox_counter).values(last_seq=7), {})
        found = runner.first(select(outbox_counter.c.last_seq), {})
        assert found is not None
        return int(found[0])

    assert await run_write(db.engine, move_counter) == 7
    assert (await snapshot(db.engine)).last_seq == 7


# --- error types -------------------------------------------------------------------------------------


async def test_a_constraint_failure_is_sqlalchemys_integrity_error_as_through_sqlalchemy(
    db: Database,
) -> None:
    def second_counter_row(runner: StatementRunner) -> None:
        runner.execute(update(outbox_counter).values(last_seq=5), {})  # undone with the rest
        runner.execute(outbox_counter.insert(), {"id": 1, "last_seq": 9})

    with pytest.raises(IntegrityError) as direct:
        await run_write(db.engine, second_counter_row)
    with pytest.raises(IntegrityError) as through_sqlalchemy:
        async with write_transaction(db.engine) as connection:
            await connection.execute(outbox_counter.insert(), {"id": 1, "last_seq": 9})
    assert type(direct.value) is type(through_sqlalchemy.value)
    assert isinstance(direct.value.orig, sqlite3.IntegrityError)
    assert "UNIQUE constraint failed: outbox_counter.id" in str(direct.value.orig)
    assert "INSERT INTO outbox_counter" in str(direct.value.statement)
    assert (await snapshot(db.engine)).last_seq == 0
    await assert_consistent(db)


async def test_other_driver_errors_keep_their_sqlalchemy_type_too(db: Database) -> None:
    def missing_table(runner: StatementRunner) -> None:
        runner.execute(text("UPDATE no_such_table SET x = 1"), {})

    with pytest.raises(OperationalError, match="no such table: no_such_table"):
        await run_write(db.engine, missing_table)
    assert await run_write(db.engine, lambda runner: runner.first(select(outbox_counter.c.id), {})) == (1,)


# --- cancellation ------------------------------------------------------------------------------------


async def test_a_placement_cancelled_half_way_leaves_a_whole_batch_or_none_and_the_next_one_works(
    db: Database,
) -> None:
    log = StatementLog(db.engine, hold_at="INSERT INTO batch_legs")
    placing = asyncio.create_task(place(db, "B1"))
    assert await asyncio.to_thread(log.reached.wait, SETTLE), "the placement never reached its legs"
    placing.cancel()
    await asyncio.sleep(0)  # the cancellation reaches the task while the driver's thread is held
    log.release.set()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(placing, SETTLE)
    state = await assert_consistent(db)
    assert state in (Snapshot(0, 0, 0, 0, 0, 0), Snapshot(1, 2, 6, 1, 0, 1))
    assert await asyncio.wait_for(place(db, "B2"), SETTLE) == (state.last_seq + 1,)
    await settle(db)
    stored = await db.store.get_batch("B2")
    assert stored is not None and len(stored.legs) == 6
    assert (await assert_consistent(db)).batches == state.batches + 1


async def test_a_placement_cancelled_while_waiting_for_its_turn_writes_nothing(db: Database) -> None:
    log = StatementLog(db.engine, hold_at="INSERT INTO batch_legs")
    first = asyncio.create_task(place(db, "B1"))
    assert await asyncio.to_thread(log.reached.wait, SETTLE)
    second = asyncio.create_task(place(db, "B2"))
    # Time for the second placement to get as far as it can: it must wait for the first one's
    # turn, not open a connection of its own and queue its work there (which a cancel cannot stop).
    await asyncio.sleep(0.05)
    second.cancel()
    log.release.set()
    assert await asyncio.wait_for(first, SETTLE) == (1,)
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(second, SETTLE)
    assert await asyncio.wait_for(place(db, "B3"), SETTLE) == (2,)
    await settle(db)
    assert await db.store.get_batch("B2") is None  # not even late, from the driver's thread
    assert await assert_consistent(db) == Snapshot(2, 4, 12, 2, 0, 2)


# --- the pool's reset hook ---------------------------------------------------------------------------


async def test_a_connection_returned_inside_a_transaction_is_rolled_back(db: Database) -> None:
    async with db.engine.connect() as connection:
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection  # as run_write uses it: past SQLAlchemy's own bookkeeping
        await driver.execute("BEGIN IMMEDIATE")
        await driver.execute("UPDATE outbox_counter SET last_seq = 41")
        assert driver.in_transaction
    assert_write_lock_free(db.path)
    assert (await snapshot(db.engine)).last_seq == 0
    async with db.engine.connect() as again:
        reused: Any = (await again.get_raw_connection()).driver_connection
        assert not reused.in_transaction
    assert await place(db, "B1") == (1,)


@dataclass
class FakeDriver:
    in_transaction: bool


@dataclass
class FakeDbapi:
    rollbacks: int = 0

    def rollback(self) -> None:
        self.rollbacks += 1


@dataclass
class FakeRecord:
    """The parts of a pool entry the reset hook reads."""

    driver_connection: FakeDriver
    dbapi_connection: FakeDbapi = field(default_factory=FakeDbapi)


def reset_hooks(engine: AsyncEngine) -> Sequence[Any]:
    return [hook for hook in engine.sync_engine.pool.dispatch.reset if hook.__name__ == "_on_reset"]


@pytest.mark.parametrize(
    ("open_transaction", "state", "rollbacks"),
    [
        (True, PoolResetState(transaction_was_reset=False, terminate_only=False, asyncio_safe=True), 1),
        (False, PoolResetState(transaction_was_reset=False, terminate_only=False, asyncio_safe=True), 0),
        # SQLAlchemy rolled back its own transaction already.
        (True, PoolResetState(transaction_was_reset=True, terminate_only=False, asyncio_safe=True), 0),
        # Garbage collection outside the event loop: the driver's thread cannot be awaited.
        (True, PoolResetState(transaction_was_reset=False, terminate_only=True, asyncio_safe=False), 0),
    ],
)
async def test_the_reset_hook_rolls_back_only_an_open_transaction(
    db: Database, open_transaction: bool, state: PoolResetState, rollbacks: int
) -> None:
    [hook] = reset_hooks(db.engine)
    record = FakeRecord(FakeDriver(open_transaction))
    hook(record.dbapi_connection, record, state)
    assert record.dbapi_connection.rollbacks == rollbacks


async def test_the_pools_own_rollback_on_return_is_off(db: Database) -> None:
    # The hook replaces it; with both, every return would still cost a hand-off to the driver.
    assert db.engine.sync_engine.pool._reset_on_return is ResetStyle.reset_none


# --- durability --------------------------------------------------------------------------------------


async def test_a_unit_not_waited_to_disk_is_committed_and_the_connection_waits_again_afterwards(
    db: Database,
) -> None:
    log = StatementLog(db.engine)
    await db.engine.dispose()  # new connections, so the log sees every statement

    def move_counter(runner: StatementRunner) -> int:
        runner.execute(update(outbox_counter).values(last_seq=3), {})
        return 3

    assert await run_write(db.engine, move_counter, durable=False) == 3
    assert log.ran("PRAGMA synchronous=NORMAL")
    assert (await snapshot(db.engine)).last_seq == 3
    # The same pooled connection, next unit: back to the default (FULL, 2) for durable commits.
    assert await run_write(db.engine, lambda runner: runner.first(text("PRAGMA synchronous"), {})) == (2,)


async def test_a_unit_not_waited_to_disk_that_fails_restores_the_setting_too(db: Database) -> None:
    def refused(runner: StatementRunner) -> None:
        runner.execute(outbox_counter.insert(), {"id": 1, "last_seq": 9})

    with pytest.raises(IntegrityError):
        await run_write(db.engine, refused, durable=False)
    assert await run_write(db.engine, lambda runner: runner.first(text("PRAGMA synchronous"), {})) == (2,)


# --- parameters --------------------------------------------------------------------------------------


async def test_a_row_missing_a_column_is_refused_naming_it_and_nothing_is_written(db: Database) -> None:
    before = await snapshot(db.engine)

    def counter_row_without_its_value(runner: StatementRunner) -> None:
        runner.execute(update(outbox_counter).values(last_seq=4), {})
        runner.execute_many(outbox_counter.insert(), [{"id": 2, "last_seq": 1}, {"id": 3}])

    with pytest.raises(ValueError, match=r"a value is required for the parameter\(s\) last_seq of: INSERT"):
        await run_write(db.engine, counter_row_without_its_value)
    assert await snapshot(db.engine) == before


async def test_a_statement_with_its_own_values_takes_only_the_missing_ones(db: Database) -> None:
    # `id = 1` is bound in the statement; only new_last_seq comes from the parameters.
    statement = update(outbox_counter).where(outbox_counter.c.id == 1).values(
        last_seq=bindparam("new_last_seq")
    )
    await run_write(db.engine, lambda runner: runner.execute(statement, {"new_last_seq": 11}))
    assert (await snapshot(db.engine)).last_seq == 11
    with pytest.raises(ValueError, match="new_last_seq"):
        await run_write(db.engine, lambda runner: runner.execute(statement, {}))
