"""On SQLite the runner writes many rows in few statements (multi-row INSERT, `update_rows` as one
UPDATE .. FROM a VALUES list): the rows stored are exactly those of one statement per row, in the
order given, for every count across the chunk boundaries; a bad row still fails the whole unit;
and the statements a frame of statuses runs are few, not one step per row."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.storage import SqlBatchStore, create_engine_from_url, migrate, write_units
from adapters.storage.tables import batch_legs, leg_reports
from adapters.storage.write_units import StatementRunner, run_write
from core.clock import ManualClock
from core.stores import LegReport, LegState
from core.values import OrderRef
from tests.contract.storage_builders import make_batch, payload_of

COLUMNS = ("order_ref", "status", "filled", "avg_price", "message", "reported_at")
MOVED = ("status", "filled", "avg_price", "message", "updated_at")
T0 = datetime(2026, 1, 2, 14, 30, tzinfo=UTC)
SYMBOLS = [f"S{number:02d}" for number in range(50)]  # 150 legs


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("many-rows") / "template.db"
    asyncio.run(migrate(f"sqlite:///{path}"))
    return path


@dataclass
class Db:
    path: Path
    engine: AsyncEngine
    store: SqlBatchStore
    refs: list[str]


@pytest.fixture
async def db(template: Path, tmp_path: Path) -> AsyncIterator[Db]:
    path = tmp_path / "cloud.db"
    shutil.copyfile(template, path)
    engine = create_engine_from_url(f"sqlite:///{path}")
    store = SqlBatchStore(engine, ManualClock())
    batch = make_batch("many", SYMBOLS)
    await store.place_batch(batch, ["A"], payload_of(batch))
    refs: list[str] = [
        ref for line in batch.legs for ref in (line.entry_ref, line.take_profit_ref, line.stop_loss_ref)
    ]
    try:
        yield Db(path, engine, store, refs)
    finally:
        await engine.dispose()


def select_all(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as connection:
        return connection.execute(sql).fetchall()


def stored_time(at: datetime) -> str:
    return at.replace(tzinfo=None).isoformat(" ", "microseconds")


def report_rows(refs: list[str], count: int) -> list[tuple[Any, ...]]:
    return [
        (refs[number % len(refs)], "working", Decimal(number), Decimal(f"{number}.50"), f"note {number}",
         T0 + timedelta(microseconds=number))
        for number in range(count)
    ]


@pytest.mark.parametrize("count", [1, 2, 3, 64, 127, 128, 129, 140, 300])
async def test_many_rows_are_stored_as_one_statement_per_row_would_store_them(db: Db, count: int) -> None:
    rows = report_rows(db.refs, count)
    await run_write(db.engine, lambda runner: runner.execute_rows(leg_reports.insert(), COLUMNS, rows))
    expected = [
        (ref, status, str(filled), str(avg_price), message, stored_time(at))
        for ref, status, filled, avg_price, message, at in rows
    ]
    assert select_all(db.path, f"SELECT {', '.join(COLUMNS)} FROM leg_reports ORDER BY report_id") == expected


async def test_dicts_go_in_as_many_row_statements_too(db: Db) -> None:
    rows = report_rows(db.refs, 70)
    await run_write(db.engine, lambda runner: runner.execute_many(
        leg_reports.insert(), [dict(zip(COLUMNS, row, strict=True)) for row in rows]
    ))
    stored = select_all(db.path, "SELECT order_ref, message FROM leg_reports ORDER BY report_id")
    assert stored == [(row[0], row[4]) for row in rows]


async def test_a_bad_row_in_a_later_chunk_fails_the_whole_unit(db: Db) -> None:
    rows = report_rows(db.refs, 200)
    rows[150] = ("no-such-leg", *rows[150][1:])  # its foreign key fails, in the 2nd chunk

    with pytest.raises(IntegrityError):
        await run_write(db.engine, lambda runner: runner.execute_rows(leg_reports.insert(), COLUMNS, rows))
    assert select_all(db.path, "SELECT count(*) FROM leg_reports") == [(0,)]


def moved_rows(refs: list[str], count: int) -> list[tuple[Any, ...]]:
    return [
        (refs[number], "filled", Decimal(f"{number}.0"), Decimal("99.125"), f"moved {number}",
         T0 + timedelta(seconds=number))
        for number in range(count)
    ]


def legs(path: Path) -> list[tuple[Any, ...]]:
    return select_all(
        path,
        "SELECT order_ref, status, filled, avg_price, message, updated_at FROM batch_legs ORDER BY order_ref",
    )


@pytest.mark.parametrize("count", [1, 5, 60, 150])
async def test_update_rows_sets_what_an_update_per_row_sets_and_nothing_else(
    db: Db, count: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = moved_rows(db.refs, count)
    await run_write(db.engine, lambda runner: runner.update_rows(batch_legs, "order_ref", MOVED, rows))
    many_at_once = legs(db.path)
    # The same through the statement per row (the form for an SQLite before UPDATE .. FROM).
    await run_write(db.engine, lambda runner: runner.update_rows(batch_legs, "order_ref", MOVED, [
        (ref, "pending", Decimal(0), Decimal(0), "", None) for ref, *_ in rows
    ]))
    monkeypatch.setattr(write_units, "_UPDATE_FROM", False)
    monkeypatch.setattr(write_units, "_keyed_update_sqls", {})
    await run_write(db.engine, lambda runner: runner.update_rows(batch_legs, "order_ref", MOVED, rows))
    assert legs(db.path) == many_at_once
    by_ref = {row[0]: row for row in many_at_once}
    for ref, status, filled, avg_price, message, at in rows:
        assert by_ref[ref] == (ref, status, str(filled), str(avg_price), message, stored_time(at))
    untouched = [row for row in many_at_once if row[0] not in {moved[0] for moved in rows}]
    assert len(untouched) == len(db.refs) - count
    assert all(row[1:] == ("pending", "0", "0", "", None) for row in untouched)


async def test_update_rows_refuses_a_key_given_twice_or_a_short_row(db: Db) -> None:
    rows = moved_rows(db.refs, 3)
    for bad in ([*rows, rows[0]], [rows[0], rows[1][:-1]]):

        def unit(runner: StatementRunner, bad: list[tuple[Any, ...]] = bad) -> None:
            runner.update_rows(batch_legs, "order_ref", MOVED, bad)

        with pytest.raises(ValueError):
            await run_write(db.engine, unit)
    assert all(row[1] == "pending" for row in legs(db.path))


def test_update_rows_finds_each_leg_through_the_key_index(template: Path, tmp_path: Path) -> None:
    # Not a scan of every leg ever stored per frame.
    path = tmp_path / "plan.db"
    shutil.copyfile(template, path)
    compiled = write_units._keyed_update_sql(batch_legs, "order_ref", MOVED)
    with sqlite3.connect(path) as connection:
        plan = connection.execute(
            "EXPLAIN QUERY PLAN " + compiled.many_rows_sql(60), [None] * (60 * len(compiled.names))
        ).fetchall()
    details = [row[3] for row in plan]
    assert any(detail.startswith("SEARCH batch_legs USING") and "order_ref=?" in detail for detail in details)
    assert not any(detail.startswith("SCAN batch_legs") for detail in details), details


async def test_a_frame_of_140_reports_runs_a_handful_of_statements(db: Db) -> None:
    statements: list[str] = []

    def install(_dbapi_connection: Any, record: Any) -> None:
        record.driver_connection._conn.set_trace_callback(statements.append)

    event.listen(db.engine.sync_engine, "connect", install)
    await db.engine.dispose()  # connections made from here on are traced
    frame = [
        ("many", LegReport(OrderRef(ref), LegState.WORKING, Decimal(0), Decimal(0), "", T0))
        for ref in db.refs[:140]
    ]
    outcomes = await db.store.record_leg_statuses(frame)
    assert all(outcome.status is LegState.WORKING for outcome in outcomes)  # type: ignore[union-attr]
    inserts = [sql for sql in statements if sql.startswith("INSERT INTO leg_reports")]
    updates = [sql for sql in statements if "UPDATE batch_legs" in sql]
    assert len(inserts) == 3 and len(updates) == 3  # 140 = 128 + 8 + 4 rows, each way
    assert select_all(db.path, "SELECT count(*) FROM leg_reports") == [(140,)]
