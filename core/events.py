"""Domain events: what happened, as immutable values the EventBus carries and rules react to.

Every event carries a `timestamp` (timezone-aware) set by whoever creates it, from the Clock port
or from the source's own time: the core never reads the wall clock, so a replay of the same events
gives the same rule firings and cooldowns. `timestamp` is keyword-only so the positional fields
read naturally: `PriceEvent("AAPL", Decimal("187.20"), timestamp=clock.now())`.

Families share a base class, so subscribing to `OrderEvent` receives every order event.
Prices and quantities are Decimal; a float is refused here rather than silently converted
(`core.values.to_decimal` is the one door in, used by the adapters).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from core.order_status import OrderStatus
from core.values import ZERO, ExecId, OrderRef, OrderType, Side

__all__ = [
    "Event",
    "OrderCancelledEvent",
    "OrderEvent",
    "OrderFilledEvent",
    "OrderRejectedEvent",
    "OrderStatusEvent",
    "OrderSubmittedEvent",
    "PositionChangedEvent",
    "PredictionSignalEvent",
    "PriceEvent",
    "Signal",
]


def _require_decimal(owner: object, name: str, value: object, *, positive: bool = False) -> None:
    where = f"{type(owner).__name__}.{name}"
    if not isinstance(value, Decimal):
        raise TypeError(
            f"{where} must be a Decimal, got {type(value).__name__} {value!r}; "
            "convert it with core.values.to_decimal"
        )
    if not value.is_finite():
        raise ValueError(f"{where} must be a finite number, got {value}")
    if positive and value <= ZERO:
        raise ValueError(f"{where} must be above 0, got {value}")


def _require_symbol(owner: object, symbol: object) -> None:
    if not isinstance(symbol, str) or not symbol:
        raise ValueError(f"{type(owner).__name__}.symbol must be a non-empty string, got {symbol!r}")


@dataclass(frozen=True, slots=True)
class Event:
    """Base of every domain event: something that happened at `timestamp` (timezone-aware)."""

    timestamp: datetime = field(kw_only=True)

    def __post_init__(self) -> None:
        if not isinstance(self.timestamp, datetime) or self.timestamp.tzinfo is None:
            raise ValueError(
                f"{type(self).__name__}.timestamp must be a timezone-aware datetime "
                f"(take it from the Clock port), got {self.timestamp!r}"
            )


class Signal(StrEnum):
    """What a prediction says to do. Equal to its plain string ("BUY" == Signal.BUY)."""

    BUY = "BUY"
    SELL = "SELL"
    HOLD = "HOLD"


@dataclass(frozen=True, slots=True)
class PredictionSignalEvent(Event):
    """A prediction for one symbol from a signal source (e.g. the prediction API).

    `confidence` is a probability in [0, 1] (a float is right for a probability; money stays
    Decimal). `price` is the price the prediction was made at, when the source gives one;
    `target_price` and `stop_price` are the source's own levels, if any.
    """

    symbol: str
    signal: Signal
    confidence: float
    price: Decimal | None = None
    target_price: Decimal | None = None
    stop_price: Decimal | None = None
    source: str = ""

    def __post_init__(self) -> None:
        Event.__post_init__(self)
        _require_symbol(self, self.symbol)
        if not isinstance(self.signal, Signal):
            # Sources and scripts write "BUY"/"buy"; keep the value typed from here on.
            try:
                object.__setattr__(self, "signal", Signal(str(self.signal).strip().upper()))
            except ValueError:
                raise ValueError(
                    f"PredictionSignalEvent.signal must be BUY, SELL or HOLD, got {self.signal!r}"
                ) from None
        confidence = self.confidence
        if (
            isinstance(confidence, bool)
            or not isinstance(confidence, int | float | Decimal)
            or math.isnan(confidence)
            or not 0 <= confidence <= 1
        ):
            raise ValueError(
                f"PredictionSignalEvent.confidence must be a probability between 0 and 1, got {confidence!r}"
            )
        object.__setattr__(self, "confidence", float(confidence))
        for name in ("price", "target_price", "stop_price"):
            value = getattr(self, name)
            if value is not None:
                _require_decimal(self, name, value, positive=True)


@dataclass(frozen=True, slots=True)
class PriceEvent(Event):
    """A new price (last trade or mid) for one symbol."""

    symbol: str
    price: Decimal

    def __post_init__(self) -> None:
        Event.__post_init__(self)
        _require_symbol(self, self.symbol)
        _require_decimal(self, "price", self.price, positive=True)


@dataclass(frozen=True, slots=True)
class OrderEvent(Event):
    """Base of the order events: something happened to the order `order_ref` for `symbol`."""

    symbol: str
    order_ref: OrderRef

    def __post_init__(self) -> None:
        Event.__post_init__(self)
        _require_symbol(self, self.symbol)
        if not self.order_ref:
            raise ValueError(f"{type(self).__name__}.order_ref is empty")


@dataclass(frozen=True, slots=True)
class OrderSubmittedEvent(OrderEvent):
    """An order was sent to the broker (after passing risk)."""

    side: Side
    quantity: Decimal
    order_type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    parent_ref: OrderRef | None = None

    def __post_init__(self) -> None:
        OrderEvent.__post_init__(self)
        _require_decimal(self, "quantity", self.quantity, positive=True)


@dataclass(frozen=True, slots=True)
class OrderStatusEvent(OrderEvent):
    """An order's status changed: its new status, cumulative fill and average fill price."""

    status: OrderStatus
    filled: Decimal = ZERO
    remaining: Decimal = ZERO
    avg_fill_price: Decimal = ZERO
    message: str = ""

    def __post_init__(self) -> None:
        OrderEvent.__post_init__(self)
        for name in ("filled", "remaining", "avg_fill_price"):
            _require_decimal(self, name, getattr(self, name))


