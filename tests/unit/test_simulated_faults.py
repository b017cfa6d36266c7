"""Fault injection in the simulated broker: rejections, delayed and dropped reports, lost
connections. A fault changes what the client hears, never what the broker holds."""

from __future__ import annotations

from decimal import Decimal

import pytest

from adapters.simulated import SimulatedBroker
from core.broker_events import ConnectionState, Fill, OrderStatusUpdate
from core.clock import ManualClock
from core.order_status import OrderStatus
from core.ports import BrokerError
from core.values import OrderRef, OrderType, Side
from tests.fakes.orders import Recorder, bracket, order

D = Decimal
S = OrderStatus


async def make() -> tuple[SimulatedBroker, Recorder, ManualClock]:
    clock = ManualClock()
    broker = SimulatedBroker(clock)
    recorder = Recorder(broker)
    await broker.connect()
    broker.set_price("AAA", D(100))
    recorder.clear()
    return broker, recorder, clock


async def test_reject_next_rejects_one_order_with_code_and_reason() -> None:
    broker, rec, _ = await make()
    broker.faults.reject_next(202, "Order rejected - reason: price out of range")
    await broker.place_order(order("R1"))
    await broker.place_order(order("R2"))
    update = rec.last("R1")
    assert (update.status, update.code, update.message) == (
        S.REJECTED, 202, "Order rejected - reason: price out of range"
    )
    assert rec.fills("R1") == [] and rec.last("R2").status is S.FILLED  # only the next order
    [rejected] = [o for o in await broker.completed_orders() if o.request.order_ref == "R1"]
    assert rejected.status is S.REJECTED


async def test_a_rejection_can_target_one_order_ref() -> None:
    broker, rec, _ = await make()
    broker.faults.reject_next(order_ref="T2")
    await broker.place_order(order("T1"))
    await broker.place_order(order("T2"))
    assert (rec.last("T1").status, rec.last("T2").status) == (S.FILLED, S.REJECTED)
    assert rec.last("T2").code == 201


async def test_delayed_acks_let_fills_overtake_them_until_release() -> None:
    broker, rec, _ = await make()
    broker.faults.delay_acks()
    await broker.place_order(order("A", quantity=2))
    assert rec.statuses() == []
    assert [f.order_ref for f in rec.fills()] == ["A"]  # the fill arrives before its acknowledgement
    assert [u.status for u in broker.faults.held if isinstance(u, OrderStatusUpdate)] == [S.WORKING, S.FILLED]

    broker.faults.release()
    assert rec.status_names("A") == [S.WORKING, S.FILLED]
    await broker.place_order(order("B", quantity=1))
    assert rec.status_names("B") == [S.WORKING, S.FILLED]  # delaying stopped at the release


async def test_delayed_acks_arrive_when_the_clock_moves_before_anything_newer() -> None:
    broker, rec, clock = await make()
    broker.faults.delay_acks()
    await broker.place_order(order("L", Side.BUY, 1, OrderType.LIMIT, limit=90))
    broker.set_price("AAA", D(99))  # same moment: still held
    assert rec.statuses() == []
    clock.advance(1)
    broker.set_price("AAA", D(90))  # the held WORKING comes first, then the fill and FILLED
    kinds = [(type(e).__name__, getattr(e, "status", None)) for e in rec.events]
    assert kinds == [("OrderStatusUpdate", S.WORKING), ("Fill", None), ("OrderStatusUpdate", S.FILLED)]


async def test_delaying_a_number_of_acks_keeps_each_orders_reports_in_order() -> None:
    broker, rec, _ = await make()
    broker.faults.delay_acks(events=1)
    await broker.place_order(order("X", Side.BUY, 1, OrderType.LIMIT, limit=90))  # its WORKING is held
    await broker.place_order(order("Y", Side.BUY, 1, OrderType.LIMIT, limit=80))  # flows
    await broker.cancel_order(OrderRef("X"))  # queued behind X's held WORKING
    assert rec.status_names("Y") == [S.WORKING]
    assert rec.status_names("X") == []
    broker.faults.release()
    assert rec.status_names("X") == [S.WORKING, S.CANCELLED]


async def test_a_dropped_status_never_arrives_but_the_fill_is_in_executions() -> None:
    broker, rec, _ = await make()
    broker.faults.drop_next_status("D")
    broker.faults.drop_next_status("D")
    await broker.place_order(order("D", quantity=3))
    assert rec.statuses("D") == []
    assert [u.status for u in broker.faults.dropped] == [S.WORKING, S.FILLED]
    assert [f.order_ref for f in rec.fills()] == ["D"]
    assert [f.order_ref for f in await broker.executions()] == ["D"]
    [done] = await broker.completed_orders()
    assert (done.status, done.filled) == (S.FILLED, D(3))


async def test_a_lost_connection_keeps_orders_working_and_restores() -> None:
    broker, rec, _ = await make()
    await broker.place_bracket(bracket("B", quantity=5, entry=95, take_profit=110, stop_loss=90))
    rec.clear()
    broker.faults.disconnect()
    assert [c.state for c in rec.connections()] == [ConnectionState.LOST]
    assert not broker.is_connected()
    with pytest.raises(BrokerError, match="not connected") as refused:
        await broker.place_order(order("N"))
    assert refused.value.code == 504
    with pytest.raises(BrokerError):
        await broker.open_orders()

    broker.set_price("AAA", D(95))  # the entry fills while we are away: nobody hears it
    assert [type(e) for e in rec.events] == [type(rec.connections()[0])]
    assert [e.order_ref for e in broker.faults.lost if isinstance(e, Fill)] == ["B"]

    await broker.connect()
    assert rec.connections()[-1].state is ConnectionState.RESTORED
    assert [f.order_ref for f in await broker.executions()] == ["B"]
    working = {o.request.order_ref: o.status for o in await broker.open_orders()}
    assert working == {"B.tp": S.WORKING, "B.sl": S.WORKING}
    assert [(p.symbol, p.quantity) for p in await broker.positions()] == [("AAA", D(5))]


async def test_a_clean_disconnect_and_connect_report_disconnected_and_connected() -> None:
    broker, rec, _ = await make()
    await broker.disconnect()
    await broker.connect()
    assert [c.state for c in rec.connections()] == [ConnectionState.DISCONNECTED, ConnectionState.CONNECTED]


async def test_clear_disarms_everything() -> None:
    broker, rec, _ = await make()
    broker.faults.reject_next()
    broker.faults.drop_next_status()
    broker.faults.delay_acks()
    broker.faults.clear()
    assert not broker.faults.armed
    await broker.place_order(order("C"))
    assert rec.status_names("C") == [S.WORKING, S.FILLED]
