"""How the SQLite journal writes and what it keeps in memory, checked against the plain way.

The journal writes many rows per statement (`adapters.journal.rows`), updates a leg it holds with a
plain UPDATE of its state, keeps the applied execution ids and the pending reports in memory. Each
must leave exactly what one upsert / insert / update per row left, and remember exactly what the
file holds: a reference journal here writes row by row with the old statements, and random steps
are played into both.
"""

from __future__ import annotations

import random
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.journal import SqliteJournal
from adapters.journal.codec import order_to_json
from adapters.journal.rows import ACKNOWLEDGE_REPORTS, GROUP_SIZES, Rows
from core.broker_events import Fill
from core.journal import (
    BatchOrder,
    DuplicateExecution,
    JournaledBatch,
    JournalStep,
    LegRecord,
    LegRole,
    LegStatus,
    Placement,
    StatusReport,
)
from core.values import BatchId, ExecId, OrderRef, Side
from tests.fakes.orders import bracket

T0 = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)

_UPSERT_LEG = """
INSERT INTO legs (
    order_ref, batch_id, bracket_ref, role, request, placement, status, filled, avg_price, message
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (order_ref) DO UPDATE SET
    batch_id = excluded.batch_id, bracket_ref = excluded.bracket_ref, role = excluded.role,
    request = excluded.request, placement = excluded.placement, status = excluded.status,
    filled = excluded.filled, avg_price = excluded.avg_price, message = excluded.message
"""
_INSERT_REPORT = """
INSERT INTO reports (
    status_id, batch_id, order_ref, symbol, status, created_at, filled, avg_price, message, acked
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""


class RowByRow:
    """The journal's tables written as before: one statement per row (the reference)."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)
        schema = SqliteJournal(":memory:")
        self.db.executescript("".join(schema._conn.iterdump()))  # the same tables and indexes
        schema.close()

    def step(self, legs: tuple[LegRecord, ...], reports: tuple[StatusReport, ...]) -> None:
        self.db.execute("BEGIN")
        self.db.executemany(
            _UPSERT_LEG,
            [
                (
                    leg.order_ref,
                    leg.batch_id,
                    leg.bracket_ref,
                    leg.role.value,
                    order_to_json(leg.request),
                    leg.placement.value,
                    leg.status.value,
                    str(leg.filled),
                    str(leg.avg_price),
                    leg.message,
                )
                for leg in legs
            ],
        )
        self.db.executemany(
            _INSERT_REPORT,
            [
                (
                    r.status_id,
                    r.batch_id,
                    r.order_ref,
                    r.symbol,
                    r.status.value,
                    r.created_at.isoformat(),
                    str(r.filled),
                    str(r.avg_price),
                    r.message,
                    int(r.acked),
                )
                for r in reports
            ],
        )
        self.db.execute("COMMIT")

    def acknowledge(self, status_ids: list[str]) -> int:
        before = self.db.total_changes
        self.db.execute("BEGIN")
        self.db.executemany(
            "UPDATE reports SET acked = 1 WHERE status_id = ? AND acked = 0",
            [(status_id,) for status_id in status_ids],
        )
        self.db.execute("COMMIT")
        return self.db.total_changes - before


def rows(db: sqlite3.Connection, table: str) -> list[tuple[object, ...]]:
    """Every row in journal order. Not the positions themselves: only their order is read, and the
    row-by-row upsert of a leg already journaled spent an AUTOINCREMENT number (a gap) where the
    journal now updates the leg."""
    return [row[1:] for row in db.execute(f"SELECT * FROM {table} ORDER BY position")]


def leg_of(ref: str, request_ref: str | None = None, role: LegRole = LegRole.ENTRY) -> LegRecord:
    request = bracket(request_ref or ref).entry
    return LegRecord(
        OrderRef(ref), BatchId("B1"), OrderRef(ref), role, replace(request, order_ref=OrderRef(ref))
    )


def report_of(status_id: str, leg: LegRecord, acked: bool = False) -> StatusReport:
    return StatusReport(
        status_id,
        leg.batch_id,
        leg.order_ref,
        leg.request.symbol,
        leg.status,
        T0 + timedelta(microseconds=len(status_id)),
        leg.filled,
        leg.avg_price,
        leg.message,
        acked,
    )


