"""`StoredLog`: "batch X: N statuses stored at the cloud", each time the cloud has acknowledged every
report of a batch that the journal held; N counts the batch's reports acknowledged during the run."""

from __future__ import annotations

from datetime import UTC, datetime

from core.journal import LegStatus, StatusReport
from core.values import BatchId, OrderRef
from entrypoints.executor.progress import StoredLog

T0 = datetime(2026, 1, 2, tzinfo=UTC)


def reports(batch_id: str, count: int, start: int = 0) -> list[StatusReport]:
    return [
        StatusReport(
            f"{batch_id}-{n}",
            BatchId(batch_id),
            OrderRef(f"tb:{batch_id}:AAA:E"),
            "AAA",
            LegStatus.SUBMITTED,
            T0,
        )
        for n in range(start, start + count)
    ]


def test_a_line_when_the_last_pending_reports_of_a_batch_are_acknowledged() -> None:
    log = StoredLog()
    pending = {"B1": 5, "B2": 2}
    # 3 of B1's 5 and both of B2's: only B2 is done.
    assert log.acknowledged(reports("B1", 3) + reports("B2", 2), pending.__getitem__) == [
        "batch B2: 2 statuses stored at the cloud"
    ]
    pending = {"B1": 2, "B2": 0}
    assert log.acknowledged(reports("B1", 2, 3), pending.__getitem__) == [
        "batch B1: 5 statuses stored at the cloud"
    ]


def test_later_reports_of_a_batch_start_it_again_and_count_on() -> None:
    log = StoredLog()
    assert log.acknowledged(reports("B1", 4), lambda batch: 4) == ["batch B1: 4 statuses stored at the cloud"]
    assert log.acknowledged(reports("B1", 1, 4), lambda batch: 3) == []  # two more are still pending
    assert log.acknowledged(reports("B1", 2, 5), lambda batch: 2) == [
        "batch B1: 7 statuses stored at the cloud"
    ]


def test_nothing_acknowledged_says_nothing() -> None:
    assert StoredLog().acknowledged([], lambda batch: 0) == []


def test_counts_per_batch_say_the_same_as_the_reports() -> None:
    by_reports, by_counts = StoredLog(), StoredLog()
    pending = {"B1": 5, "B2": 2}
    heard = reports("B1", 3) + reports("B2", 2)
    assert by_counts.acknowledged_counts({"B1": 3, "B2": 2}, pending.__getitem__) == by_reports.acknowledged(
        heard, pending.__getitem__
    )
    pending = {"B1": 2}
    assert by_counts.acknowledged_counts({"B1": 2}, pending.__getitem__) == [
        "batch B1: 5 statuses stored at the cloud"
    ]
