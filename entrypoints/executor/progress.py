"""Batch progress for the console: "batch X: 3/8 placed, 3 filled, ..." from the journal, and
"batch X: 200 statuses stored at the cloud" from the cloud's acknowledgements."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from core.journal import LegRecord, LegRole, LegStatus, Placement, StatusReport


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


# Members read once (every leg of a changed batch is counted after each step, on the way to
# sending the step's reports), and the counters' places in a batch's list of six.
_ENTRY, _TAKE_PROFIT, _FLATTEN = LegRole.ENTRY, LegRole.TAKE_PROFIT, LegRole.FLATTEN
_FILLED, _REJECTED = LegStatus.FILLED, LegStatus.REJECTED
_SENDING, _SENT, _SKIPPED, _FAILED = Placement.SENDING, Placement.SENT, Placement.SKIPPED, Placement.FAILED
_ORDERS, _PLACED, _FILLED_ENTRIES, _REJECTED_ENTRIES, _AT_TARGET, _AT_STOP = range(6)


def progress(legs: Iterable[LegRecord]) -> list[BatchProgress]:
    """The progress of every batch with legs, in the order their legs were journaled."""
    # A list of six ints per batch, not a Counter per leg: this runs after every step.
    counts: dict[str, list[int]] = {}
    for leg in legs:
        count = counts.get(leg.batch_id)
        if count is None:
            count = counts[leg.batch_id] = [0, 0, 0, 0, 0, 0]
        role, status = leg.role, leg.status
        if role is _ENTRY:
            count[_ORDERS] += 1
            placement = leg.placement
            if placement is _SENDING or placement is _SENT:
                count[_PLACED] += 1
            if status is _REJECTED or placement is _SKIPPED or placement is _FAILED:
                count[_REJECTED_ENTRIES] += 1
            if status is _FILLED:
                count[_FILLED_ENTRIES] += 1
        elif status is _FILLED:
            if role is _TAKE_PROFIT:
                count[_AT_TARGET] += 1
            elif role.is_stop or role is _FLATTEN:
                count[_AT_STOP] += 1
    return [BatchProgress(batch_id, *count) for batch_id, count in counts.items()]  # fields in that order


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
        return self.acknowledged_counts(Counter(report.batch_id for report in reports), pending)

    def acknowledged_counts(self, heard: Mapping[str, int], pending: Callable[[str], int]) -> list[str]:
        """`acknowledged` from the number of reports just acknowledged per batch (`heard`)."""
        lines = []
        for batch_id, count in heard.items():
            total = self._stored[batch_id] = self._stored.get(batch_id, 0) + count
            if pending(batch_id) <= count:
                lines.append(f"batch {batch_id}: {total} statuses stored at the cloud")
        return lines
