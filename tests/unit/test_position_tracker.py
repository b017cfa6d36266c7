"""PositionTracker: positions and P&L from OrderFilledEvents and PriceEvents on the bus."""

from __future__ import annotations

from decimal import Decimal

from adapters.simulated import SimulatedBroker
from core.bus import EventBus
from core.clock import EPOCH
from core.events import OrderFilledEvent, PositionChangedEvent, PriceEvent
from core.services import OrderManager, PositionTracker
from core.values import ExecId, OrderRef, Side

D = Decimal


def filled(exec_id: str, side: Side, quantity: str, price: str, symbol: str = "AAPL",
           commission: str = "0") -> OrderFilledEvent:
    return OrderFilledEvent(
        symbol, OrderRef("o1"), ExecId(exec_id), side, D(quantity), D(price), D(quantity), D(0),
        D(commission), timestamp=EPOCH,
    )


async def tracker() -> tuple[EventBus, PositionTracker, list[PositionChangedEvent]]:
    bus = EventBus()
    changes: list[PositionChangedEvent] = []
    bus.subscribe(PositionChangedEvent, changes.append)
    position_tracker = PositionTracker(bus)
    await position_tracker.initialize()
    return bus, position_tracker, changes


async def test_fills_open_add_to_and_close_a_long_with_realized_pnl() -> None:
    bus, positions, changes = await tracker()
    await bus.publish(filled("e1", Side.BUY, "10", "100", commission="1"))
    await bus.publish(filled("e2", Side.BUY, "10", "110", commission="1"))
    await bus.publish(filled("e3", Side.SELL, "20", "120", commission="1"))
    await bus.drain()
    assert [(c.previous_quantity, c.quantity) for c in changes] == [(0, 10), (10, 20), (20, 0)]
    assert changes[1].average_price == D(105) and changes[0].opened and changes[-1].closed
    assert positions.realized_pnl("AAPL") == D(300)  # (120 - 105) * 20
    assert positions.commissions() == D(3) and positions.total_pnl() == D(297)
    assert positions.open_positions() == {}


async def test_prices_move_the_unrealized_pnl_of_an_open_position() -> None:
    bus, positions, changes = await tracker()
    await bus.publish(filled("e1", Side.SELL, "10", "50"))  # a short
    await bus.publish(PriceEvent("AAPL", D(45), timestamp=EPOCH))
    await bus.publish(PriceEvent("AAPL", D(45), timestamp=EPOCH))  # same mark: nothing new
    await bus.publish(PriceEvent("MSFT", D(10), timestamp=EPOCH))  # no position: nothing
    await bus.drain()
    assert positions.unrealized_pnl("AAPL") == D(50) and positions.quantity("AAPL") == D(-10)
    assert [(c.quantity, c.unrealized_pnl) for c in changes] == [(D(-10), D(0)), (D(-10), D(50))]
    assert changes[0].side is Side.SELL and positions.mark("AAPL") == D(45)


async def test_a_flip_and_a_repeated_execution() -> None:
    bus, positions, _ = await tracker()
    await bus.publish(filled("e1", Side.BUY, "5", "10"))
    await bus.publish(filled("e2", Side.SELL, "8", "12"))
    await bus.publish(filled("e2", Side.SELL, "8", "12"))  # repeated: counted once
    await bus.drain()
    position = positions.get_position("AAPL")
    assert position is not None and position.quantity == D(-3) and position.avg_price == D(12)
    assert positions.realized_pnl() == D(10)
    assert positions.get_position("MSFT") is None


async def test_it_follows_the_order_managers_fills_on_the_simulated_broker() -> None:
    broker = SimulatedBroker()
    bus = EventBus()
    manager = OrderManager(bus, broker)
    positions = PositionTracker(bus)
    await broker.connect()
    await manager.initialize()
    await positions.initialize()
    broker.set_price("AAPL", D(100))
    await manager.place_order("AAPL", Side.BUY, D(10))
    broker.set_price("AAPL", D(104))
    await bus.publish(PriceEvent("AAPL", D(104), timestamp=broker.clock.now()))
    await bus.drain()
    assert positions.quantity("AAPL") == D(10) and positions.unrealized_pnl() == D(40)
    assert positions.commissions("AAPL") == D("1.00")