@pytest.mark.parametrize("count", [0, 1, 2, 3, 7, 64, 127, 128, 129, 200, 255, 256, 300, 1000])
def test_rows_are_written_in_order_a_group_per_statement(count: int) -> None:
    db = sqlite3.connect(":memory:", isolation_level=None)
    db.execute("CREATE TABLE t (position INTEGER PRIMARY KEY AUTOINCREMENT, a TEXT, b INTEGER)")
    statements: list[str] = []
    db.set_trace_callback(statements.append)
    params: list[object] = []
    for number in range(count):
        params += [f"row {number}", number]
    Rows("INSERT INTO t (a, b) VALUES ", "(?, ?)", 2).write(db, params)
    written = len(statements)
    assert db.execute("SELECT position, a, b FROM t ORDER BY position").fetchall() == [
        (number + 1, f"row {number}", number) for number in range(count)
    ]
    groups, left = 0, count  # the biggest groups that fit, largest first
    for size in GROUP_SIZES:
        groups += left // size
        left %= size
    assert written == groups


def test_a_failing_row_in_a_later_group_writes_nothing_of_the_step(tmp_path: Path) -> None:
    journal = SqliteJournal(tmp_path / "j.sqlite")
    legs = [leg_of(f"tb:B1:S{number}:E") for number in range(3)]
    journal.commit(JournalStep(legs=tuple(legs), reports=(report_of("s-taken", legs[0]),)))
    reports = tuple(report_of(f"s{number:04d}", legs[number % 3]) for number in range(150))
    reports += (report_of("s-taken", legs[1]),)  # the 151st: in the third group of the statement
    changed = replace(legs[2], status=LegStatus.WORKING)
    with pytest.raises(ValueError, match="IdGenerator"):
        journal.commit(JournalStep(legs=(changed,), reports=reports))
    again = SqliteJournal(tmp_path / "j.sqlite")
    for copy in (journal, again):
        assert [r.status_id for r in copy.pending_reports()] == ["s-taken"]
        assert copy.leg(legs[2].order_ref) == legs[2]
    journal.close()
    again.close()


@pytest.mark.parametrize("legs_in_memory", [True, False])
def test_random_steps_leave_the_tables_a_row_by_row_writer_leaves(
    tmp_path: Path, legs_in_memory: bool
) -> None:
    """New legs, new statuses, legs rewritten with another request or role, a ref twice in one step,
    reports acknowledged in groups with repeats and unknown ids: both files end up the same, and the
    journal's memory of legs and pending reports is what its file holds. With the legs in memory (as
    in a running executor) a leg written again with a new status is updated, else upserted."""
    draw = random.Random(20261121)
    journal, reference = SqliteJournal(tmp_path / "j.sqlite"), RowByRow(tmp_path / "ref.sqlite")
    if legs_in_memory:
        journal.legs()
    known: dict[str, LegRecord] = {}
    ids: list[str] = []
    for step in range(60):
        legs: list[LegRecord] = []
        for _ in range(draw.choice([0, 1, 3, 20, 70, 150])):
            ref = f"tb:B1:S{draw.randrange(300)}:E"
            leg = known.get(ref) or leg_of(ref)
            change = draw.random()
            if change < 0.6:
                leg = replace(
                    leg,
                    status=draw.choice(list(LegStatus)),
                    placement=draw.choice(list(Placement)),
                    filled=Decimal(draw.randrange(5)),
                    message=draw.choice(["", "ok", "moved"]),
                )
            elif change < 0.7:
                leg = replace(leg, request=replace(leg.request, quantity=Decimal(draw.randrange(1, 50))))
            elif change < 0.75:
                leg = replace(leg, role=LegRole.FLATTEN)
            elif change < 0.8:
                leg = replace(leg, request=replace(leg.request))  # equal, another object
            legs.append(leg)
            known[ref] = leg
        reports = tuple(
            report_of(f"st.{step:03d}.{n:04d}", leg, acked=draw.random() < 0.05) for n, leg in enumerate(legs)
        )
        ids += [r.status_id for r in reports]
        journal.commit(JournalStep(legs=tuple(legs), reports=reports))
        reference.step(tuple(legs), reports)
        if draw.random() < 0.4:
            acked = [*draw.sample(ids, min(len(ids), draw.choice([1, 5, 130, 400]))), "unknown"]
            acked += acked[:3]  # named twice
            assert journal.acknowledge_reports(acked) == reference.acknowledge(acked)
        assert rows(journal._conn, "legs") == rows(reference.db, "legs")
        assert rows(journal._conn, "reports") == rows(reference.db, "reports")
    reopened = SqliteJournal(tmp_path / "j.sqlite")
    assert journal.legs() == reopened.legs() == tuple(known.values())
    assert journal.pending_reports() == reopened.pending_reports()
    for report in reopened.pending_reports():
        assert journal.pending_report(report.status_id) == report
    counts: dict[str, int] = {}
    for report in reopened.pending_reports():
        counts[report.batch_id] = counts.get(report.batch_id, 0) + 1
    assert journal.pending_count("B1") == reopened.pending_count("B1") == counts.get("B1", 0)
    journal.close()
    reopened.close()


