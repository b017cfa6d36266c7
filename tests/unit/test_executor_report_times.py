"""The reports one broker call or one broker event makes share one time, read from the clock once
(its text is then made once, for the journal and for the cloud); separate events keep their own."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from core.batches import Leg, leg_ref
from core.clock import ManualClock, SequentialIds
from core.journal import LegStatus
from core.risk import RiskLimits
from core.service_layer.executor.service import ExecutorService
from core.service_layer.executor.settings import ExecutorSettings
from tests.fakes.broker import FakeBroker
from tests.fakes.journal import InMemoryJournal, wire_batch, wire_order

E, TP, SL = (leg_ref("B1", "AAA", leg) for leg in Leg)


class TickingClock(ManualClock):
    """Each reading is a microsecond later than the one before, and is counted."""

    __slots__ = ("readings",)

    def __init__(self) -> None:
        super().__init__()
        self.readings = 0

    def now(self) -> datetime:
        self.readings += 1
        return self.advance(1e-6)


async def test_the_reports_of_one_call_or_event_share_one_reading_of_the_clock() -> None:
    clock = TickingClock()
    journal = InMemoryJournal()
    broker = FakeBroker(ManualClock())
    await broker.connect()
    executor = ExecutorService(journal, broker, clock, SequentialIds(),
                               ExecutorSettings(limits=RiskLimits.unlimited()))
    await executor.start()
    executor.receive(wire_batch("B1", wire_order("AAA")), 1)
    await executor.place_pending()
    broker.set_price("AAA", Decimal(100))  # the entry fills: the exits start working
    readings = clock.readings
    await executor.pump()
    reports = {(r.order_ref, r.status): r for r in journal.pending_reports()}
    submitted = [reports[ref, LegStatus.SUBMITTED].created_at for ref in (E, TP, SL)]
    assert len(set(submitted)) == 1  # the three legs placed by one broker call
    filled = [reports[E, LegStatus.FILLED], reports[TP, LegStatus.WORKING], reports[SL, LegStatus.WORKING]]
    assert len({report.created_at for report in filled}) == 1  # one execution, three legs changed
    assert clock.readings == readings + 1
    assert filled[0].created_at - reports[E, LegStatus.WORKING].created_at >= timedelta(microseconds=1)
    ids = [r.status_id for r in journal.pending_reports()]
    assert ids == sorted(ids)
