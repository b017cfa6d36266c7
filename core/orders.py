"""Order requests (what we ask a broker for) and the Order entity (what became of it).

`OrderRequest` and `BracketRequest` are immutable intentions; `Order` follows one request through
the transition table in `core.order_status`, accumulating fills de-duplicated by execution id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from core.order_status import InvalidTransition, OrderStatus, OrderTrigger, next_status
from core.values import ZERO, OrderRef, OrderType, Side, TimeInForce

__all__ = [
    "BracketRequest",
    "InvalidTransition",
    "Order",
    "OrderRequest",
    "OrderStatus",
    "OrderTrigger",
    "OrderType",
    "OverFill",
    "TimeInForce",
]


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """One order as we want it at the broker. Validated on creation."""

    order_ref: OrderRef
    symbol: str
    side: Side
    quantity: Decimal
    order_type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    tif: TimeInForce = TimeInForce.GTC
    parent_ref: OrderRef | None = None
    oca_group: str | None = None

    def __post_init__(self) -> None:
        where = f"order {self.order_ref} ({self.side.value} {self.symbol})"
        if not self.order_ref:
            raise ValueError("an order needs an order_ref")
        if not self.symbol:
            raise ValueError(f"{where}: symbol is empty")
        if self.quantity <= ZERO or self.quantity != self.quantity.to_integral_value():
            raise ValueError(f"{where}: quantity must be a whole number above 0, got {self.quantity}")
        if self.order_type.needs_limit_price and (self.limit_price is None or self.limit_price <= ZERO):
            raise ValueError(f"{where}: a {self.order_type.value} order needs a limit price above 0")
        if self.order_type.needs_stop_price and (self.stop_price is None or self.stop_price <= ZERO):
            raise ValueError(f"{where}: a {self.order_type.value} order needs a stop price above 0")

    def with_quantity(self, quantity: Decimal) -> OrderRequest:
        """The same order for another quantity (exits follow the entry's filled quantity)."""
        return OrderRequest(
            self.order_ref, self.symbol, self.side, quantity, self.order_type, self.limit_price,
            self.stop_price, self.tif, self.parent_ref, self.oca_group,
        )


@dataclass(frozen=True, slots=True)
class BracketRequest:
    """Entry + take profit + stop loss. The exits are children of the entry in one OCA group,
    on the opposite side, for the same quantity, with the stop and target on the correct sides."""

    entry: OrderRequest
    take_profit: OrderRequest
    stop_loss: OrderRequest

    def __post_init__(self) -> None:
        entry, tp, sl = self.entry, self.take_profit, self.stop_loss
        where = f"bracket {entry.order_ref} ({entry.side.value} {entry.symbol})"
        for leg in (tp, sl):
            if leg.symbol != entry.symbol:
                raise ValueError(f"{where}: exit {leg.order_ref} is for {leg.symbol}")
            if leg.side is not entry.side.opposite:
                raise ValueError(f"{where}: exit {leg.order_ref} must be a {entry.side.opposite.value}")
            if leg.quantity != entry.quantity:
                raise ValueError(f"{where}: exit {leg.order_ref} quantity differs from the entry")
            if leg.parent_ref != entry.order_ref:
                raise ValueError(f"{where}: exit {leg.order_ref} must name the entry as its parent")
        if tp.oca_group is None or tp.oca_group != sl.oca_group:
            raise ValueError(f"{where}: take profit and stop loss must share one OCA group")
        if tp.order_type is not OrderType.LIMIT or tp.limit_price is None:
            raise ValueError(f"{where}: the take profit must be a limit order")
        if sl.order_type not in (OrderType.STOP, OrderType.STOP_LIMIT) or sl.stop_price is None:
            raise ValueError(f"{where}: the stop loss must be a stop order")
        if entry.side is Side.BUY and not sl.stop_price < tp.limit_price:
            raise ValueError(f"{where}: a long needs stop {sl.stop_price} below target {tp.limit_price}")
        if entry.side is Side.SELL and not sl.stop_price > tp.limit_price:
            raise ValueError(f"{where}: a short needs stop {sl.stop_price} above target {tp.limit_price}")

    @property
    def legs(self) -> tuple[OrderRequest, OrderRequest, OrderRequest]:
        return (self.entry, self.take_profit, self.stop_loss)

    @property
    def symbol(self) -> str:
        return self.entry.symbol


class OverFill(Exception):
    """A fill that would take an order above its quantity: a broker or bookkeeping fault."""


@dataclass(slots=True)
class Order:
    """One order's life: its request, status, fills and the broker's last word on it."""

    request: OrderRequest
    status: OrderStatus = OrderStatus.PENDING
    filled: Decimal = ZERO
    avg_fill_price: Decimal = ZERO
    message: str = ""
    exec_ids: set[str] = field(default_factory=set)

    @property
    def order_ref(self) -> OrderRef:
        return self.request.order_ref

    @property
    def remaining(self) -> Decimal:
        return self.request.quantity - self.filled

    def apply(self, trigger: OrderTrigger, message: str = "") -> OrderStatus:
        """Move along the transition table; raise InvalidTransition if the edge does not exist."""
        self.status = next_status(self.status, trigger, f"order {self.order_ref}")
        if message:
            self.message = message
        return self.status

    def add_fill(self, exec_id: str, quantity: Decimal, price: Decimal) -> bool:
        """Record one execution. Returns False (and changes nothing) for an execution id already
        seen; raises OverFill if the fill would exceed the ordered quantity."""
        if exec_id in self.exec_ids:
            return False
        if quantity <= ZERO:
            raise ValueError(f"order {self.order_ref}: fill quantity must be above 0, got {quantity}")
        if self.filled + quantity > self.request.quantity:
            raise OverFill(
                f"order {self.order_ref}: fill of {quantity} on top of {self.filled} exceeds "
                f"the ordered {self.request.quantity}"
            )
        trigger = (
            OrderTrigger.FILL if self.filled + quantity == self.request.quantity
            else OrderTrigger.PARTIAL_FILL
        )
        self.status = next_status(self.status, trigger, f"order {self.order_ref}")
        total = self.filled + quantity
        self.avg_fill_price = (self.avg_fill_price * self.filled + price * quantity) / total
        self.filled = total
        self.exec_ids.add(exec_id)
        return True
