"""`SimulatedBroker.observe_deliveries`: the observer is shown each run of events once, before the
subscribers get them (runs queued by a subscriber's own call included), and never events that are
not delivered (lost while disconnected)."""

from __future__ import annotations

from collections.abc import Coroutine, Sequence
from decimal import Decimal

from adapters.simulated import SimulatedBroker
from core.broker_events import BrokerEvent, OrderStatusUpdate
from core.clock import ManualClock
from core.order_status import OrderStatus
from core.values import OrderRef, OrderType
from tests.fakes.orders import bracket, order


async def test_each_run_is_observed_once_before_the_subscribers_get_it() -> None:
    broker = SimulatedBroker(ManualClock())
    seen: list[tuple[str, object]] = []
    runs: list[list[BrokerEvent]] = []

    def observe(events: Sequence[BrokerEvent]) -> None:
        runs.append(list(events))
        seen.append(("run", len(events)))

    broker.observe_deliveries(observe)
    broker.subscribe(lambda event: seen.append(("event", event)))
    await broker.connect()
    broker.set_price("AAA", Decimal(100))
    runs.clear()
    seen.clear()
    await broker.place_bracket(bracket("b1", entry=100))  # fills at once: the exits start working
    delivered = [item for kind, item in seen if kind == "event"]
    assert runs == [delivered]
    assert seen[0] == ("run", len(delivered))


def run_at_once(call: Coroutine[object, object, None]) -> None:
    """Drive a simulated broker call that never waits (from inside a delivery)."""
    try:
        call.send(None)
    except StopIteration:
        return
    raise AssertionError("the simulated broker's call waited")


async def test_runs_a_subscriber_queues_are_observed_and_lost_events_are_not() -> None:
    broker = SimulatedBroker(ManualClock())
    runs: list[list[BrokerEvent]] = []
    broker.observe_deliveries(lambda events: runs.append(list(events)))
    delivered: list[BrokerEvent] = []

    def cancel_o1_once_working(event: BrokerEvent) -> None:
        delivered.append(event)
        if not isinstance(event, OrderStatusUpdate):
            return
        if (event.order_ref, event.status) == ("o1", OrderStatus.WORKING):
            run_at_once(broker.cancel_order(OrderRef("o1")))  # its report queues behind this run

    broker.subscribe(cancel_o1_once_working)
    await broker.connect()
    broker.set_price("AAA", Decimal(100))
    runs.clear()
    delivered.clear()  # (the connection's run)
    await broker.place_order(order("o1", order_type=OrderType.LIMIT, limit=90))
    assert [event for run in runs for event in run] == delivered
    assert [[(e.order_ref, e.status) for e in run if isinstance(e, OrderStatusUpdate)] for run in runs] == [
        [("o1", OrderStatus.WORKING)], [("o1", OrderStatus.CANCELLED)]
    ]
    await broker.place_order(order("o2", order_type=OrderType.LIMIT, limit=95))
    await broker.disconnect()
    runs.clear()
    broker.set_price("AAA", Decimal(94))  # o2 fills, but nobody hears it while disconnected
    assert runs == []
    assert broker.exchange.orders[OrderRef("o2")].status is OrderStatus.FILLED
