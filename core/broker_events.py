"""What a broker tells us: status reports, executions, snapshots of orders, positions, account.

These are the only shapes that cross the Broker port inward. Adapters translate their own types
(ib_async's `Trade`, the simulator's records) into these and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from core.order_status import OrderStatus
from core.orders import OrderRequest
from core.values import ZERO, ExecId, OrderRef, Side, become, writable_twin


@dataclass(frozen=True, slots=True)
class OrderStatusUpdate:
    """The broker's word on one order: its status, cumulative fill and average price."""

    order_ref: OrderRef
    status: OrderStatus
    filled: Decimal = ZERO
    remaining: Decimal = ZERO
    avg_fill_price: Decimal = ZERO
    message: str = ""
    code: int | None = None  # the broker's error code, when the status comes from an error

    def __init__(
        self,
        order_ref: OrderRef,
        status: OrderStatus,
        filled: Decimal = ZERO,
        remaining: Decimal = ZERO,
        avg_fill_price: Decimal = ZERO,
        message: str = "",
        code: int | None = None,
    ) -> None:
        # Written by hand, not generated: one is made per order change (see `writable_twin`).
        writable: Any = self
        become(writable, _WritableOrderStatusUpdate)
        writable.order_ref = order_ref
        writable.status = status
        writable.filled = filled
        writable.remaining = remaining
        writable.avg_fill_price = avg_fill_price
        writable.message = message
        writable.code = code
        writable.__class__ = OrderStatusUpdate


_WritableOrderStatusUpdate = writable_twin(
    OrderStatusUpdate, "order_ref", "status", "filled", "remaining", "avg_fill_price", "message", "code"
)


def make_status_update(
    order_ref: OrderRef,
    status: OrderStatus,
    filled: Decimal,
    remaining: Decimal,
    avg_fill_price: Decimal,
    message: str,
    code: int | None,
) -> OrderStatusUpdate:
    """`OrderStatusUpdate(...)` with every field given, for adapters that report every order
    change: the same frozen value, made by a function, which costs less to call than a class
    (whose `__init__` runs in a call of its own)."""
    update: Any = _WritableOrderStatusUpdate()
    update.order_ref = order_ref
    update.status = status
    update.filled = filled
    update.remaining = remaining
    update.avg_fill_price = avg_fill_price
    update.message = message
    update.code = code
    update.__class__ = OrderStatusUpdate
    return update  # type: ignore[no-any-return]


WritableOrderStatusUpdate = _WritableOrderStatusUpdate
"""The writable twin of `OrderStatusUpdate` (see `writable_twin`), for an adapter that makes a
report on every order change where the call of `make_status_update` would cost as much as the
rest of its work: make one with `WritableOrderStatusUpdate()`, assign every field, then set its
`__class__` to `OrderStatusUpdate` before it leaves the function, exactly as `make_status_update`
does."""


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution. `exec_id` is unique per broker; it is what de-duplicates fills."""

    exec_id: ExecId
    order_ref: OrderRef
    symbol: str
    side: Side
    quantity: Decimal
    price: Decimal
    time: datetime
    commission: Decimal = ZERO

    def __init__(
        self,
        exec_id: ExecId,
        order_ref: OrderRef,
        symbol: str,
        side: Side,
        quantity: Decimal,
        price: Decimal,
        time: datetime,
        commission: Decimal = ZERO,
    ) -> None:
        # Written by hand, not generated: one is made per execution (see `writable_twin`).
        writable: Any = self
        become(writable, _WritableFill)
        writable.exec_id = exec_id
        writable.order_ref = order_ref
        writable.symbol = symbol
        writable.side = side
        writable.quantity = quantity
        writable.price = price
        writable.time = time
        writable.commission = commission
        writable.__class__ = Fill


_WritableFill = writable_twin(
    Fill, "exec_id", "order_ref", "symbol", "side", "quantity", "price", "time", "commission"
)


def make_fill(
    exec_id: ExecId,
    order_ref: OrderRef,
    symbol: str,
    side: Side,
    quantity: Decimal,
    price: Decimal,
    time: datetime,
    commission: Decimal,
) -> Fill:
    """`Fill(...)` with every field given, for adapters: see `make_status_update`."""
    fill: Any = _WritableFill()
    fill.exec_id = exec_id
    fill.order_ref = order_ref
    fill.symbol = symbol
    fill.side = side
    fill.quantity = quantity
    fill.price = price
    fill.time = time
    fill.commission = commission
    fill.__class__ = Fill
    return fill  # type: ignore[no-any-return]


WritableFill = _WritableFill
"""The writable twin of `Fill`, for adapters: see `WritableOrderStatusUpdate`."""


class ConnectionState(StrEnum):
    """Broker connectivity as the executor must react to it."""

    CONNECTED = "connected"
    LOST = "lost"  # e.g. IB 1100: orders at the broker may change without us hearing
    RESTORED = "restored"  # e.g. IB 1101/1102: reconcile before trading again
    DISCONNECTED = "disconnected"


@dataclass(frozen=True, slots=True)
class ConnectionEvent:
    """A change of broker connectivity."""

    state: ConnectionState
    message: str = ""


BrokerEvent = OrderStatusUpdate | Fill | ConnectionEvent


@dataclass(frozen=True, slots=True)
class BrokerOrder:
    """An order as the broker knows it now (open or completed), found by its `order_ref`."""

    request: OrderRequest
    status: OrderStatus
    filled: Decimal = ZERO
    avg_fill_price: Decimal = ZERO
    broker_order_id: str = ""


@dataclass(frozen=True, slots=True)
class BrokerPosition:
    """A position at the broker: signed quantity (negative is short) and average cost."""

    symbol: str
    quantity: Decimal
    avg_cost: Decimal


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    """Account values the executor needs for sizing and risk."""

    account: str
    net_liquidation: Decimal
    cash: Decimal
    realized_pnl: Decimal = ZERO
    unrealized_pnl: Decimal = ZERO
