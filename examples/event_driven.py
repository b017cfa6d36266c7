"""The seed's "Event-Driven Trading System", on tradebridge.

The seed's code, with tradebridge's imports; the simulated broker stands in for TWS. Where the
seed says "Your trading logic here...", this example places one bracket through the order manager
and lets prices move: the position tracker follows the fills and prices on the event bus and
publishes PositionChangedEvents with the P&L, which a small handler prints.

    python examples/event_driven.py
"""

import asyncio
from decimal import Decimal

from _simulation import narrate, price, settle, simulated_broker

from core.bus import EventBus
from core.events import PositionChangedEvent
from core.services import OrderManager, PositionTracker
from core.values import Side


async def main():
    # Initialize components
    broker = simulated_broker()
    event_bus = EventBus()
    position_tracker = PositionTracker(event_bus)
    order_manager = OrderManager(event_bus, broker)

    # Connect to the broker
    await broker.connect()

    # Initialize trading components
    await position_tracker.initialize()
    await order_manager.initialize()

    # Your trading logic here...
    def show_pnl(event: PositionChangedEvent) -> None:
        if event.quantity == event.previous_quantity:  # a price move of an open position
            print(f"   P&L {event.symbol}: unrealized {event.unrealized_pnl:.2f}")

    event_bus.subscribe(PositionChangedEvent, show_pnl)
    narrate(event_bus)
    await price(event_bus, broker, "MSFT", "420.00")
    bracket = await order_manager.place_bracket(
        "MSFT", Side.BUY, Decimal(20), stop_loss_price=Decimal("407.40"), take_profit_price=Decimal("441.00"),
    )
    await settle(event_bus)
    for step in ("423.10", "427.80", "425.35", "436.90", "441.25"):
        await price(event_bus, broker, "MSFT", step)
    await asyncio.sleep(0.1)

    legs = ", ".join(f"{leg.order_ref.rsplit('-', 1)[-1]} {leg.status}" for leg in bracket.legs)
    print(f"bracket closed: {bracket.is_closed}; legs: {legs}")
    print(f"MSFT realized P&L {position_tracker.realized_pnl('MSFT'):.2f}, "
          f"commissions {position_tracker.commissions('MSFT'):.2f}, "
          f"net {position_tracker.total_pnl('MSFT'):.2f}")

    # Cleanup
    await broker.disconnect()


if __name__ == "__main__":
    asyncio.run(main())
