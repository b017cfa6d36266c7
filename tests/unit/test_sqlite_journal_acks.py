"""Acknowledging status reports by their rows' positions (rowids), and the partial index of the
reports still pending: the rows left must be exactly those of acknowledging by status id."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from adapters.journal import SqliteJournal
from adapters.journal import sqlite_journal as journal_module
from adapters.journal.pending import PendingReports
from adapters.journal.rows import ACKNOWLEDGE_POSITIONS
from core.journal import JournalStep
from core.values import BatchId
from tests.unit.test_sqlite_journal_writes import leg_of, report_of, rows


def _statements(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[Any]]]:
    """Record which acknowledging statement ran, with its parameters."""
    seen: list[tuple[str, list[Any]]] = []
    for name in ("ACKNOWLEDGE_POSITIONS", "ACKNOWLEDGE_REPORTS"):
        target = getattr(journal_module, name)

        class Spy:
            def __init__(self, name: str, target: Any) -> None:
                self.name, self.target = name, target

            def write(self, db: sqlite3.Connection, params: Any) -> int | None:
                seen.append((self.name, list(params)))
                return self.target.write(db, params)  # type: ignore[no-any-return]

        monkeypatch.setattr(journal_module, name, Spy(name, target))
    return seen


def _journal_with_reports(path: Path, count: int) -> tuple[SqliteJournal, list[str]]:
    journal = SqliteJournal(path)
    leg = leg_of("tb:B1:AAA:E")
    journal.commit(JournalStep(legs=(leg,), reports=(report_of("first", leg, acked=True),)))  # position 1
    ids = [f"r{number:03d}" for number in range(count)]
    journal.commit(JournalStep(legs=(leg,), reports=tuple(report_of(i, leg) for i in ids[: count // 2])))
    journal.commit(JournalStep(reports=tuple(report_of(i, leg) for i in ids[count // 2 :])))
    return journal, ids


def _positions(journal: SqliteJournal, ids: list[str]) -> list[int]:
    found = dict(journal._conn.execute("SELECT status_id, position FROM reports").fetchall())
    return [found[i] for i in ids]


def test_pending_reports_are_acknowledged_by_their_rows_positions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal, ids = _journal_with_reports(tmp_path / "j.sqlite", 150)  # groups of 64+8+3 and 64+8+3
    seen = _statements(monkeypatch)
    acked = [ids[7], ids[140], ids[80], ids[7]]
    assert journal.acknowledge_reports([*acked, "unknown", "first"]) == 3
    assert seen == [
        ("ACKNOWLEDGE_POSITIONS", _positions(journal, acked)),
        ("ACKNOWLEDGE_REPORTS", ["unknown", "first"]),  # not pending: as before, by id (changes nothing)
    ]
    acked_rows = journal._conn.execute("SELECT status_id FROM reports WHERE acked = 1 ORDER BY position")
    assert [row[0] for row in acked_rows] == ["first", ids[7], ids[80], ids[140]]
    journal.close()


def test_after_reopening_the_positions_come_from_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal, ids = _journal_with_reports(tmp_path / "j.sqlite", 20)
    journal.acknowledge_reports(ids[:5])
    journal.close()
    reopened = SqliteJournal(tmp_path / "j.sqlite")
    seen = _statements(monkeypatch)
    assert reopened.acknowledge_reports(ids[4:9]) == 4
    assert seen == [
        ("ACKNOWLEDGE_POSITIONS", _positions(reopened, ids[5:9])),
        ("ACKNOWLEDGE_REPORTS", [ids[4]]),  # acknowledged before: by id, changing nothing
    ]
    assert [r.status_id for r in reopened.pending_reports()] == ids[9:]
    reopened.close()


def test_reports_at_positions_it_cannot_tell_are_acknowledged_by_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = SqliteJournal(tmp_path / "j.sqlite")
    journal.pending_reports()  # the pending reports are kept in memory from now on
    leg = leg_of("tb:B1:AAA:E")
    original = journal._write_legs_and_reports

    def unsure(*args: Any) -> list[int] | None:
        # As if the first report were not where the rowids say (never seen): no positions kept.
        assert original(*args) is not None
        return None

    monkeypatch.setattr(journal, "_write_legs_and_reports", unsure)
    journal.commit(JournalStep(legs=(leg,), reports=tuple(report_of(f"r{n}", leg) for n in range(5))))
    monkeypatch.undo()
    seen = _statements(monkeypatch)
    assert journal.acknowledge_reports(["r1", "r3"]) == 2
    assert seen == [("ACKNOWLEDGE_REPORTS", ["r1", "r3"])]
    assert [r.status_id for r in journal.pending_reports()] == ["r0", "r2", "r4"]
    journal.close()


def test_positions_of_pending_reports() -> None:
    leg = leg_of("tb:B1:AAA:E")
    pending = PendingReports([report_of("a", leg), report_of("b", leg)], [10, 11])
    pending.add([report_of("c", leg)])  # position not known
    pending.add([report_of("d", leg), report_of("e", leg, acked=True)], [13, 14])
    assert pending.positions(["d", "a", "c", "e", "x", "a"]) == ([13, 10, 10], ["c", "e", "x"])
    pending.forget(["a"])
    assert pending.positions(["a", "b"]) == ([11], ["a"])
    with pytest.raises(ValueError):
        pending.add([report_of("f", leg)], [1, 2])


def test_acknowledging_by_position_looks_rows_up_by_rowid() -> None:
    journal = SqliteJournal(":memory:")
    statement = "EXPLAIN QUERY PLAN " + ACKNOWLEDGE_POSITIONS._sql[4]
    plan = journal._conn.execute(statement, [1, 2, 3, 4]).fetchall()
    assert "INTEGER PRIMARY KEY (rowid=?)" in plan[0][3]
    journal.close()


def test_the_pending_reports_index_is_partial_and_replaces_the_old_one(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    journal, ids = _journal_with_reports(path, 6)
    journal.close()
    db = sqlite3.connect(path)  # as a tradebridge that still makes the old index leaves the file
    db.execute("CREATE INDEX reports_unacked ON reports (acked, position)")
    db.commit()
    db.close()
    reopened = SqliteJournal(path)
    indexes = {row[0]: row[1] for row in reopened._conn.execute(
        "SELECT name, sql FROM sqlite_master "
        "WHERE type = 'index' AND tbl_name = 'reports' AND sql IS NOT NULL"
    )}
    assert list(indexes) == ["reports_pending"] and "WHERE acked = 0" in indexes["reports_pending"]
    before = rows(reopened._conn, "reports")
    assert reopened.acknowledge_reports(ids[:3]) == 3
    after = rows(reopened._conn, "reports")
    assert [row[:-1] for row in after] == [row[:-1] for row in before]
    assert [r.status_id for r in reopened.pending_reports()] == ids[3:]
    plan = reopened._conn.execute(
        "EXPLAIN QUERY PLAN SELECT status_id FROM reports WHERE acked = 0 ORDER BY position"
    ).fetchall()
    assert "reports_pending" in plan[0][3]
    reopened.close()


def test_pending_reports_counted_per_batch_each_id_once(tmp_path: Path) -> None:
    journal = SqliteJournal(tmp_path / "j.sqlite")
    one, two = leg_of("tb:B1:AAA:E"), replace(leg_of("tb:B2:AAA:E"), batch_id=BatchId("B2"))
    journal.commit(JournalStep(legs=(one, two), reports=(
        report_of("a", one), report_of("b", two), report_of("c", one), report_of("d", one, acked=True),
    )))
    assert journal.pending_batches(["a", "c", "a", "b", "d", "nope"]) == {"B1": 2, "B2": 1}
    journal.acknowledge_reports(["a"])
    assert journal.pending_batches(["a", "c"]) == {"B1": 1}
    assert journal.pending_batches([]) == {}
    journal.close()
