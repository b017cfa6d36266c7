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
    """Unacknowledged reports in the order they were journaled, by status id, counted per batch,
    with their rows' positions when known (the journal acknowledges reports by position)."""

    __slots__ = ("_batches", "_positions", "_reports")

    def __init__(self, reports: Iterable[StatusReport] = (), positions: Iterable[int] | None = None) -> None:
        self._reports: dict[str, StatusReport] = {}
        self._batches: dict[str, int] = {}
        self._positions: dict[str, int] = {}
        self.add(reports, positions)

    def add(self, reports: Iterable[StatusReport], positions: Iterable[int] | None = None) -> None:
        """Committed reports: those not acknowledged go last (report ids are never reused).
        `positions`, when given, holds each report's row position, in the same order."""
        pending, batches, known = self._reports, self._batches, self._positions
        if positions is None:
            for report in reports:
                if not report.acked:
                    pending[report.status_id] = report
                    batches[report.batch_id] = batches.get(report.batch_id, 0) + 1
            return
        for report, position in zip(reports, positions, strict=True):
            if not report.acked:
                pending[report.status_id] = report
                batches[report.batch_id] = batches.get(report.batch_id, 0) + 1
                known[report.status_id] = position

    def forget(self, status_ids: Iterable[str]) -> None:
        """Acknowledged reports (committed); unknown ids and ids named twice are skipped."""
        pending, batches, known = self._reports, self._batches, self._positions
        for status_id in status_ids:
            report = pending.pop(status_id, None)
            if report is not None:
                known.pop(status_id, None)
                left = batches[report.batch_id] - 1
                if left:
                    batches[report.batch_id] = left
                else:
                    del batches[report.batch_id]

    def positions(self, status_ids: Iterable[str]) -> tuple[list[int], list[str]]:
        """The positions of these reports that are pending with a known position, and the other
        ids (unknown, acknowledged already, or pending at an unknown position), each as given."""
        known = self._positions
        positions: list[int] = []
        others: list[str] = []
        for status_id in status_ids:
            position = known.get(status_id)
            if position is None:
                others.append(status_id)
            else:
                positions.append(position)
        return positions, others

    def batches_of(self, status_ids: Iterable[str]) -> dict[str, int]:
        """How many of these reports (each id once; ids not pending are left out) each batch has."""
        pending = self._reports
        counts: dict[str, int] = {}
        for status_id in dict.fromkeys(status_ids):
            report = pending.get(status_id)
            if report is not None:
                counts[report.batch_id] = counts.get(report.batch_id, 0) + 1
        return counts

    def all(self) -> tuple[StatusReport, ...]:
        return tuple(self._reports.values())

    def get(self, status_id: str) -> StatusReport | None:
        return self._reports.get(status_id)

    def count(self, batch_id: str) -> int:
        """How many reports of this batch are pending."""
        return self._batches.get(batch_id, 0)
