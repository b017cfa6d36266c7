"""What the OrderManager records about one order, and the bus events a change turns into.

Kept apart from the manager so the translation (broker report -> Order / Bracket -> domain events)
can be read, and tested, on its own: `apply_status` and `apply_fill` change a standalone Order
only through the transition table; `events_for` lists the order events one change publishes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from core.broker_events import Fill, OrderStatusUpdate
from core.events import (
    Event,
    OrderCancelledEvent,
    OrderFilledEvent,
    OrderRejectedEvent,
    OrderStatusEvent,
    OrderSubmittedEvent,
)
from core.order_status import TRANSITIONS, OrderStatus, OrderTrigger
from core.orders import InvalidTransition, Order
from core.values import OrderRef

__all__ = [
    "OrderChange",
    "OrderRole",
    "apply_fill",
    "apply_status",
    "events_for",
    "submitted_event",
]

logger = logging.getLogger(__name__)


class OrderRole(StrEnum):
    """Why the manager placed an order. Cancelling a symbol goes in this order of roles (entries
    first, stops last), so the protection stays up the longest."""

    ENTRY = "entry"  # a bracket's entry
    ORDER = "order"  # a plain order
    FLATTEN = "flatten"  # a market order closing a position
    TAKE_PROFIT = "take_profit"
    STOP_LOSS = "stop_loss"


CANCEL_RANK = {
    OrderRole.ENTRY: 0,
    OrderRole.ORDER: 0,
    OrderRole.FLATTEN: 1,
    OrderRole.TAKE_PROFIT: 2,
    OrderRole.STOP_LOSS: 3,
}


@dataclass(frozen=True, slots=True)
class OrderChange:
    """One change the manager recorded, for its synchronous observers: the order, its status after
    the change, the execution if the change is one, and the symbol's net position after it
    (signed: negative is short)."""

    order_ref: OrderRef
    symbol: str
    role: OrderRole
    status: OrderStatus
    fill: Fill | None
    position: Decimal


# Broker acknowledgements, as triggers of the table. A repeated or late acknowledgement (WORKING
# reported for an order that has partly filled, SUBMITTED after WORKING) is not an error.
_ACKNOWLEDGE = {
    OrderStatus.SUBMITTED: OrderTrigger.SUBMIT,
    OrderStatus.HELD: OrderTrigger.HOLD,
    OrderStatus.WORKING: OrderTrigger.ACCEPT,
}
_END = {
    OrderStatus.CANCELLED: OrderTrigger.CANCEL,
    OrderStatus.REJECTED: OrderTrigger.REJECT,
    OrderStatus.EXPIRED: OrderTrigger.EXPIRE,
}


def apply_status(order: Order, update: OrderStatusUpdate) -> None:
    """Take the broker's status report on a standalone order. Fill progress comes from executions
    only (`apply_fill`), so PARTIALLY_FILLED / FILLED reports change nothing here."""
    status = update.status
    if status is order.status:
        return
    acknowledge = _ACKNOWLEDGE.get(status)
    if acknowledge is not None:
        if (order.status, acknowledge) in TRANSITIONS:
            order.apply(acknowledge, update.message)
        return  # stale: the order has moved on
    trigger = _END.get(status)
    if trigger is None:
        return
    try:
        order.apply(trigger, update.message)
    except InvalidTransition as exc:
        logger.warning("ignored the broker's report %r: %s", update, exc)


def apply_fill(order: Order, fill: Fill) -> bool:
    """Record one execution on a standalone order; False for an execution already recorded."""
    if order.status is OrderStatus.PENDING:
        order.apply(OrderTrigger.SUBMIT)  # an execution proves the broker has the order
    return order.add_fill(fill.exec_id, fill.quantity, fill.price)


def submitted_event(order: Order, now: datetime) -> OrderSubmittedEvent:
    """The event saying `order` is being sent to the broker."""
    request = order.request
    return OrderSubmittedEvent(
        request.symbol, request.order_ref, request.side, request.quantity, request.order_type,
        request.limit_price, request.stop_price, request.parent_ref, timestamp=now,
    )


def events_for(
    order: Order, before: OrderStatus, fill: Fill | None, code: int | None, now: datetime
) -> list[Event]:
    """The order events of one change: the execution (if any), then the new status (if it
    changed), then what the status means (cancelled, rejected)."""
    request = order.request
    symbol, ref = request.symbol, request.order_ref
    events: list[Event] = []
    if fill is not None:
        events.append(
            OrderFilledEvent(
                symbol, ref, fill.exec_id, fill.side, fill.quantity, fill.price, order.filled,
                order.remaining, fill.commission, timestamp=fill.time,
            )
        )
    status = order.status
    if status is before:
        return events
    events.append(
        OrderStatusEvent(
            symbol, ref, status, order.filled, order.remaining, order.avg_fill_price, order.message,
            timestamp=now,
        )
    )
    if status is OrderStatus.CANCELLED:
        events.append(OrderCancelledEvent(symbol, ref, order.filled, order.message, timestamp=now))
    elif status is OrderStatus.REJECTED:
        reason = order.message or "the broker rejected the order without giving a reason"
        events.append(OrderRejectedEvent(symbol, ref, reason, code, timestamp=now))
    return events
