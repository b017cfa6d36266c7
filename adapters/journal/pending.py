"""`PendingReports`: the status reports the cloud has not acknowledged, as the journal committed them.

The SQLite journal keeps them in memory (one executor process owns the file): they are read before
every status frame sent, and after each COMMIT the journal adds the new ones and forgets the
acknowledged ones here, so the copy is exact. It also counts them per batch, for the executor's
"batch X: N statuses stored at the cloud" lines.
"""

from __future__ import annotations

from collections.abc import Iterable

from core.journal import StatusReport


class PendingReports:
    """Unacknowledged reports in the order they were journaled, by status id, counted per batch."""

    __slots__ = ("_batches", "_reports")

    def __init__(self, reports: Iterable[StatusReport] = ()) -> None:
        self._reports: dict[str, StatusReport] = {}
        self._batches: dict[str, int] = {}
        self.add(reports)

    def add(self, reports: Iterable[StatusReport]) -> None:
        """Committed reports: those not acknowledged go last (report ids are never reused)."""
        pending, batches = self._reports, self._batches
        for report in reports:
            if not report.acked:
                pending[report.status_id] = report
                batches[report.batch_id] = batches.get(report.batch_id, 0) + 1

    def forget(self, status_ids: Iterable[str]) -> None:
        """Acknowledged reports (committed); unknown ids and ids named twice are skipped."""
        pending, batches = self._reports, self._batches
        for status_id in status_ids:
            report = pending.pop(status_id, None)
            if report is not None:
                left = batches[report.batch_id] - 1
                if left:
                    batches[report.batch_id] = left
                else:
                    del batches[report.batch_id]

    def all(self) -> tuple[StatusReport, ...]:
        return tuple(self._reports.values())

    def get(self, status_id: str) -> StatusReport | None:
        return self._reports.get(status_id)

    def count(self, batch_id: str) -> int:
        """How many reports of this batch are pending."""
        return self._batches.get(batch_id, 0)
