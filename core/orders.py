"""Order requests (what we ask a broker for) and the Order entity (what became of it).

`OrderRequest` and `BracketRequest` are immutable intentions; `Order` follows one request through
the transition table in `core.order_status`, accumulating fills de-duplicated by execution id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from core.order_status import EDGES_BY_TRIGGER, InvalidTransition, OrderStatus, OrderTrigger, next_status
from core.values import (
    LIMIT_PRICED,
    STOP_PRICED,
    ZERO,
    OrderRef,
    OrderType,
    Side,
    TimeInForce,
    frozen_slot_setters,
)

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

    def __init__(
        self,
        order_ref: OrderRef,
        symbol: str,
        side: Side,
        quantity: Decimal,
        order_type: OrderType = OrderType.MARKET,
        limit_price: Decimal | None = None,
        stop_price: Decimal | None = None,
        tif: TimeInForce = TimeInForce.GTC,
        parent_ref: OrderRef | None = None,
        oca_group: str | None = None,
    ) -> None:
        # Written by hand, not generated: requests are made for every bracket and every resize,
        # so the fields go straight into their slots (see `frozen_slot_setters`).
        _set_order_ref(self, order_ref)
        _set_symbol(self, symbol)
        _set_side(self, side)
        _set_quantity(self, quantity)
        _set_order_type(self, order_type)
        _set_limit_price(self, limit_price)
        _set_stop_price(self, stop_price)
        _set_tif(self, tif)
        _set_parent_ref(self, parent_ref)
        _set_oca_group(self, oca_group)
        self.__post_init__()

    def __post_init__(self) -> None:
        # A separate step, as in a generated dataclass, so that tools that make dataclasses
        # without __init__ (msgspec decoding, for one) still validate. The checks are plain
        # comparisons with module constants; messages are built only once a check has failed.
        if not self.order_ref:
            raise ValueError("an order needs an order_ref")
        side = self.side
        if side is not _BUY and side is not _SELL:
            raise ValueError(f"order {self.order_ref}: side must be Side.BUY or Side.SELL, got {side!r}")
        if not self.symbol:
            raise ValueError(f"{self._where()}: symbol is empty")
        quantity = self.quantity
        if quantity <= ZERO or quantity != quantity.to_integral_value():
            raise ValueError(f"{self._where()}: quantity must be a whole number above 0, got {quantity}")
        order_type = self.order_type
        if type(order_type) is not OrderType:
            raise ValueError(
                f"{self._where()}: order_type must be an OrderType (MKT, LMT, STP or STP LMT), "
                f"got {order_type!r}"
            )
        if order_type in LIMIT_PRICED and (self.limit_price is None or self.limit_price <= ZERO):
            raise ValueError(f"{self._where()}: a {order_type.value} order needs a limit price above 0")
        if order_type in STOP_PRICED and (self.stop_price is None or self.stop_price <= ZERO):
            raise ValueError(f"{self._where()}: a {order_type.value} order needs a stop price above 0")

    def _where(self) -> str:
        return f"order {self.order_ref} ({self.side.value} {self.symbol})"

    def with_quantity(self, quantity: Decimal) -> OrderRequest:
        """The same order for another quantity (exits follow the entry's filled quantity)."""
        return OrderRequest(
            self.order_ref, self.symbol, self.side, quantity, self.order_type, self.limit_price,
            self.stop_price, self.tif, self.parent_ref, self.oca_group,
        )


(
    _set_order_ref, _set_symbol, _set_side, _set_quantity, _set_order_type, _set_limit_price,
    _set_stop_price, _set_tif, _set_parent_ref, _set_oca_group,
) = frozen_slot_setters(
    OrderRequest, "order_ref", "symbol", "side", "quantity", "order_type", "limit_price", "stop_price",
    "tif", "parent_ref", "oca_group",
)
_BUY = Side.BUY
_SELL = Side.SELL
_LIMIT = OrderType.LIMIT
_STOP = OrderType.STOP
_STOP_LIMIT = OrderType.STOP_LIMIT


@dataclass(frozen=True, slots=True)
class BracketRequest:
    """Entry + take profit + stop loss. The exits are children of the entry in one OCA group,
    on the opposite side, for the same quantity, with the stop and target on the correct sides."""

    entry: OrderRequest
    take_profit: OrderRequest
    stop_loss: OrderRequest

    def __init__(self, entry: OrderRequest, take_profit: OrderRequest, stop_loss: OrderRequest) -> None:
        # Written by hand, not generated: see `OrderRequest.__init__`.
        _set_entry(self, entry)
        _set_take_profit(self, take_profit)
        _set_stop_loss(self, stop_loss)
        self.__post_init__()

    def __post_init__(self) -> None:
        entry, take_profit, stop_loss = self.entry, self.take_profit, self.stop_loss
        side = entry.side
        exit_side = _SELL if side is _BUY else _BUY
        symbol, quantity, entry_ref = entry.symbol, entry.quantity, entry.order_ref
        # Both exits at once, one chained test per field: the common case (a valid bracket) then
        # costs four tests instead of a loop of eight; `_exit_mismatch` finds and names the culprit.
        if not (
            take_profit.symbol == symbol == stop_loss.symbol
            and take_profit.side is exit_side
            and stop_loss.side is exit_side
            and take_profit.quantity == quantity == stop_loss.quantity
            and take_profit.parent_ref == entry_ref == stop_loss.parent_ref
        ):
            raise self._exit_mismatch()
        oca_group = take_profit.oca_group
        if oca_group is None or oca_group != stop_loss.oca_group:
            raise ValueError(f"{self._where()}: take profit and stop loss must share one OCA group")
        target = take_profit.limit_price
        if take_profit.order_type is not _LIMIT or target is None:
            raise ValueError(f"{self._where()}: the take profit must be a limit order")
        stop = stop_loss.stop_price
        if (stop_loss.order_type is not _STOP and stop_loss.order_type is not _STOP_LIMIT) or stop is None:
            raise ValueError(f"{self._where()}: the stop loss must be a stop order")
        if side is _BUY and not stop < target:
            raise ValueError(f"{self._where()}: a long needs stop {stop} below target {target}")
        if side is _SELL and not stop > target:
            raise ValueError(f"{self._where()}: a short needs stop {stop} above target {target}")

    def _where(self) -> str:
        entry = self.entry
        return f"bracket {entry.order_ref} ({entry.side.value} {entry.symbol})"

    def _exit_mismatch(self) -> ValueError:
        """The first exit that does not follow its entry, and why (checked in this order)."""
        entry = self.entry
        exit_side = _SELL if entry.side is _BUY else _BUY
        for leg in (self.take_profit, self.stop_loss):
            if leg.symbol != entry.symbol:
                return ValueError(f"{self._where()}: exit {leg.order_ref} is for {leg.symbol}")
            if leg.side is not exit_side:
                return ValueError(f"{self._where()}: exit {leg.order_ref} must be a {exit_side.value}")
            if leg.quantity != entry.quantity:
                return ValueError(f"{self._where()}: exit {leg.order_ref} quantity differs from the entry")
            if leg.parent_ref != entry.order_ref:
                return ValueError(f"{self._where()}: exit {leg.order_ref} must name the entry as its parent")
        raise AssertionError("_exit_mismatch called for exits that match their entry")

    @property
    def legs(self) -> tuple[OrderRequest, OrderRequest, OrderRequest]:
        return (self.entry, self.take_profit, self.stop_loss)

    @property
    def symbol(self) -> str:
        return self.entry.symbol


_set_entry, _set_take_profit, _set_stop_loss = frozen_slot_setters(
    BracketRequest, "entry", "take_profit", "stop_loss"
)


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
        status = EDGES_BY_TRIGGER[trigger].get(self.status)
        if status is None:  # not an edge of the table: let `next_status` say why
            status = next_status(self.status, trigger, f"order {self.request.order_ref}")
        self.status = status
        if message:
            self.message = message
        return status

    def add_fill(self, exec_id: str, quantity: Decimal, price: Decimal) -> bool:
        """Record one execution. Returns False (and changes nothing) for an execution id already
        seen; raises OverFill if the fill would exceed the ordered quantity."""
        if exec_id in self.exec_ids:
            return False
        if quantity <= ZERO:
            raise ValueError(f"order {self.order_ref}: fill quantity must be above 0, got {quantity}")
        filled = self.filled
        ordered = self.request.quantity
        total = filled + quantity
        if total > ordered:
            raise OverFill(
                f"order {self.order_ref}: fill of {quantity} on top of {filled} exceeds "
                f"the ordered {ordered}"
            )
        if total == ordered:
            trigger, status = _FILL, _FILL_EDGES.get(self.status)
        else:
            trigger, status = _PARTIAL_FILL, _PARTIAL_FILL_EDGES.get(self.status)
        if status is None:  # e.g. a fill on a cancelled order: `next_status` raises and says why
            status = next_status(self.status, trigger, f"order {self.order_ref}")
        self.status = status
        # The first fill's average is its price (the weighted formula gives the same value; most
        # orders fill once, so the two multiplications and the division are skipped for them).
        self.avg_fill_price = (self.avg_fill_price * filled + price * quantity) / total if filled else price
        self.filled = total
        self.exec_ids.add(exec_id)
        return True


_FILL = OrderTrigger.FILL
_PARTIAL_FILL = OrderTrigger.PARTIAL_FILL
_FILL_EDGES = EDGES_BY_TRIGGER[_FILL]
_PARTIAL_FILL_EDGES = EDGES_BY_TRIGGER[_PARTIAL_FILL]
