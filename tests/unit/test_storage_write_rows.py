"""`StatementRunner.execute_rows` (parameter sets as tuples) on SQLite stores exactly what
`execute_many` (dicts) stores, and the column-by-column conversion of many rows is exact: a value
repeated as the same object is converted once, None stays None, and a bad row is refused whole."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.storage import SqlBatchStore, create_engine_from_url, migrate, status_batches, write_units
from adapters.storage.column_types import ExactDecimal
from adapters.storage.tables import leg_reports
from adapters.storage.write_units import StatementRunner, run_write
from core.clock import ManualClock
from tests.contract.storage_builders import make_batch, payload_of

COLUMNS = ("order_ref", "status", "filled", "avg_price", "message", "reported_at")
T0 = datetime(2026, 1, 2, 14, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("write-rows") / "template.db"
    asyncio.run(migrate(f"sqlite:///{path}"))
    return path


@dataclass
class Db:
    path: Path
    engine: AsyncEngine
    refs: list[str]


@pytest.fixture
async def db(template: Path, tmp_path: Path) -> AsyncIterator[Db]:
    path = tmp_path / "cloud.db"
    shutil.copyfile(template, path)
    engine = create_engine_from_url(f"sqlite:///{path}")
    batch = make_batch("rows", ["AAPL", "MSFT"])
    await SqlBatchStore(engine, ManualClock()).place_batch(batch, ["A"], payload_of(batch))
    refs = [ref for line in batch.legs for ref in (line.entry_ref, line.take_profit_ref, line.stop_loss_ref)]
    try:
        yield Db(path, engine, refs)
    finally:
        await engine.dispose()


def stored(path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as connection:
        return connection.execute(
            f"SELECT {', '.join(COLUMNS)} FROM leg_reports ORDER BY report_id"
        ).fetchall()


def report_rows(refs: list[str]) -> list[tuple[Any, ...]]:
    """Rows as a frame of statuses makes them: one time object shared, numbers in several spellings."""
    shared = T0 + timedelta(microseconds=7)
    elsewhere = datetime(2026, 1, 2, 9, 30, 0, 1, tzinfo=timezone(timedelta(hours=-5)))
    return [
        (refs[0], "received", Decimal(0), Decimal(0), "", shared),
        (refs[1], "submitted", Decimal("0.00"), Decimal("0"), "quote \" and \n newline", shared),
        (refs[0], "filled", Decimal("10"), Decimal("100.50"), "é", shared),
        (refs[2], "working", Decimal("1E+1"), Decimal("-0"), "", elsewhere),
        (refs[3], "working", Decimal("3.000"), Decimal("99.125"), "", shared),
        (refs[3], "filled", Decimal("3.000"), Decimal("99.125"), "", T0),
    ]


async def test_rows_as_tuples_store_what_rows_as_dicts_store(db: Db) -> None:
    rows = report_rows(db.refs)
    await run_write(db.engine, lambda runner: runner.execute_many(
        leg_reports.insert(), [dict(zip(COLUMNS, row, strict=True)) for row in rows]
    ))
    by_name = stored(db.path)
    await run_write(db.engine, lambda runner: runner.execute_rows(leg_reports.insert(), COLUMNS, rows))
    both = stored(db.path)
    assert both[len(rows):] == by_name == both[: len(rows)]
    assert by_name[1][2:4] == ("0.00", "0") and by_name[3][2:4] == ("1E+1", "-0")
    assert [row[5] for row in by_name] == [
        "2026-01-02 14:30:00.000007", "2026-01-02 14:30:00.000007", "2026-01-02 14:30:00.000007",
        "2026-01-02 14:30:00.000001", "2026-01-02 14:30:00.000007", "2026-01-02 14:30:00.000000",
    ]


async def test_names_in_another_order_than_the_statement_are_bound_by_name(db: Db) -> None:
    rows = report_rows(db.refs)
    names = tuple(reversed(COLUMNS))
    await run_write(db.engine, lambda runner: runner.execute_rows(
        leg_reports.insert(), names, [tuple(reversed(row)) for row in rows]
    ))
    await run_write(db.engine, lambda runner: runner.execute_rows(leg_reports.insert(), COLUMNS, rows))
    both = stored(db.path)
    assert both[: len(rows)] == both[len(rows):]


@pytest.mark.parametrize("names", [COLUMNS, tuple(reversed(COLUMNS))], ids=["in order", "by name"])
async def test_a_row_of_the_wrong_width_is_refused_and_nothing_of_the_unit_is_written(
    db: Db, names: tuple[str, ...]
) -> None:
    rows = [row if names == COLUMNS else tuple(reversed(row)) for row in report_rows(db.refs)]
    rows[2] = rows[2][:-1]

    def unit(runner: StatementRunner) -> None:
        runner.execute_rows(leg_reports.insert(), names, rows[:1])
        runner.execute_rows(leg_reports.insert(), names, rows)

    with pytest.raises(ValueError):
        await run_write(db.engine, unit)
    assert stored(db.path) == []


async def test_no_rows_run_nothing(db: Db) -> None:
    await run_write(db.engine, lambda runner: runner.execute_rows(leg_reports.insert(), COLUMNS, []))
    assert stored(db.path) == []


def test_a_frames_statements_bind_their_tuples_in_order() -> None:
    # Otherwise each row would go through a dict again (still right, but what the tuples save).
    for statement, names in ((status_batches._INSERT_REPORT, status_batches._REPORT_COLUMNS),):
        assert write_units._compile(statement, names).names == names


VALUES = st.lists(st.sampled_from(["a", "b", None]), max_size=12)


@given(VALUES)
def test_a_column_is_converted_as_each_value_alone_would_be(keys: list[str | None]) -> None:
    # The same object in a row converts once; equal but distinct objects convert each on its own.
    objects = {"a": Decimal("1.50"), "b": Decimal("1.5")}
    column = [None if key is None else objects[key] for key in keys]
    calls: list[object] = []

    def process(value: object) -> str:
        calls.append(value)
        return f"<{value}>"

    assert write_units._processed_column(process, column) == [
        None if value is None else f"<{value}>" for value in column
    ]
    assert all(value is not None for value in calls)
    assert len(calls) <= len([value for value in column if value is not None])


def test_many_rows_convert_as_one_row_at_a_time() -> None:
    compiled = write_units._compile(leg_reports.insert(), COLUMNS)
    rows = report_rows(["r1", "r2", "r3", "r4"])
    as_dicts = [dict(zip(COLUMNS, row, strict=True)) for row in rows]
    one_by_one = [tuple(compiled.parameters(row)) for row in as_dicts]
    assert compiled.parameter_rows(as_dicts) == one_by_one
    assert compiled.processed(rows) == one_by_one


SQLITE = sqlite.dialect()


@pytest.mark.parametrize("bad", [Decimal("Infinity"), Decimal("-Infinity"), Decimal("NaN"), Decimal("sNaN")])
def test_money_that_is_not_finite_is_still_refused(bad: Decimal) -> None:
    to_text = ExactDecimal().bind_processor(SQLITE)
    assert to_text is not None
    with pytest.raises(ValueError, match="non-finite"):
        to_text(bad)


@pytest.mark.parametrize("bad", [1.5, 2, "1.5"])
def test_money_that_is_not_a_decimal_is_still_refused(bad: object) -> None:
    to_text = ExactDecimal().bind_processor(SQLITE)
    assert to_text is not None
    with pytest.raises(TypeError, match="stored as Decimal"):
        to_text(bad)


class _Money(Decimal):
    pass


@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_money_is_stored_as_its_own_digits(value: Decimal) -> None:
    to_text: Callable[[Any], Any] | None = ExactDecimal().bind_processor(SQLITE)
    assert to_text is not None
    assert to_text(value) == str(value) == to_text(_Money(value))
    assert to_text(None) is None
