"""The coordinator: HALTED until reconciled (on start and after every reconnect), the kill switch
persisted across restarts, and whole flows on the simulated broker and the SQLite journal."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

from adapters.journal import SqliteJournal
from adapters.simulated.broker import SimulatedBroker
from adapters.simulated.config import SimulationConfig
from core.batches import Leg, leg_ref
from core.clock import ManualClock, SequentialIds
from core.journal import Journal, LegRole, LegStatus, Placement
from core.order_status import OrderStatus
from core.orders import BracketRequest
from core.ports import Broker
from core.risk import RiskLimits
from core.service_layer.executor.intake import IntakeOutcome
from core.service_layer.executor.service import ExecutorService
from core.service_layer.executor.settings import ExecutorSettings
from core.values import OrderRef, TradingState
from tests.fakes.broker import FakeBroker
from tests.fakes.journal import InMemoryJournal, wire_batch, wire_order

E, TP, SL = (leg_ref("B1", "AAA", leg) for leg in Leg)
SETTINGS_NONE = RiskLimits.unlimited()


def _executor(journal: Journal, broker: Broker, clock: ManualClock, ids: SequentialIds) -> ExecutorService:
    return ExecutorService(journal, broker, clock, ids, ExecutorSettings(limits=SETTINGS_NONE))


def _state(executor: ExecutorService) -> TradingState:
    return executor.trading_state  # read through a call: the state changes between asserts


async def test_halted_until_reconciled_then_active() -> None:
    clock = ManualClock()
    broker = FakeBroker(clock)
    await broker.connect()
    executor = _executor(InMemoryJournal(), broker, clock, SequentialIds())
    assert _state(executor) is TradingState.HALTED
    result = executor.receive(wire_batch("B1", wire_order("AAA")), 1)
    assert (result.ack_seq, result.outcome) == (1, IntakeOutcome.ACCEPTED)  # journaled and acked while halted
    await executor.place_pending()
    assert broker.orders == {}  # but nothing placed before reconciliation
    plan = await executor.start()
    assert plan.findings == ()
    assert _state(executor) is TradingState.ACTIVE
    assert set(broker.orders) == {E, TP, SL}  # what waited is placed once reconciled


async def test_a_reconnect_halts_until_reconciled_again() -> None:
    clock = ManualClock()
    broker = SimulatedBroker(clock)
    await broker.connect()
    journal = InMemoryJournal()
    executor = _executor(journal, broker, clock, SequentialIds())
    await executor.start()
    broker.faults.disconnect()
    await executor.pump()
    assert _state(executor) is TradingState.HALTED
    executor.receive(wire_batch("B1", wire_order("AAA")), 1)
    await executor.place_pending()
    assert journal.leg(E) is not None and journal.leg(E).placement is Placement.PENDING  # type: ignore[union-attr]
    await broker.connect()  # RESTORED
    await executor.pump()
    assert executor.reconciled and _state(executor) is TradingState.ACTIVE
    await executor.place_pending()
    assert {o.request.order_ref for o in await broker.open_orders()} == {E, TP, SL}


async def test_the_kill_switch_survives_a_restart_until_resumed(tmp_path: Path) -> None:
    clock, ids = ManualClock(), SequentialIds()
    broker = FakeBroker(clock)
    await broker.connect()
    path = tmp_path / "journal.sqlite"
    journal = SqliteJournal(path)
    executor = _executor(journal, broker, clock, ids)
    await executor.start()
    executor.receive(wire_batch("B1", wire_order("AAA"), wire_order("BBB")), 1)
    await executor.place_pending()
    broker.set_price("AAA", Decimal(100))  # AAA's entry fills; BBB's works
    await executor.pump()
    await executor.halt("operator pressed the kill switch")
    bbb_entry = leg_ref("B1", "BBB", Leg.ENTRY)
    assert broker.orders[bbb_entry].status is OrderStatus.CANCELLED  # working entry cancelled
    assert broker.orders[SL].status is OrderStatus.WORKING  # the stop of the open position stays
    executor.close()
    journal.close()

    journal = SqliteJournal(path)  # the executor restarts
    executor = _executor(journal, broker, clock, ids)
    await executor.start()
    assert _state(executor) is TradingState.HALTED
    assert journal.trading_state().reason == "operator pressed the kill switch"
    await executor.resume_trading()
    assert _state(executor) is TradingState.ACTIVE
    executor.receive(wire_batch("B2", wire_order("CCC")), 2)
    await executor.place_pending()
    assert leg_ref("B2", "CCC", Leg.ENTRY) in broker.orders
    journal.close()


async def test_a_crash_before_placing_places_once_after_restart_on_sqlite(tmp_path: Path) -> None:
    clock, ids = ManualClock(), SequentialIds()
    broker = FakeBroker(clock)
    await broker.connect()
    path = tmp_path / "journal.sqlite"
    first = SqliteJournal(path)
    executor = _executor(first, broker, clock, ids)
    await executor.start()
    executor.receive(wire_batch("B1", wire_order("AAA")), 1)
    executor.close()  # killed right after the ack: nothing placed
    first.close()

    journal = SqliteJournal(path)
    executor = _executor(journal, broker, clock, ids)
    await executor.start()
    assert executor.last_seq() == 1
    again = executor.receive(wire_batch("B1", wire_order("AAA")), 1)  # the cloud resends; no harm
    assert again.outcome is IntakeOutcome.DUPLICATE
    await executor.place_pending()
    await executor.place_pending()
    assert set(broker.orders) == {E, TP, SL}
    assert {leg.placement for leg in journal.legs()} == {Placement.SENT}
    journal.close()


async def test_partial_fills_on_the_simulated_broker_keep_the_stop_at_the_open_quantity(
    tmp_path: Path,
) -> None:
    clock, ids = ManualClock(), SequentialIds()
    broker = SimulatedBroker(clock, SimulationConfig(partial_fill_quantity=Decimal(3)))
    await broker.connect()
    journal = SqliteJournal(tmp_path / "j.sqlite")
    executor = _executor(journal, broker, clock, ids)
    await executor.start()
    broker.set_price("AAA", Decimal(100))
    executor.receive(wire_batch("B1", wire_order("AAA")), 1)
    await executor.place_pending()
    broker.step()
    await executor.pump()
    executor.close()  # crash with fills not yet heard
    broker.step()
    broker.step()

    executor = _executor(journal, broker, clock, ids)
    plan = await executor.start()
    assert plan.adopt_fills  # fills made while the executor was down are adopted
    entry = journal.leg(E)
    fills = await broker.executions()
    executed = sum((f.quantity for f in fills if f.order_ref == E), Decimal(0))
    assert entry is not None and entry.filled == executed and executed > 0
    stop = next(o for o in await broker.open_orders() if o.request.order_ref == SL)
    assert (stop.status, stop.request.quantity - stop.filled) == (OrderStatus.WORKING, executed)
    assert [leg for leg in journal.legs() if leg.role is LegRole.REBUILT_STOP] == []  # nothing to rebuild
    assert {f.exec_id for f in journal.fills()} == {f.exec_id for f in fills}
    journal.close()


async def test_a_stop_rejected_by_the_simulated_broker_ends_the_bracket_before_any_fill() -> None:
    clock, ids = ManualClock(), SequentialIds()
    broker = SimulatedBroker(clock)
    await broker.connect()
    journal = InMemoryJournal()
    executor = _executor(journal, broker, clock, ids)
    await executor.start()
    broker.faults.reject_next(order_ref=SL, reason="stop price too far from market")
    executor.receive(wire_batch("B1", wire_order("AAA")), 1)
    await executor.place_pending()
    stop = journal.leg(SL)
    assert stop is not None and stop.status is LegStatus.REJECTED
    assert "too far" in stop.message
    entry = journal.leg(E)
    assert entry is not None and entry.status is LegStatus.CANCELLED  # never opens without its stop
    broker.set_price("AAA", Decimal(100))
    await executor.pump()
    assert await broker.positions() == []


async def test_reports_of_a_flow_reach_the_cloud_in_order() -> None:
    clock, ids = ManualClock(), SequentialIds()
    broker = FakeBroker(clock)
    await broker.connect()
    executor = _executor(InMemoryJournal(), broker, clock, ids)
    await executor.start()
    executor.receive(wire_batch("B1", wire_order("AAA")), 1)
    await executor.place_pending()
    broker.set_price("AAA", Decimal(100))
    await executor.pump()
    entry_statuses = [r.status for r in executor.pending_reports() if r.order_ref == OrderRef(E)]
    assert entry_statuses == [LegStatus.RECEIVED, LegStatus.SUBMITTED, LegStatus.WORKING, LegStatus.FILLED]
    for report in executor.pending_reports():
        assert executor.acknowledge_report(report.status_id)
    assert executor.pending_reports() == ()


class SlowBroker(FakeBroker):
    """A fake broker whose placements take a moment (yield to the event loop), counting sends."""

    def __init__(self, clock: ManualClock) -> None:
        super().__init__(clock)
        self.sent: list[str] = []

    async def place_bracket(self, bracket: BracketRequest) -> None:
        self.sent += [leg.order_ref for leg in bracket.legs]
        await asyncio.sleep(0)
        await super().place_bracket(bracket)


async def test_concurrent_calls_never_send_a_leg_twice() -> None:
    clock = ManualClock()
    broker = SlowBroker(clock)
    await broker.connect()
    executor = _executor(InMemoryJournal(), broker, clock, SequentialIds())
    await executor.start()
    executor.receive(wire_batch("B1", wire_order("AAA"), wire_order("BBB")), 1)
    await asyncio.gather(executor.place_pending(), executor.reconcile(), executor.place_pending(),
                         executor.pump(), executor.reconcile())
    assert sorted(broker.sent) == sorted(set(broker.sent))
    assert len(broker.sent) == 6


class FlakyBroker(SimulatedBroker):
    """A simulated broker whose connection drops right after the first bracket it takes."""

    dropped = False

    async def place_bracket(self, bracket: BracketRequest) -> None:
        await super().place_bracket(bracket)
        if not self.dropped:
            self.dropped = True
            self.faults.disconnect()


async def test_a_connection_lost_midway_through_a_batch_is_settled_by_reconciliation() -> None:
    clock = ManualClock()
    broker = FlakyBroker(clock)
    await broker.connect()
    journal = InMemoryJournal()
    executor = _executor(journal, broker, clock, SequentialIds())
    await executor.start()
    executor.receive(wire_batch("B1", wire_order("AAA"), wire_order("BBB")), 1)
    await executor.place_pending()
    assert _state(executor) is TradingState.HALTED
    bbb = leg_ref("B1", "BBB", Leg.ENTRY)
    leg = journal.leg(bbb)
    assert leg is not None and leg.placement is Placement.SENDING  # not refused: not sent yet
    await broker.connect()
    await executor.pump()  # RESTORED: reconcile places what the broker lacks
    refs = {o.request.order_ref for o in await broker.open_orders()}
    assert refs == {leg_ref("B1", symbol, leg) for symbol in ("AAA", "BBB") for leg in Leg}
    assert {leg.placement for leg in journal.legs()} == {Placement.SENT}
    assert any("went away" in notice for notice in executor.notices)


async def test_the_run_loop_is_woken_for_each_broker_event() -> None:
    clock = ManualClock()
    broker = FakeBroker(clock)
    await broker.connect()
    woken: list[int] = []
    executor = ExecutorService(InMemoryJournal(), broker, clock, SequentialIds(),
                               ExecutorSettings(limits=SETTINGS_NONE), wake=lambda: woken.append(1))
    await executor.start()
    executor.receive(wire_batch("B1", wire_order("AAA")), 1)
    await executor.place_pending()
    assert woken and not executor.events_waiting
    before = len(woken)
    broker.set_price("AAA", Decimal(100))
    assert len(woken) > before and executor.events_waiting
    await executor.pump()
    assert not executor.events_waiting
