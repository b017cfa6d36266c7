"""Small shared pieces of the executor's bookkeeping: status vocabulary, report building, and
the refs of orders the executor adds itself (rebuilt stops, flattening orders)."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import replace
from datetime import datetime
from itertools import count

from core.batches import REF_PREFIX
from core.journal import LegRecord, LegRole, LegStatus, StatusReport, make_report
from core.order_status import OrderStatus
from core.ports import Clock, IdGenerator
from core.values import ZERO, BatchId, OrderRef

OUR_PREFIX = f"{REF_PREFIX}:"

LEG_STATUS: dict[OrderStatus, LegStatus] = {
    OrderStatus.PENDING: LegStatus.RECEIVED,
    OrderStatus.SUBMITTED: LegStatus.SUBMITTED,
    OrderStatus.HELD: LegStatus.SUBMITTED,  # accepted, inactive until the entry fills
    OrderStatus.WORKING: LegStatus.WORKING,
    OrderStatus.PARTIALLY_FILLED: LegStatus.PARTIALLY_FILLED,
    OrderStatus.FILLED: LegStatus.FILLED,
    OrderStatus.CANCELLED: LegStatus.CANCELLED,
    OrderStatus.REJECTED: LegStatus.REJECTED,
    OrderStatus.EXPIRED: LegStatus.CANCELLED,  # the wire has no "expired": the order ended unfilled
}


def is_ours(order_ref: str) -> bool:
    """Whether an order ref was made by tradebridge (placed by some executor, maybe not this one)."""
    return order_ref.startswith(OUR_PREFIX)


class Reporter:
    """Builds status reports with ids and times from the injected ports.

    A report id is one id from the generator per Reporter (one per executor run: unique across
    runs, as the generator promises), then a counter: "<run id>.<n>", zero-padded. So the ids of
    a run sort in the order they were made, and the journal's index on them grows at its end: with
    a random id per report, each report written (about 200 per batch) dirtied an index page of its
    own, half the pages a batch wrote to the disk."""

    __slots__ = ("_clock", "_count", "_run")

    def __init__(self, clock: Clock, ids: IdGenerator) -> None:
        self._clock = clock
        self._run = ids.next_id("st-")
        self._count = count(1)

    def _next_id(self) -> str:
        return f"{self._run}.{next(self._count):08d}"

    def now(self) -> datetime:
        return self._clock.now()

    def report(
        self, leg: LegRecord, status: LegStatus | None = None, message: str | None = None,
        at: datetime | None = None,
    ) -> StatusReport:
        """A report of the leg as it is (or with another status / message, for alarms), made now
        (or `at`: a time from `now`, shared by the reports of one broker event or call, so that
        its text is made once, for the journal and for the cloud: see `codec.time_text`)."""
        return make_report(  # about ten per bracket: the id is made here rather than in a call
            f"{self._run}.{next(self._count):08d}", leg.batch_id, leg.order_ref, leg.request.symbol,
            status or leg.status, self._clock.now() if at is None else at, leg.filled, leg.avg_price,
            leg.message if message is None else message,
        )

    def notice(
        self, batch_id: BatchId, order_ref: OrderRef, symbol: str, status: LegStatus, message: str
    ) -> StatusReport:
        """A report about an order that has no leg record (a malformed order of a refused batch)."""
        return make_report(self._next_id(), batch_id, order_ref, symbol, status, self._clock.now(), ZERO,
                           ZERO, message)


def derived_ref(base: OrderRef, tag: str, taken: Collection[str]) -> OrderRef:
    """A new, unused ref for an order the executor adds: "<base>:<tag><n>" with the first free n.
    Refs are never reused, so a rebuilt order can never be mistaken for the one it replaces."""
    n = 1
    while f"{base}:{tag}{n}" in taken:
        n += 1
    return OrderRef(f"{base}:{tag}{n}")


ADDED_ROLES = frozenset({LegRole.REBUILT_STOP, LegRole.FLATTEN})


def for_the_cloud(report: StatusReport, leg: LegRecord | None, legs: Iterable[LegRecord]) -> StatusReport:
    """`report` as the cloud can take it. The cloud knows only the legs it delivered, and refuses
    reports about any other ref; so a report about an order the executor added (`leg`: a rebuilt
    stop, a flattening order) goes to its bracket's stop-loss leg (found in `legs`) as `error`,
    saying what became of the added order. The status id stays: the acknowledgement matches."""
    if leg is None or leg.role not in ADDED_ROLES:
        return report
    stop = next((r for r in legs if r.bracket_ref == leg.bracket_ref and r.role is LegRole.STOP_LOSS), None)
    if stop is None:
        return report
    what = "flattening order" if leg.role is LegRole.FLATTEN else "rebuilt stop"
    request = leg.request
    text = f"stop {stop.order_ref} {stop.status.value}" + (f" ({stop.message})" if stop.message else "")
    text += f"; {what} {leg.order_ref} ({request.side.value} {request.quantity} {request.symbol}) "
    text += report.status.value + (f" {report.filled} at {report.avg_price}" if report.filled else "")
    if report.message:
        text += f": {report.message}"
    return replace(report, order_ref=stop.order_ref, status=LegStatus.ERROR, filled=stop.filled,
                   avg_price=stop.avg_price, message=text)
