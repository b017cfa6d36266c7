"""The simulator's records: one `SimOrder` per order at the broker, one `SimBracket` per bracket.

Records are mutable and slotted (the matching hot path changes them in place); they are turned into
the port's frozen `BrokerOrder` / `OrderStatusUpdate` values whenever they leave the simulator.
"""

from __future__ import annotations

from decimal import Decimal

from core.broker_events import BrokerOrder, OrderStatusUpdate, make_status_update
from core.order_status import TRANSITIONS, InvalidTransition, OrderStatus, OrderTrigger, next_status
from core.orders import OrderRequest
from core.values import ZERO, OrderRef, OrderType

_STOP = OrderType.STOP
_STOP_LIMIT = OrderType.STOP_LIMIT


def edges(trigger: OrderTrigger) -> dict[OrderStatus, OrderStatus]:
    """The core transition table's edges for one trigger, keyed by the status they leave.

    The matching hot path knows its trigger in advance; looking the status up in this slice of the
    table costs one dict lookup instead of building a (status, trigger) key per change. A status
    missing from the slice is a change the table forbids: raise `SimOrder.refused(trigger)`.
    """
    return {status: after for (status, edge), after in TRANSITIONS.items() if edge is trigger}


class SimOrder:
    """An order as the simulated broker holds it.

    `quantity` is what the order is for at the broker now. It starts as the requested quantity;
    a bracket exit, once active, is resized to `filled + the bracket's open quantity`, the way a
    broker resizes OCA children to the parent's fills. Its prices, type and time in force are
    read from `request`, not copied: one more attribute read per match costs less than copies
    that every order carries, and that the cyclic garbage collector visits on every pass.
    """

    __slots__ = (
        "avg_price",
        "bracket",
        "broker_id",
        "code",
        "commission",
        "filled",
        "message",
        "notional",
        "quantity",
        "ref",
        "request",
        "status",
        "symbol",
        "triggered",
    )

    def __init__(self, request: OrderRequest, broker_id: str, status: OrderStatus) -> None:
        self.request = request
        self.ref: OrderRef = request.order_ref
        self.symbol = request.symbol
        self.broker_id = broker_id
        self.status = status
        self.quantity: Decimal = request.quantity
        # `notional` is the sum of quantity x price over the fills: it keeps avg_price exact.
        self.filled = self.avg_price = self.notional = self.commission = ZERO
        # Stops (STP, STP LMT) stay untriggered until the price crosses the stop price.
        order_type = request.order_type
        self.triggered = order_type is not _STOP and order_type is not _STOP_LIMIT
        self.message = ""
        self.code: int | None = None
        self.bracket: SimBracket | None = None

    def move(self, trigger: OrderTrigger) -> None:
        """Change status through the core transition table (an impossible change raises)."""
        status = TRANSITIONS.get((self.status, trigger))
        if status is None:  # not an edge of the table: let the core say why
            status = next_status(self.status, trigger, f"simulated order {self.ref}")
        self.status = status

    def refused(self, trigger: OrderTrigger) -> InvalidTransition:
        """The core's error for a change its table does not have (raise it)."""
        return InvalidTransition(self.status, trigger, f"simulated order {self.ref}")

    def status_update(self) -> OrderStatusUpdate:
        """The broker's word on this order, as the port reports it."""
        return make_status_update(
            self.ref, self.status, self.filled, self.quantity - self.filled, self.avg_price,
            self.message, self.code,
        )

    def to_broker_order(self) -> BrokerOrder:
        """This order for the query methods; the request carries the current quantity."""
        request = self.request
        if self.quantity != request.quantity:
            request = request.with_quantity(self.quantity)
        return BrokerOrder(request, self.status, self.filled, self.avg_price, self.broker_id)


class SimBracket:
    """Entry plus its exits. `exit_filled` counts every exit fill, including those of an exit
    that was later cancelled or replaced, so the open quantity is always exact."""

    __slots__ = ("entry", "exit_filled", "stop_loss", "take_profit")

    def __init__(
        self, entry: SimOrder, take_profit: SimOrder | None = None, stop_loss: SimOrder | None = None
    ) -> None:
        self.entry = entry
        self.take_profit = take_profit
        self.stop_loss = stop_loss
        self.exit_filled = ZERO

    @property
    def open_quantity(self) -> Decimal:
        """Shares bought (or sold) by the entry and not yet closed by an exit."""
        return self.entry.filled - self.exit_filled

    def exits(self) -> tuple[SimOrder, ...]:
        """The exits that exist, take profit first."""
        return tuple(o for o in (self.take_profit, self.stop_loss) if o is not None)

    def other_exit(self, exit_order: SimOrder) -> SimOrder | None:
        return self.stop_loss if exit_order is self.take_profit else self.take_profit


def new_bracket(
    entry_request: OrderRequest,
    take_profit_request: OrderRequest,
    stop_loss_request: OrderRequest,
    first_id: int,
    entry_status: OrderStatus,
    exit_status: OrderStatus,
) -> tuple[SimOrder, SimOrder, SimOrder]:
    """The three legs of a new bracket, linked to their `SimBracket`: what
    `SimBracket(SimOrder(entry_request, ...), SimOrder(...), SimOrder(...))` and linking each leg
    make, with broker ids `first_id`, `first_id + 1`, `first_id + 2`, the entry `entry_status`
    and the exits `exit_status`.

    Every bracket placed is made here: the records are made blank (`object.__new__`, in C) and
    every slot that `SimOrder.__init__` sets is set by `_new_leg`, to the same value, rather than
    through four calls of classes with a Python `__init__` (each such call costs about as much
    again as the `__init__` itself).
    """
    bracket = _new(SimBracket)
    bracket.exit_filled = ZERO
    bracket.entry = entry = _new_leg(entry_request, first_id, entry_status, bracket)
    bracket.take_profit = take_profit = _new_leg(take_profit_request, first_id + 1, exit_status, bracket)
    bracket.stop_loss = stop_loss = _new_leg(stop_loss_request, first_id + 2, exit_status, bracket)
    return entry, take_profit, stop_loss


_new = object.__new__


def _new_leg(request: OrderRequest, broker_id: int, status: OrderStatus, bracket: SimBracket) -> SimOrder:
    """One leg of `new_bracket`: every slot `SimOrder.__init__` sets, to the same value."""
    leg = _new(SimOrder)
    leg.request = request
    leg.ref = request.order_ref
    leg.symbol = request.symbol
    leg.broker_id = f"{broker_id}"  # str(number), without a call of `str`
    leg.quantity = request.quantity
    leg.filled = leg.avg_price = leg.notional = leg.commission = ZERO
    order_type = request.order_type
    leg.triggered = order_type is not _STOP and order_type is not _STOP_LIMIT
    leg.message = ""
    leg.code = None
    leg.bracket = bracket
    leg.status = status
    return leg
