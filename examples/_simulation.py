"""Shared by the examples: the simulated market that stands in for TWS, and a narrator that prints
what happens on the event bus. Not part of the seed's code; the examples import it so that each
runs on its own, finishes in a few seconds, and shows what it did.

To trade through TWS instead, build `IbkrBroker(TWSConfig.from_env())` (adapters.ibkr) where the
examples build `simulated_broker()`, and give the OrderManager `clock=SystemClock()`.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

from adapters.simulated import SimulatedBroker
from adapters.system import SystemClock
from core.bus import EventBus
from core.events import (
    OrderCancelledEvent,
    OrderFilledEvent,
    OrderRejectedEvent,
    OrderSubmittedEvent,
    PositionChangedEvent,
    PredictionSignalEvent,
    PriceEvent,
)

STEP_SECONDS = 0.05  # a pause between market steps, so the run reads like a (fast) live feed


def simulated_broker() -> SimulatedBroker:
    """An in-process broker account (deterministic matching, IB-like commissions), on the wall clock."""
    return SimulatedBroker(SystemClock())


def narrate(event_bus: EventBus) -> None:
    """Print every order and position event published on the bus."""
    shown = (OrderSubmittedEvent, OrderFilledEvent, OrderCancelledEvent, OrderRejectedEvent,
             PositionChangedEvent)
    event_bus.subscribe(shown, _print_event, name="narrator")


def _print_event(event: object) -> None:
    if isinstance(event, OrderSubmittedEvent):
        price = event.limit_price or event.stop_price
        at = f" @ {price}" if price is not None else ""
        print(f"   -> submitted {event.side} {event.quantity} {event.symbol} {event.order_type}{at}")
    elif isinstance(event, OrderFilledEvent):
        print(f"   ** filled {event.side} {event.quantity} {event.symbol} @ {event.price}")
    elif isinstance(event, OrderCancelledEvent):
        print(f"   -- cancelled {event.order_ref} ({event.reason})")
    elif isinstance(event, OrderRejectedEvent):
        print(f"   !! refused {event.symbol}: {event.reason}")
    elif isinstance(event, PositionChangedEvent) and event.quantity != event.previous_quantity:
        print(f"   == position {event.symbol}: {event.quantity} @ {event.average_price:.2f}, "
              f"realized P&L {event.realized_pnl:.2f}")


async def price(event_bus: EventBus, broker: SimulatedBroker, symbol: str, value: str) -> None:
    """The market of `symbol` moves to `value`: the broker matches, the bus hears the price."""
    amount = Decimal(value)
    print(f"price {symbol} {amount}")
    broker.set_price(symbol, amount)
    await event_bus.publish(PriceEvent(symbol, amount, timestamp=broker.clock.now()))
    await settle(event_bus)


async def signal(
    event_bus: EventBus, broker: SimulatedBroker, symbol: str, side: str, confidence: float
) -> None:
    """A prediction arrives for `symbol`, made at its current price."""
    current = broker.exchange.prices.get(symbol)
    print(f"signal {side} {symbol} confidence {confidence:.2f}")
    now = broker.clock.now()
    event = PredictionSignalEvent(symbol, side, confidence, current, source="example", timestamp=now)
    await event_bus.publish(event)
    await settle(event_bus)


async def settle(event_bus: EventBus) -> None:
    """Let every handler (and the follow-ups they start) finish, then pause one market step."""
    for _ in range(3):
        await event_bus.drain()
        await asyncio.sleep(0)
    await asyncio.sleep(STEP_SECONDS)
