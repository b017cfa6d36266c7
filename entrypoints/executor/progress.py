"""Batch progress for the console: "batch X: 3/8 placed, 3 filled, ..." from the journal, and
"batch X: 200 statuses stored at the cloud" from the cloud's acknowledgements."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from core.journal import LegRecord, LegRole, LegStatus, Placement, StatusReport

_SENT = (Placement.SENDING, Placement.SENT)


@dataclass(frozen=True, slots=True)
class BatchProgress:
    """Where the brackets of one batch are."""

    batch_id: str
    orders: int
    placed: int
    filled: int
    rejected: int
    at_target: int
    at_stop: int

    @property
    def done(self) -> bool:
        """Every bracket is decided and every position it opened is closed."""
        closed = self.at_target + self.at_stop
        return self.placed + self.rejected == self.orders and closed == self.filled

    def line(self) -> str:
        text = f"batch {self.batch_id}: {self.placed}/{self.orders} placed, {self.filled} filled"
        if self.rejected:
            text += f", {self.rejected} rejected"
        if self.at_target or self.at_stop:
            text += f"; closed: {self.at_target} at target, {self.at_stop} at stop"
        open_positions = self.filled - self.at_target - self.at_stop
        if open_positions > 0:
            text += f"; {open_positions} open with a working stop"
        return text


def progress(legs: Iterable[LegRecord]) -> list[BatchProgress]:
    """The progress of every batch with legs, in the order their legs were journaled."""
    counts: dict[str, Counter[str]] = {}
    for leg in legs:
        count = counts.setdefault(leg.batch_id, Counter())
        if leg.role is LegRole.ENTRY:
            count["orders"] += 1
            if leg.placement in _SENT:
                count["placed"] += 1
            if leg.status is LegStatus.REJECTED or leg.placement in (Placement.SKIPPED, Placement.FAILED):
                count["rejected"] += 1
            if leg.status is LegStatus.FILLED:
                count["filled"] += 1
        elif leg.status is LegStatus.FILLED:
            if leg.role is LegRole.TAKE_PROFIT:
                count["at_target"] += 1
            elif leg.role.is_stop or leg.role is LegRole.FLATTEN:
                count["at_stop"] += 1
    return [
        BatchProgress(
            batch_id, c["orders"], c["placed"], c["filled"], c["rejected"], c["at_target"], c["at_stop"]
        )
        for batch_id, c in counts.items()
    ]


class ProgressLog:
    """Remembers the last line logged per batch, so only changes are logged. `changes` takes every
    leg, or only those new or replaced since the last call (the runner passes the journal's
    `changed_legs`): only the batches with a leg record that is new or replaced are counted again
    (records are immutable, so an unchanged one is the same object); counting every leg ever
    journaled, on every step, grew with the history."""

    def __init__(self) -> None:
        self._last: dict[str, str] = {}
        self._by_batch: dict[str, dict[str, LegRecord]] = {}  # in the order batches were first seen

    def changes(self, legs: Iterable[LegRecord]) -> list[str]:
        changed: set[str] = set()
        by_batch = self._by_batch
        for leg in legs:
            known = by_batch.get(leg.batch_id)
            if known is None:
                known = by_batch[leg.batch_id] = {}
            if known.get(leg.order_ref) is not leg:
                known[leg.order_ref] = leg
                changed.add(leg.batch_id)
        if not changed:
            return []
        lines = []
        recount = (leg for batch, known in by_batch.items() if batch in changed for leg in known.values())
        for item in progress(recount):
            line = item.line()
            if self._last.get(item.batch_id) != line:
                self._last[item.batch_id] = line
                lines.append(line)
        return lines


class StoredLog:
    """Counts, per batch, the status reports the cloud has acknowledged (stored) during this run, and
    says when a batch has none left that the cloud has not acknowledged: "batch X: N statuses stored
    at the cloud", once each time that happens (later reports of the batch start it again)."""

    def __init__(self) -> None:
        self._stored: dict[str, int] = {}

    def acknowledged(self, reports: Iterable[StatusReport], pending: Callable[[str], int]) -> list[str]:
        """The lines for `reports` (each once), pending reports the cloud has just acknowledged;
        `pending` says how many reports a batch had pending, these included."""
        heard = Counter(report.batch_id for report in reports)
        lines = []
        for batch_id, count in heard.items():
            total = self._stored[batch_id] = self._stored.get(batch_id, 0) + count
            if pending(batch_id) <= count:
                lines.append(f"batch {batch_id}: {total} statuses stored at the cloud")
        return lines
