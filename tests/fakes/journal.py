"""`InMemoryJournal`: the Journal port in dictionaries, for unit and property tests.

It keeps the port's promises that do not need a disk: atomic steps (a step is validated before
anything is written), duplicate batches refused, executions applied once, journal order kept.
A "crash" in a test drops the executor and keeps this object, as a disk would be kept.
Below it: builders of batches as the cloud sends them, shared by the executor tests.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from adapters.wire.messages import OrderLegs, TradingOrdersGenerated, WireOrder
from core.batches import Leg, leg_ref
from core.broker_events import Fill
from core.journal import (
    REUSED_STATUS_ID,
    BatchState,
    DuplicateExecution,
    JournaledBatch,
    JournalStep,
    LegRecord,
    RecordOutcome,
    StatusReport,
    TradingStateRecord,
)
from core.values import BatchId, OrderRef


class InMemoryJournal:
    """A journal that lives as long as the test keeps it (see the module docstring)."""

    def __init__(self) -> None:
        self._batches: dict[BatchId, JournaledBatch] = {}
        self._legs: dict[OrderRef, LegRecord] = {}
        self._fills: dict[str, Fill] = {}
        self._reports: dict[str, StatusReport] = {}
        self._trading = TradingStateRecord()
        self.commits = 0  # how many transactions were written: lets tests check "one step, one write"

    def record_batch(
        self, batch: JournaledBatch, legs: Sequence[LegRecord], reports: Sequence[StatusReport]
    ) -> RecordOutcome:
        if batch.batch_id in self._batches:
            return RecordOutcome.DUPLICATE
        self._check_reports(reports)
        self._batches[batch.batch_id] = batch
        self._write_legs_and_reports(legs, reports)
        self.commits += 1
        return RecordOutcome.NEW

    def commit(self, step: JournalStep) -> None:
        for batch_id, _, _ in step.batch_states:
            if batch_id not in self._batches:
                raise KeyError(f"batch {batch_id} is not in the journal")
        exec_ids = [fill.exec_id for fill in step.fills]
        for exec_id in exec_ids:
            if exec_id in self._fills or exec_ids.count(exec_id) > 1:
                raise DuplicateExecution(f"execution {exec_id} was applied already")
        self._check_reports(step.reports)
        for batch_id, state, reason in step.batch_states:
            self._batches[batch_id] = replace(self._batches[batch_id], state=state, reason=reason)
        self._fills.update((fill.exec_id, fill) for fill in step.fills)
        self._write_legs_and_reports(step.legs, step.reports)
        self.commits += 1

    def batch(self, batch_id: BatchId) -> JournaledBatch | None:
        return self._batches.get(batch_id)

    def batches(self, states: Collection[BatchState] | None = None) -> tuple[JournaledBatch, ...]:
        return tuple(b for b in self._batches.values() if states is None or b.state in states)

    def legs(self) -> tuple[LegRecord, ...]:
        return tuple(self._legs.values())

    def leg(self, order_ref: OrderRef) -> LegRecord | None:
        return self._legs.get(order_ref)

    def fills(self) -> tuple[Fill, ...]:
        return tuple(self._fills.values())

    def has_execution(self, exec_id: str) -> bool:
        return exec_id in self._fills

    def pending_reports(self) -> tuple[StatusReport, ...]:
        return tuple(report for report in self._reports.values() if not report.acked)

    def acknowledge_report(self, status_id: str) -> bool:
        report = self._reports.get(status_id)
        if report is None or report.acked:
            return False
        self._reports[status_id] = replace(report, acked=True)
        return True

    def acknowledge_reports(self, status_ids: Sequence[str]) -> int:
        return sum(self.acknowledge_report(status_id) for status_id in status_ids)

    def last_seq(self) -> int:
        return max((b.seq for b in self._batches.values() if b.seq is not None), default=0)

    def trading_state(self) -> TradingStateRecord:
        return self._trading

    def set_trading_state(self, record: TradingStateRecord) -> None:
        self._trading = record

    def close(self) -> None:
        pass

    def _check_reports(self, reports: Sequence[StatusReport]) -> None:
        ids = [report.status_id for report in reports]
        if any(status_id in self._reports or ids.count(status_id) > 1 for status_id in ids):
            raise ValueError(REUSED_STATUS_ID)

    def _write_legs_and_reports(self, legs: Sequence[LegRecord], reports: Sequence[StatusReport]) -> None:
        # dict assignment keeps the first insertion's position: journal order is first-write order.
        self._legs.update((leg.order_ref, leg) for leg in legs)
        self._reports.update((report.status_id, report) for report in reports)


# -- builders for executor tests -------------------------------------------------------------------


def wire_order(
    symbol: str, side: str = "BUY", quantity: int = 10, entry: str = "100", stop: str = "90",
    target: str = "110", order_type: str = "MKT", batch_id: str | None = None,
) -> WireOrder:
    """One order as the cloud sends it; with `batch_id`, its three leg keys are named in `legs`."""
    legs = None
    if batch_id is not None:
        legs = OrderLegs(entry=leg_ref(batch_id, symbol, Leg.ENTRY),
                         take_profit=leg_ref(batch_id, symbol, Leg.TAKE_PROFIT),
                         stop_loss=leg_ref(batch_id, symbol, Leg.STOP_LOSS))
    ref = leg_ref(batch_id, symbol, Leg.ENTRY) if batch_id is not None else ""
    return WireOrder(order_ref=ref, symbol=symbol, side=side, quantity=Decimal(quantity),
                     order_type=order_type, entry_price=Decimal(entry), stop_loss=Decimal(stop),
                     take_profit=Decimal(target), legs=legs)


def wire_batch(
    batch_id: str, *orders: WireOrder, expires_at: datetime | None = None,
    approved_at: datetime | None = None, content_hash: str | None = None,
) -> TradingOrdersGenerated:
    """A `trading_orders_generated` frame's data; default orders AAA and BBB."""
    return TradingOrdersGenerated(
        batch_id=batch_id, scan_id=1, orders=list(orders) or [wire_order("AAA"), wire_order("BBB")],
        approved_at=None if approved_at is None else approved_at.isoformat(),
        expires_at=None if expires_at is None else expires_at.isoformat(), content_hash=content_hash,
    )
