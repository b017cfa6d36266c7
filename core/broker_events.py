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
from core.values import ZERO, ExecId, OrderRef, Side


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