@dataclass(frozen=True, slots=True)
class OrderFilledEvent(OrderEvent):
    """One execution against an order: `quantity` at `price`. `filled_total` and `remaining` say
    how much of the whole order is done after it, so rules can tell a partial fill from the last."""

    exec_id: ExecId
    side: Side
    quantity: Decimal
    price: Decimal
    filled_total: Decimal
    remaining: Decimal
    commission: Decimal = ZERO

    def __post_init__(self) -> None:
        OrderEvent.__post_init__(self)
        _require_decimal(self, "quantity", self.quantity, positive=True)
        _require_decimal(self, "price", self.price, positive=True)
        for name in ("filled_total", "remaining", "commission"):
            _require_decimal(self, name, getattr(self, name))

    @property
    def is_complete(self) -> bool:
        """Whether this execution finished the order."""
        return self.remaining == ZERO


@dataclass(frozen=True, slots=True)
class OrderCancelledEvent(OrderEvent):
    """An order was cancelled (by us, by OCA, or by the broker); `filled` had filled before."""

    filled: Decimal = ZERO
    reason: str = ""

    def __post_init__(self) -> None:
        OrderEvent.__post_init__(self)
        _require_decimal(self, "filled", self.filled)


@dataclass(frozen=True, slots=True)
class OrderRejectedEvent(OrderEvent):
    """The broker or the risk gate refused an order; `reason` says why, `code` is the broker's."""

    reason: str
    code: int | None = None


@dataclass(frozen=True, slots=True)
class PositionChangedEvent(Event):
    """A position changed: signed `quantity` after the change (negative is short), the average
    price of the open quantity, realized P&L so far, and the quantity before the change."""

    symbol: str
    quantity: Decimal
    average_price: Decimal
    previous_quantity: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    unrealized_pnl: Decimal = ZERO

    def __post_init__(self) -> None:
        Event.__post_init__(self)
        _require_symbol(self, self.symbol)
        for name in ("quantity", "average_price", "previous_quantity", "realized_pnl", "unrealized_pnl"):
            _require_decimal(self, name, getattr(self, name))

    @property
    def side(self) -> Side | None:
        """BUY for a long, SELL for a short, None when flat."""
        if self.quantity > ZERO:
            return Side.BUY
        if self.quantity < ZERO:
            return Side.SELL
        return None

    @property
    def is_flat(self) -> bool:
        return self.quantity == ZERO

    @property
    def opened(self) -> bool:
        """Flat before, not flat now."""
        return self.previous_quantity == ZERO and self.quantity != ZERO

    @property
    def closed(self) -> bool:
        """Not flat before, flat now: linked state for the symbol can be reset."""
        return self.previous_quantity != ZERO and self.quantity == ZERO
