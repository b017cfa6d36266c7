"""Order requests (what we ask a broker for) and the Order entity (what became of it).

`OrderRequest` and `BracketRequest` are immutable intentions; `Order` follows one request through
the transition table in `core.order_status`, accumulating fills de-duplicated by execution id.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from core.order_status import EDGES_BY_TRIGGER, InvalidTransition, OrderStatus, OrderTrigger, next_status
from core.values import ZERO, OrderRef, OrderType, Side, TimeInForce, become, writable_twin

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
        # so the fields are plain slot writes (see `writable_twin`), then checked from the
        # arguments. The checks are plain comparisons with module constants; messages are built
        # only once a check has failed.
        writable: Any = self
        become(writable, _WritableOrderRequest)
        writable.order_ref = order_ref
        writable.symbol = symbol
        writable.side = side
        writable.quantity = quantity
        writable.order_type = order_type
        writable.limit_price = limit_price
        writable.stop_price = stop_price
        writable.tif = tif
        writable.parent_ref = parent_ref
        writable.oca_group = oca_group
        writable.__class__ = OrderRequest
        if not order_ref:
            raise ValueError("an order needs an order_ref")
        if side is not _BUY and side is not _SELL:
            raise ValueError(f"order {order_ref}: side must be Side.BUY or Side.SELL, got {side!r}")
        if not symbol:
            raise ValueError(f"{self._where()}: symbol is empty")
        # The last quantity found whole and above 0 is not checked again: a bracket's three legs
        # are made with one Decimal, and a Decimal never changes.
        global _checked_quantity
        if quantity is not _checked_quantity:
            if quantity <= ZERO or quantity != quantity.to_integral_value():
                raise ValueError(f"{self._where()}: quantity must be a whole number above 0, got {quantity}")
            _checked_quantity = quantity
        # One identity test per member instead of a type test and two set lookups; anything that
        # is not one of the four members (a plain "LMT" string, say) is refused.
        if order_type is _LIMIT or order_type is _STOP_LIMIT:
            if limit_price is None or limit_price <= ZERO:
                raise ValueError(f"{self._where()}: a {order_type.value} order needs a limit price above 0")
            if order_type is _LIMIT:
                return
        elif order_type is _MARKET:
            return
        elif order_type is not _STOP:
            raise ValueError(
                f"{self._where()}: order_type must be an OrderType (MKT, LMT, STP or STP LMT), "
                f"got {order_type!r}"
            )
        if stop_price is None or stop_price <= ZERO:  # STP or STP LMT
            raise ValueError(f"{self._where()}: a {order_type.value} order needs a stop price above 0")

    def __post_init__(self) -> None:
        # For tools that make dataclasses without calling __init__ (msgspec decoding, for one):
        # the checks live in __init__, so they run again on the fields as they are.
        OrderRequest.__init__(
            self, self.order_ref, self.symbol, self.side, self.quantity, self.order_type, self.limit_price,
            self.stop_price, self.tif, self.parent_ref, self.oca_group,
        )

    def _where(self) -> str:
        return f"order {self.order_ref} ({self.side.value} {self.symbol})"

    def with_quantity(self, quantity: Decimal) -> OrderRequest:
        """The same order for another quantity (exits follow the entry's filled quantity)."""
        return OrderRequest(
            self.order_ref, self.symbol, self.side, quantity, self.order_type, self.limit_price,
            self.stop_price, self.tif, self.parent_ref, self.oca_group,
        )


_checked_quantity: Decimal | None = None
"""The quantity of the last `OrderRequest` made, found to be a whole number above 0."""
_WritableOrderRequest = writable_twin(
    OrderRequest, "order_ref", "symbol", "side", "quantity", "order_type", "limit_price", "stop_price",
    "tif", "parent_ref", "oca_group",
)
_BUY = Side.BUY
_SELL = Side.SELL
_MARKET = OrderType.MARKET
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
        writable: Any = self
        become(writable, _WritableBracketRequest)
        writable.entry = entry
        writable.take_profit = take_profit
        writable.stop_loss = stop_loss
        writable.__class__ = BracketRequest
        side = entry.side
        exit_side = _SELL if side is _BUY else _BUY
        symbol, quantity, entry_ref = entry.symbol, entry.quantity, entry.order_ref
        take_profit_quantity, stop_loss_quantity = take_profit.quantity, stop_loss.quantity
        # Both exits at once, one chained test per field: the common case (a valid bracket) then
        # costs four tests instead of a loop of eight; `_exit_mismatch` finds and names the culprit.
        # The legs usually share one Decimal quantity: the identity tests spare the comparisons.
        if not (
            take_profit.symbol == symbol == stop_loss.symbol
            and take_profit.side is exit_side
            and stop_loss.side is exit_side
            and (take_profit_quantity is quantity or take_profit_quantity == quantity)
            and (stop_loss_quantity is quantity or stop_loss_quantity == quantity)
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
        if side is _BUY:
            if not stop < target:
                raise ValueError(f"{self._where()}: a long needs stop {stop} below target {target}")
        elif not stop > target:
            raise ValueError(f"{self._where()}: a short needs stop {stop} above target {target}")

    def __post_init__(self) -> None:
        # For tools that bypass __init__: see `OrderRequest.__post_init__`.
        BracketRequest.__init__(self, self.entry, self.take_profit, self.stop_loss)

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


_WritableBracketRequest = writable_twin(BracketRequest, "entry", "take_profit", "stop_loss")


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
    # The execution ids applied, in order. A tuple, replaced on each fill: most orders fill once
    # or never, and the empty tuple of an order without fills costs no allocation.
    exec_ids: tuple[str, ...] = ()

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
        total = filled + quantity if filled else quantity  # most orders fill once: no new Decimal
        # A whole fill is often the very Decimal of the order's quantity: the identity test
        # spares both comparisons.
        if total is ordered or total == ordered:
            trigger, status = _FILL, _FILL_EDGES.get(self.status)
        elif total > ordered:
            raise OverFill(
                f"order {self.order_ref}: fill of {quantity} on top of {filled} exceeds "
                f"the ordered {ordered}"
            )
        else:
            trigger, status = _PARTIAL_FILL, _PARTIAL_FILL_EDGES.get(self.status)
        if status is None:  # e.g. a fill on a cancelled order: `next_status` raises and says why
            status = next_status(self.status, trigger, f"order {self.order_ref}")
        self.status = status
        # The first fill's average is its price (the weighted formula gives the same value; most
        # orders fill once, so the two multiplications and the division are skipped for them).
        self.avg_fill_price = (self.avg_fill_price * filled + price * quantity) / total if filled else price
        self.filled = total
        exec_ids = self.exec_ids
        self.exec_ids = (*exec_ids, exec_id) if exec_ids else (exec_id,)
        return True


def new_order(request: OrderRequest) -> Order:
    """`Order(request)`: a new, PENDING order with no fills, made by a function (a cheaper call
    than a class with a generated `__init__`) for owners that make one per leg of every bracket."""
    order = _new(Order)
    order.request = request
    order.status = _PENDING
    order.filled = ZERO
    order.avg_fill_price = ZERO
    order.message = ""
    order.exec_ids = ()
    return order


_new = object.__new__
_PENDING = OrderStatus.PENDING
_FILL = OrderTrigger.FILL
_PARTIAL_FILL = OrderTrigger.PARTIAL_FILL
_FILL_EDGES = EDGES_BY_TRIGGER[_FILL]
_PARTIAL_FILL_EDGES = EDGES_BY_TRIGGER[_PARTIAL_FILL]
