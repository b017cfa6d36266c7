"""OrderManager: the order lifecycle from broker reports, brackets, events on the bus, cancel,
close-all, and the follow-ups a bracket asks for. Runs on the simulated broker and FakeBroker."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import pytest

from adapters.simulated import SimulatedBroker, SimulationConfig
from core.bus import EventBus
from core.clock import ManualClock
from core.events import (
    Event,
    OrderCancelledEvent,
    OrderEvent,
    OrderFilledEvent,
    OrderRejectedEvent,
    OrderStatusEvent,
    OrderSubmittedEvent,
)
from core.order_status import OrderStatus
from core.ports import BrokerError
from core.services import CloseAllIncomplete, OrderChange, OrderManager, OrderRole
from core.values import OrderRef, OrderType, Side
from tests.fakes.broker import FakeBroker

S = OrderStatus
D = Decimal


class Setup:
    def __init__(self, broker: SimulatedBroker | FakeBroker, clock: ManualClock) -> None:
        self.broker = broker
        self.clock = clock
        self.bus = EventBus()
        self.events: list[Event] = []
        self.bus.subscribe(Event, self.events.append, name="recorder")
        self.manager = OrderManager(self.bus, broker, clock=clock)
        self.changes: list[OrderChange] = []
        self.manager.observe(self.changes.append)

    async def start(self, prices: dict[str, str] | None = None) -> Setup:
        await self.broker.connect()
        await self.manager.initialize()
        for symbol, price in (prices or {"AAPL": "100"}).items():
            self.broker.set_price(symbol, D(price))
        return self

    async def settle(self) -> None:
        for _ in range(3):
            await self.manager.drain()
            await self.bus.drain()

    def order_events(self, ref: str | None = None) -> list[tuple[str, object]]:
        out: list[tuple[str, object]] = []
        for event in self.events:
            if isinstance(event, OrderEvent) and (ref is None or event.order_ref == ref):
                detail: object = getattr(event, "status", None) or getattr(event, "quantity", None)
                out.append((type(event).__name__, detail))
        return out


async def simulated(partial: int | None = None, prices: dict[str, str] | None = None) -> Setup:
    clock = ManualClock()
    config = SimulationConfig(partial_fill_quantity=None if partial is None else D(partial))
    return await Setup(SimulatedBroker(clock, config), clock).start(prices)


async def fake(prices: dict[str, str] | None = None) -> Setup:
    clock = ManualClock()
    return await Setup(FakeBroker(clock), clock).start(prices)


async def test_a_market_order_goes_submitted_working_filled_and_is_published_in_order() -> None:
    setup = await simulated()
    order = await setup.manager.place_order("AAPL", Side.BUY, D(10))
    await setup.settle()
    assert order.status is S.FILLED and order.filled == D(10) and order.avg_fill_price == D(100)
    assert setup.order_events(order.order_ref) == [
        ("OrderSubmittedEvent", D(10)),
        ("OrderStatusEvent", S.WORKING),
        ("OrderFilledEvent", D(10)),
        ("OrderStatusEvent", S.FILLED),
    ]
    assert setup.manager.net_position("AAPL") == D(10)
    assert setup.manager.working_orders() == []


async def test_partial_fills_are_counted_with_the_running_total() -> None:
    setup = await simulated(partial=4)
    order = await setup.manager.place_order("AAPL", Side.BUY, D(10), OrderType.LIMIT, limit_price=D(101))
    assert order.status is S.PARTIALLY_FILLED and order.filled == D(4)
    setup.broker.step()
    setup.broker.step()
    await setup.settle()
    fills = [e for e in setup.events if isinstance(e, OrderFilledEvent)]
    assert [(f.quantity, f.filled_total, f.remaining) for f in fills] == [
        (D(4), D(4), D(6)), (D(4), D(8), D(2)), (D(2), D(10), D(0)),
    ]
    assert fills[-1].is_complete and order.status is S.FILLED
    statuses = [e.status for e in setup.events if isinstance(e, OrderStatusEvent)]
    assert statuses == [S.WORKING, S.PARTIALLY_FILLED, S.FILLED]


async def test_a_bracket_holds_its_exits_until_the_entry_fills_then_one_exit_cancels_the_other() -> None:
    setup = await simulated(prices={"AAPL": "100"})
    bracket = await setup.manager.place_bracket(
        "AAPL", Side.BUY, D(10), stop_loss_price=D(97), take_profit_price=D(108),
        order_type=OrderType.LIMIT, limit_price=D(99),
    )
    entry, take_profit, stop_loss = bracket.legs
    assert (entry.status, take_profit.status, stop_loss.status) == (S.WORKING, S.HELD, S.HELD)
    setup.broker.set_price("AAPL", D(99))
    assert (entry.status, take_profit.status, stop_loss.status) == (S.FILLED, S.WORKING, S.WORKING)
    setup.broker.set_price("AAPL", D(108))
    await setup.settle()
    assert (take_profit.status, stop_loss.status) == (S.FILLED, S.CANCELLED)
    assert bracket.is_closed and setup.manager.net_position("AAPL") == 0
    assert ("OrderCancelledEvent", None) in setup.order_events(stop_loss.order_ref)
    assert await setup.broker.open_orders() == []
    roles = {c.order_ref: c.role for c in setup.changes}
    assert roles[entry.order_ref] is OrderRole.ENTRY and roles[stop_loss.order_ref] is OrderRole.STOP_LOSS


async def test_a_broker_rejection_in_a_status_report_is_published_with_its_reason_and_code() -> None:
    setup = await simulated()
    setup.broker.faults.reject_next(code=201, reason="Order rejected - margin")
    order = await setup.manager.place_order("AAPL", Side.BUY, D(10))
    await setup.settle()
    assert order.status is S.REJECTED
    (rejected,) = [e for e in setup.events if isinstance(e, OrderRejectedEvent)]
    assert rejected.code == 201 and "margin" in rejected.reason and rejected.order_ref == order.order_ref


async def test_a_refused_request_marks_the_order_rejected_publishes_it_and_raises() -> None:
    setup = await simulated()
    await setup.broker.disconnect()
    with pytest.raises(BrokerError, match="not connected"):
        await setup.manager.place_order("AAPL", Side.BUY, D(10))
    await setup.settle()
    (order,) = setup.manager.orders()
    assert order.status is S.REJECTED and "not connected" in order.message
    assert [type(e).__name__ for e in setup.events if isinstance(e, OrderEvent)] == [
        "OrderSubmittedEvent", "OrderStatusEvent", "OrderRejectedEvent",
    ]


async def test_cancel_order_ends_it_cancelled_with_an_event() -> None:
    setup = await simulated()
    order = await setup.manager.place_order("AAPL", Side.BUY, D(5), OrderType.LIMIT, limit_price=D(90))
    await setup.manager.cancel_order(order.order_ref)
    await setup.settle()
    assert order.status is S.CANCELLED
    assert any(isinstance(e, OrderCancelledEvent) and e.order_ref == order.order_ref for e in setup.events)
    with pytest.raises(KeyError, match="not placed by this order manager"):
        await setup.manager.cancel_order(OrderRef("someone-else"))


async def test_flatten_cancels_every_order_of_the_symbol_then_closes_the_position_once() -> None:
    setup = await simulated(prices={"AAPL": "100", "MSFT": "50"})
    manager = setup.manager
    await manager.place_bracket("AAPL", Side.BUY, D(10), stop_loss_price=D(95), take_profit_price=D(110))
    await manager.place_order("AAPL", Side.BUY, D(5), OrderType.LIMIT, limit_price=D(90))  # resting
    await manager.place_order("MSFT", Side.BUY, D(3), OrderType.LIMIT, limit_price=D(40))  # other symbol
    assert manager.net_position("AAPL") == D(10)
    flattening = await manager.flatten("AAPL", "sell signal")
    await setup.settle()
    assert flattening is not None and flattening.status is S.FILLED and flattening.request.side is Side.SELL
    assert manager.net_position("AAPL") == 0  # not -10: the stop's cancel did not flatten a second time
    assert manager.working_orders("AAPL") == []
    assert [o.request.symbol for o in await setup.broker.open_orders()] == ["MSFT"]
    assert [o.request.symbol for o in manager.working_orders()] == ["MSFT"]
    assert await manager.flatten("AAPL", "again") is None  # already flat, nothing open


async def test_a_stop_lost_while_shares_are_open_is_flattened_by_a_follow_up() -> None:
    setup = await fake()
    bracket = await setup.manager.place_bracket(
        "AAPL", Side.BUY, D(10), stop_loss_price=D(95), take_profit_price=D(110)
    )
    assert bracket.entry.status is S.FILLED
    await setup.broker.cancel_order(bracket.stop_loss.order_ref)  # someone cancels the stop at the broker
    await setup.settle()
    assert bracket.stop_loss.status is S.CANCELLED
    book = setup.manager.book
    (flattening,) = [o for o in setup.manager.orders() if book.role_of(o.order_ref) is OrderRole.FLATTEN]
    assert flattening.status is S.FILLED and flattening.request.quantity == D(10)
    assert setup.manager.net_position("AAPL") == 0
    assert bracket.take_profit.status is S.CANCELLED


async def test_a_repeated_execution_is_counted_once() -> None:
    setup = await fake()
    order = await setup.manager.place_order("AAPL", Side.BUY, D(10))
    (fill,) = setup.broker.fills
    setup.manager._on_broker_event(fill)  # the broker repeats itself
    await setup.settle()
    assert order.filled == D(10) and setup.manager.net_position("AAPL") == D(10)
    assert len([e for e in setup.events if isinstance(e, OrderFilledEvent)]) == 1


class DeafBroker(FakeBroker):
    """A broker that takes cancel requests and never answers them."""

    async def cancel_order(self, order_ref: OrderRef) -> None:
        return None


async def test_close_all_does_not_flatten_while_cancels_are_unconfirmed() -> None:
    clock = ManualClock()
    setup = Setup(DeafBroker(clock), clock)
    setup.manager = OrderManager(setup.bus, setup.broker, clock=clock, cancel_timeout=0.05)
    await setup.start()
    await setup.manager.place_bracket(
        "AAPL", Side.BUY, D(10), stop_loss_price=D(95), take_profit_price=D(110)
    )
    with pytest.raises(CloseAllIncomplete, match="not flattened") as caught:
        await setup.manager.flatten("AAPL", "close")
    assert "-SL" in str(caught.value) and "-TP" in str(caught.value)
    assert setup.manager.net_position("AAPL") == D(10)  # left alone, still protected by its stop


async def test_the_clock_comes_from_the_broker_or_must_be_given() -> None:
    broker = SimulatedBroker()
    assert OrderManager(EventBus(), broker).clock is broker.clock
    with pytest.raises(TypeError, match="pass clock="):
        OrderManager(EventBus(), FakeBroker())


async def test_every_order_event_carries_the_order_ref_it_is_about() -> None:
    setup = await simulated()
    bracket = await setup.manager.place_bracket(
        "AAPL", Side.SELL, D(10), stop_loss_price=D(105), take_profit_price=D(90)
    )
    await setup.settle()
    refs = {leg.order_ref for leg in bracket.legs}
    order_events: Sequence[OrderEvent] = [e for e in setup.events if isinstance(e, OrderEvent)]
    assert {e.order_ref for e in order_events} == refs
    assert sum(isinstance(e, OrderSubmittedEvent) for e in order_events) == 3
