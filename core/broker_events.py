"""What a broker tells us: status reports, executions, snapshots of orders, positions, account.

These are the only shapes that cross the Broker port inward. Adapters translate their own types
(ib_async's `Trade`, the simulator's records) into these and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from core.order_status import OrderStatus
from core.orders import OrderRequest
from core.values import ZERO, ExecId, OrderRef, Side, frozen_slot_setters


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
        # Written by hand, not generated: one is made per order change (see `frozen_slot_setters`).
        _set_update_order_ref(self, order_ref)
        _set_update_status(self, status)
        _set_update_filled(self, filled)
        _set_update_remaining(self, remaining)
        _set_update_avg_fill_price(self, avg_fill_price)
        _set_update_message(self, message)
        _set_update_code(self, code)


(
    _set_update_order_ref,
    _set_update_status,
    _set_update_filled,
    _set_update_remaining,
    _set_update_avg_fill_price,
    _set_update_message,
    _set_update_code,
) = frozen_slot_setters(
    OrderStatusUpdate, "order_ref", "status", "filled", "remaining", "avg_fill_price", "message", "code"
)


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
        # Written by hand, not generated: one is made per execution (see `frozen_slot_setters`).
        _set_fill_exec_id(self, exec_id)
        _set_fill_order_ref(self, order_ref)
        _set_fill_symbol(self, symbol)
        _set_fill_side(self, side)
        _set_fill_quantity(self, quantity)
        _set_fill_price(self, price)
        _set_fill_time(self, time)
        _set_fill_commission(self, commission)


(
    _set_fill_exec_id,
    _set_fill_order_ref,
    _set_fill_symbol,
    _set_fill_side,
    _set_fill_quantity,
    _set_fill_price,
    _set_fill_time,
    _set_fill_commission,
) = frozen_slot_setters(
    Fill, "exec_id", "order_ref", "symbol", "side", "quantity", "price", "time", "commission"
)


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
