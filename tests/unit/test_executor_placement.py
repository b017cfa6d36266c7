"""Placement: "sending" before the broker call, "sent" after; broker events become journaled leg
statuses and reports; fills counted once; a lost stop is flattened and reported as an error."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from core.batches import Leg, leg_ref
from core.broker_events import Fill, OrderStatusUpdate
from core.clock import ManualClock, SequentialIds
from core.journal import BatchState, LegRole, LegStatus, Placement
from core.order_status import OrderStatus
from core.orders import BracketRequest, OrderRequest
from core.ports import BrokerError
from core.risk import RiskLimits
from core.service_layer.executor.service import ExecutorService
from core.service_layer.executor.settings import ExecutorSettings
from core.values import BatchId, ExecId, OrderRef, Side
from tests.fakes.broker import FakeBroker
from tests.fakes.journal import InMemoryJournal, wire_batch, wire_order

E, TP, SL = (leg_ref("B1", "AAA", leg) for leg in Leg)


class WatchingBroker(FakeBroker):
    """A fake broker that records, at each place call, what the journal said about the legs."""

    def __init__(self, journal: InMemoryJournal, clock: ManualClock) -> None:
        super().__init__(clock)
        self.journal = journal
        self.seen: list[tuple[str, Placement]] = []
        self.refuse: str | None = None

    async def place_bracket(self, bracket: BracketRequest) -> None:
        self._look(bracket.legs)
        if self.refuse:
            raise BrokerError(self.refuse, code=201)
        await super().place_bracket(bracket)

    async def place_order(self, order: OrderRequest) -> None:
        self._look((order,))
        await super().place_order(order)

    def _look(self, legs: Sequence[OrderRequest]) -> None:
        for leg in legs:
            record = self.journal.leg(leg.order_ref)
            self.seen.append((leg.order_ref, record.placement if record else Placement.PENDING))


async def _world() -> tuple[ExecutorService, WatchingBroker, InMemoryJournal]:
    clock = ManualClock()
    journal = InMemoryJournal()
    broker = WatchingBroker(journal, clock)
    await broker.connect()
    executor = ExecutorService(journal, broker, clock, SequentialIds(),
                               ExecutorSettings(limits=RiskLimits.unlimited()))
    await executor.start()
    executor.receive(wire_batch("B1", wire_order("AAA")), 1)
    return executor, broker, journal


def _status(journal: InMemoryJournal, ref: str) -> tuple[Placement, LegStatus, Decimal]:
    leg = journal.leg(OrderRef(ref))
    assert leg is not None
    return leg.placement, leg.status, leg.filled


async def test_legs_are_journaled_sending_before_the_call_and_sent_after() -> None:
    executor, broker, journal = await _world()
    await executor.place_pending()
    assert broker.seen == [(E, Placement.SENDING), (TP, Placement.SENDING), (SL, Placement.SENDING)]
    assert _status(journal, E) == (Placement.SENT, LegStatus.WORKING, Decimal(0))
    assert _status(journal, SL) == (Placement.SENT, LegStatus.SUBMITTED, Decimal(0))
    batch = journal.batch(BatchId("B1"))
    assert batch is not None and batch.state is BatchState.PLACED


async def test_a_broker_refusal_is_journaled_and_reported_with_its_words() -> None:
    executor, broker, journal = await _world()
    broker.refuse = "Order rejected - reason: no trading permissions"
    await executor.place_pending()
    assert broker.orders == {}
    assert _status(journal, E)[:2] == (Placement.FAILED, LegStatus.REJECTED)
    leg = journal.leg(E)
    assert leg is not None and "no trading permissions" in leg.message and "approve it again" in leg.message
    batch = journal.batch(BatchId("B1"))
    assert batch is not None and batch.state is BatchState.REJECTED


async def test_fills_and_exits_are_journaled_and_reported() -> None:
    executor, broker, journal = await _world()
    await executor.place_pending()
    broker.set_price("AAA", Decimal(100))
    await executor.pump()
    assert _status(journal, E) == (Placement.SENT, LegStatus.FILLED, Decimal(10))
    assert _status(journal, SL)[1] is LegStatus.WORKING
    broker.set_price("AAA", Decimal(111))
    await executor.pump()
    assert _status(journal, TP) == (Placement.SENT, LegStatus.FILLED, Decimal(10))
    assert _status(journal, SL)[1] is LegStatus.CANCELLED
    statuses = [(r.order_ref, r.status) for r in journal.pending_reports()]
    for expected in [(E, LegStatus.RECEIVED), (E, LegStatus.SUBMITTED), (E, LegStatus.WORKING),
                     (E, LegStatus.FILLED), (SL, LegStatus.WORKING), (TP, LegStatus.FILLED),
                     (SL, LegStatus.CANCELLED)]:
        assert expected in statuses
    filled = next(r for r in journal.pending_reports() if (r.order_ref, r.status) == (TP, LegStatus.FILLED))
    assert (filled.filled, filled.avg_price) == (Decimal(10), Decimal(111))


async def test_a_fill_heard_twice_counts_once() -> None:
    executor, broker, journal = await _world()
    await executor.place_pending()
    broker.set_price("AAA", Decimal(100))
    await executor.pump()
    fill = broker.fills[0]
    executor._events.append(fill)  # the broker repeats an execution (as IB does after a reconnect)
    await executor.pump()
    assert [f.exec_id for f in journal.fills()] == [fill.exec_id]
    assert _status(journal, E)[2] == Decimal(10)


async def test_reports_stay_until_the_cloud_acknowledges_them() -> None:
    executor, _, journal = await _world()
    reports = executor.pending_reports()
    assert len(reports) == 3
    assert executor.acknowledge_report(reports[0].status_id)
    assert [r.status_id for r in executor.pending_reports()] == [r.status_id for r in reports[1:]]
    assert journal.pending_reports() == executor.pending_reports()


async def test_a_lost_stop_with_open_shares_is_flattened_and_reported_as_an_error() -> None:
    executor, broker, journal = await _world()
    await executor.place_pending()
    broker.set_price("AAA", Decimal(100))
    await executor.pump()
    await broker.cancel_order(SL)  # someone cancels the stop in TWS
    await executor.pump()
    flatten = [leg for leg in journal.legs() if leg.role is LegRole.FLATTEN]
    assert len(flatten) == 1
    assert flatten[0].order_ref == f"{E}:FL1"
    assert flatten[0].request.side is Side.SELL and flatten[0].request.quantity == Decimal(10)
    assert _status(journal, flatten[0].order_ref) == (Placement.SENT, LegStatus.FILLED, Decimal(10))
    assert broker.holdings["AAA"][0] == 0
    assert _status(journal, TP)[1] is LegStatus.CANCELLED  # the target goes with the trade
    alarms = [r for r in journal.pending_reports() if r.status is LegStatus.ERROR]
    assert len(alarms) == 1 and alarms[0].order_ref == SL and "NAKED" in alarms[0].message
    assert any("NAKED" in notice for notice in executor.notices)


async def test_a_report_that_breaks_the_bracket_rules_is_journaled_as_an_error() -> None:
    executor, broker, journal = await _world()
    await executor.place_pending()
    bogus = Fill(ExecId("x1"), SL, "AAA", Side.SELL, Decimal(10), Decimal(90), broker._now())
    executor._events.append(bogus)  # an exit fill before the entry filled
    await executor.pump()
    assert journal.has_execution("x1")  # counted once, not lost
    assert [r.status for r in journal.pending_reports() if r.order_ref == SL][-1] is LegStatus.ERROR
    plan = executor.last_plan  # and the executor reconciled with the broker at once
    assert plan is not None and any("more than the entry" in line for line in plan.findings)


async def test_a_status_for_an_unknown_tradebridge_order_is_noted_and_left_alone() -> None:
    executor, _, journal = await _world()
    executor._events.append(OrderStatusUpdate(OrderRef("tb:ZZ:AAA:E"), OrderStatus.WORKING))
    await executor.pump()
    assert any("tb:ZZ:AAA:E" in notice and "left alone" in notice for notice in executor.notices)
    assert journal.leg(OrderRef("tb:ZZ:AAA:E")) is None


async def test_the_stop_and_target_stay_when_the_entry_is_cancelled_after_a_fill() -> None:
    executor, broker, journal = await _world()
    await executor.place_pending()
    broker.set_price("AAA", Decimal(100))
    await executor.pump()
    await executor.halt("test")
    assert _status(journal, SL)[1] is LegStatus.WORKING
    assert broker.orders[SL].status is OrderStatus.WORKING