def test_acknowledging_looks_reports_up_by_id_not_through_every_pending_one() -> None:
    db = sqlite3.connect(":memory:")
    journal = SqliteJournal(":memory:")
    db.executescript("".join(journal._conn.iterdump()))
    plan = db.execute("EXPLAIN QUERY PLAN " + ACKNOWLEDGE_REPORTS._sql[4], ["a", "b", "c", "d"]).fetchall()
    assert "(status_id=?)" in plan[0][3]
    journal.close()


def fill(exec_id: str, ref: str) -> Fill:
    return Fill(
        ExecId(exec_id), OrderRef(ref), "AAA", Side.BUY, Decimal(1), Decimal("10.5"), T0, Decimal("0.1")
    )


@pytest.mark.parametrize("twice", ["applied before", "twice in the step"])
def test_an_execution_applied_twice_is_named_and_nothing_of_the_step_is_kept(
    tmp_path: Path, twice: str
) -> None:
    journal = SqliteJournal(tmp_path / "j.sqlite")
    leg = leg_of("tb:B1:AAA:E")
    journal.commit(JournalStep(legs=(leg,), fills=(fill("X-old", leg.order_ref),)))
    fills = [fill(f"X{number:02d}", leg.order_ref) for number in range(20)]  # groups of 16 and 4
    fills.insert(18, fill("X-old" if twice == "applied before" else "X03", leg.order_ref))
    with pytest.raises(
        DuplicateExecution, match="execution X-old was" if twice == "applied before" else "X03"
    ):
        journal.commit(JournalStep(legs=(replace(leg, status=LegStatus.FILLED),), fills=tuple(fills)))
    reopened = SqliteJournal(tmp_path / "j.sqlite")
    for copy in (journal, reopened):
        assert [f.exec_id for f in copy.fills()] == ["X-old"]
        assert copy.has_execution("X-old")
        assert not copy.has_execution("X00")  # inserted by the first group, then rolled back
        assert copy.leg(leg.order_ref) == leg
    journal.commit(JournalStep(fills=(fill("X00", leg.order_ref),)))
    assert journal.has_execution("X00") and SqliteJournal(tmp_path / "j.sqlite").has_execution("X00")
    journal.close()
    reopened.close()


def test_pending_reports_are_counted_per_batch_as_the_file_holds_them(tmp_path: Path) -> None:
    journal = SqliteJournal(tmp_path / "j.sqlite")
    orders = (BatchOrder(bracket("tb:B2:AAA:E"), Decimal(100)),)
    batch = JournaledBatch(BatchId("B2"), 1, "h", orders, T0, T0 + timedelta(hours=1))
    b2 = [
        LegRecord(leg.order_ref, BatchId("B2"), OrderRef("tb:B2:AAA:E"), role, leg)
        for leg, role in zip(
            orders[0].bracket.legs, (LegRole.ENTRY, LegRole.TAKE_PROFIT, LegRole.STOP_LOSS), strict=True
        )
    ]
    journal.record_batch(batch, b2, [report_of(f"r{number}", leg) for number, leg in enumerate(b2)])
    b1 = leg_of("tb:B1:AAA:E")
    journal.commit(JournalStep(legs=(b1,), reports=(report_of("q1", b1), report_of("q2", b1, acked=True))))
    assert (journal.pending_count("B1"), journal.pending_count("B2"), journal.pending_count("B9")) == (
        1,
        3,
        0,
    )
    assert journal.pending_report("q2") is None and journal.pending_report("r1") == report_of("r1", b2[1])
    journal.acknowledge_reports(["r0", "r2", "r2", "q1", "nope"])
    journal.acknowledge_report("r1")
    assert (journal.pending_count("B1"), journal.pending_count("B2")) == (0, 0)
    assert journal.pending_report("r1") is None
    journal.commit(JournalStep(reports=(report_of("q3", b1),)))
    reopened = SqliteJournal(tmp_path / "j.sqlite")
    for copy in (journal, reopened):
        assert copy.pending_count("B1") == 1 and copy.pending_count("B2") == 0
        assert copy.pending_report("q3") == report_of("q3", b1)
    journal.close()
    reopened.close()
