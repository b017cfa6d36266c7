"""Short builders of order requests and an event recorder, for broker tests."""

from __future__ import annotations

from collections.abc import Coroutine
from decimal import Decimal
from typing import Any, TypeVar

from core.broker_events import BrokerEvent, ConnectionEvent, Fill, OrderStatusUpdate
from core.order_status import OrderStatus
from core.orders import BracketRequest, OrderRequest
from core.ports import Broker
from core.values import OrderRef, OrderType, Side, TimeInForce

T = TypeVar("T")


def order(
    ref: str, side: Side = Side.BUY, quantity: int | str = 10, order_type: OrderType = OrderType.MARKET,
    limit: str | int | None = None, stop: str | int | None = None, symbol: str = "AAA",
    tif: TimeInForce = TimeInForce.GTC, parent: str | None = None, oca: str | None = None,
) -> OrderRequest:
    """One order; prices as strings or ints, converted to Decimal."""
    return OrderRequest(
        OrderRef(ref), symbol, side, Decimal(quantity), order_type,
        None if limit is None else Decimal(limit), None if stop is None else Decimal(stop), tif,
        None if parent is None else OrderRef(parent), oca,
    )


def bracket(
    ref: str, side: Side = Side.BUY, quantity: int | str = 10, entry_type: OrderType = OrderType.LIMIT,
    entry: str | int = 100, take_profit: str | int = 110, stop_loss: str | int = 90,
    stop_limit: str | int | None = None, symbol: str = "AAA",
) -> BracketRequest:
    """Entry `ref`, take profit `ref.tp`, stop loss `ref.sl` (a STP LMT when `stop_limit` is given).
    `entry` is the limit and/or stop price of the entry, as its type needs."""
    exit_side = side.opposite
    entry_price = Decimal(entry)
    stop_type = OrderType.STOP if stop_limit is None else OrderType.STOP_LIMIT
    return BracketRequest(
        OrderRequest(
            OrderRef(ref), symbol, side, Decimal(quantity), entry_type,
            entry_price if entry_type.needs_limit_price else None,
            entry_price if entry_type.needs_stop_price else None,
        ),
        order(f"{ref}.tp", exit_side, quantity, OrderType.LIMIT, limit=take_profit, symbol=symbol,
              parent=ref, oca=f"oca-{ref}"),
        order(f"{ref}.sl", exit_side, quantity, stop_type, limit=stop_limit, stop=stop_loss, symbol=symbol,
              parent=ref, oca=f"oca-{ref}"),
    )


class Recorder:
    """Every event a broker delivers, in order, with lookups by order_ref."""

    def __init__(self, broker: Broker) -> None:
        self.events: list[BrokerEvent] = []
        broker.subscribe(self.events.append)

    def statuses(self, ref: str | None = None) -> list[OrderStatusUpdate]:
        return [
            e for e in self.events
            if isinstance(e, OrderStatusUpdate) and (ref is None or e.order_ref == ref)
        ]

    def status_names(self, ref: str) -> list[OrderStatus]:
        return [u.status for u in self.statuses(ref)]

    def last(self, ref: str) -> OrderStatusUpdate:
        return self.statuses(ref)[-1]

    def fills(self, ref: str | None = None) -> list[Fill]:
        return [e for e in self.events if isinstance(e, Fill) and (ref is None or e.order_ref == ref)]

    def connections(self) -> list[ConnectionEvent]:
        return [e for e in self.events if isinstance(e, ConnectionEvent)]

    def clear(self) -> None:
        self.events.clear()


def run_now(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never waits (the simulated and fake brokers' methods) to its end,
    without an event loop: for synchronous tests such as Hypothesis state machines."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coroutine.close()
    raise RuntimeError("the coroutine waited for something; run it in an event loop instead")

