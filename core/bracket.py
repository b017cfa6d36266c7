"""The executor's view of one bracket (entry + take profit + stop loss), following the bracket rules.

A `Bracket` consumes what the broker reports about its three legs and answers with intentions:
what the owner must make sure of at the broker (exits working for the open quantity, legs
cancelled, a naked position flattened). It never talks to a broker itself.

The rules, in short: exits are HELD until the entry fills; then both work for exactly the open
quantity (entry filled minus exits filled), growing with each entry fill and shrinking with each
exit fill; an exit that takes the open quantity to 0 closes the bracket, which cancels the other
exit and any entry remainder; a stop loss lost while shares are open leaves them naked, and they
must be flattened.

Statuses change only through the transition table (`Order.apply`, `Order.add_fill`). The bracket
marks a leg CANCELLED itself only where the broker cancels it on its own (the OCA sibling of the
exit that closed the bracket, the exits of an entry that ended without a fill); every other cancel
is asked for with `CancelLegs` and recorded when the broker confirms it, so that a fill racing the
cancel is still counted (and flattened) instead of being refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from core.broker_events import Fill, OrderStatusUpdate
from core.order_status import OrderStatus, OrderTrigger
from core.orders import BracketRequest, Order
from core.values import ZERO, OrderRef, Side


@dataclass(frozen=True, slots=True)
class ActivateExits:
    """The entry has filled: both exits must stop being held and work, each for `quantity`."""

    quantity: Decimal


@dataclass(frozen=True, slots=True)
class ResizeExits:
    """The open quantity changed: each working exit must work for exactly `quantity` (unfilled)."""

    quantity: Decimal


@dataclass(frozen=True, slots=True)
class CancelLegs:
    """These legs must be cancelled at the broker (harmless if the broker already did it)."""

    order_refs: tuple[OrderRef, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class FlattenPosition:
    """Shares of this bracket have no working stop: send a market order of `side` (the opposite of
    the entry) for `quantity`, after the listed cancels, and raise the alarm with `reason`."""

    symbol: str
    side: Side
    quantity: Decimal
    reason: str


BracketIntention = ActivateExits | ResizeExits | CancelLegs | FlattenPosition

_ENDING_TRIGGERS = {
    OrderStatus.CANCELLED: OrderTrigger.CANCEL,
    OrderStatus.REJECTED: OrderTrigger.REJECT,
    OrderStatus.EXPIRED: OrderTrigger.EXPIRE,
}
_ACKNOWLEDGEMENTS = (OrderStatus.SUBMITTED, OrderStatus.HELD, OrderStatus.WORKING)


class Bracket:
    """One bracket's three orders and what the owner must do next. Mutable; one per bracket."""

    __slots__ = ("_cancel_requested", "_flatten_ordered", "entry", "request", "stop_loss", "take_profit")

    def __init__(self, request: BracketRequest) -> None:
        self.request = request
        self.entry = Order(request.entry)
        self.take_profit = Order(request.take_profit)
        self.stop_loss = Order(request.stop_loss)
        self._cancel_requested: set[OrderRef] = set()
        self._flatten_ordered = ZERO

    # -- what the bracket is now ------------------------------------------------------------

    @property
    def symbol(self) -> str:
        return self.request.symbol

    @property
    def legs(self) -> tuple[Order, Order, Order]:
        """Entry, take profit, stop loss."""
        return (self.entry, self.take_profit, self.stop_loss)

    @property
    def open_quantity(self) -> Decimal:
        """Shares the entry filled that no exit has closed yet."""
        return max(ZERO, self.entry.filled - self.take_profit.filled - self.stop_loss.filled)

    @property
    def exit_working_quantity(self) -> Decimal:
        """The quantity the stop loss is working for now: the protected shares (0 while held)."""
        return _working_quantity(self.stop_loss)

    @property
    def flatten_ordered(self) -> Decimal:
        """Shares handed to the owner to flatten at market (`FlattenPosition`) so far."""
        return self._flatten_ordered

    @property
    def is_closed(self) -> bool:
        """The trade is over: closed through an exit, ended before the entry filled, or its stop
        was lost (then any open shares were handed over with `FlattenPosition`)."""
        return self._end_reason() is not None

    @property
    def is_naked(self) -> bool:
        """Some filled shares have no working stop. Stays true after `FlattenPosition`, because
        the flattening order is not a leg of this bracket."""
        return self.open_quantity > self.exit_working_quantity

    # -- what the broker says ---------------------------------------------------------------

    def mark_submitted(self) -> None:
        """The owner has sent the three legs to the broker."""
        for order in self.legs:
            if order.status is OrderStatus.PENDING:
                order.apply(OrderTrigger.SUBMIT)

    def apply_status(self, update: OrderStatusUpdate) -> tuple[BracketIntention, ...]:
        """Take the broker's status report on one leg.

        A repeat of the current status changes nothing. SUBMITTED / HELD / WORKING are
        acknowledgements: whether an exit is held or working is decided by the entry's fills, not
        by the report, and a late acknowledgement of an order that has moved on is stale. Fill
        progress comes only from executions (`apply_fill`), so PARTIALLY_FILLED / FILLED reports
        change nothing either. CANCELLED / REJECTED / EXPIRED go through the transition table.
        """
        order = self._leg(update.order_ref, f"status report {update.status.value}")
        if update.status is order.status:
            return ()
        if update.status in _ACKNOWLEDGEMENTS:
            self._acknowledge(order, update.status, update.message)
        elif update.status in _ENDING_TRIGGERS:
            order.apply(_ENDING_TRIGGERS[update.status], update.message)
        else:
            return ()
        return self._settle()

    def apply_fill(self, fill: Fill) -> tuple[BracketIntention, ...]:
        """Take one execution on a leg. A repeated execution id changes nothing and returns ()."""
        order = self._leg(fill.order_ref, f"fill {fill.exec_id}")
        if fill.exec_id in order.exec_ids:
            return ()
        if fill.symbol != self.symbol or fill.side is not order.request.side:
            raise ValueError(
                f"fill {fill.exec_id} ({fill.side.value} {fill.symbol}) does not match order "
                f"{order.order_ref} ({order.request.side.value} {order.request.symbol}); "
                "check the broker adapter's translation of executions"
            )
        if order is not self.entry and fill.quantity > self.open_quantity:
            raise ValueError(
                f"fill {fill.exec_id} of {fill.quantity} on exit {order.order_ref} exceeds the open "
                f"quantity {self.open_quantity} of bracket {self.entry.order_ref} (entry filled "
                f"{self.entry.filled}); exits never close more than the entry opened: check for a "
                "missing entry execution"
            )
        if order.status is OrderStatus.PENDING:
            order.apply(OrderTrigger.SUBMIT)  # an execution proves the broker has the order
        order.add_fill(fill.exec_id, fill.quantity, fill.price)
        return self._settle()

    # -- internals --------------------------------------------------------------------------

    def _leg(self, order_ref: OrderRef, what: str) -> Order:
        for order in self.legs:
            if order.order_ref == order_ref:
                return order
        refs = ", ".join(order.order_ref for order in self.legs)
        raise ValueError(
            f"{what} is for order {order_ref!r}, which is not a leg of bracket "
            f"{self.entry.order_ref} ({self.symbol}: {refs}); route it to the bracket that owns it"
        )

    def _acknowledge(self, order: Order, status: OrderStatus, message: str) -> None:
        if order.status.is_terminal:
            return  # a late acknowledgement of an order that has already ended
        if order.status is OrderStatus.PENDING:
            order.apply(OrderTrigger.SUBMIT, message)
        if order is not self.entry:
            if order.status is OrderStatus.SUBMITTED:
                order.apply(OrderTrigger.HOLD, message)  # _settle activates it if the entry filled
        elif status is OrderStatus.HELD and order.status is OrderStatus.SUBMITTED:
            order.apply(OrderTrigger.HOLD, message)
        elif status is OrderStatus.WORKING and order.status in (OrderStatus.SUBMITTED, OrderStatus.HELD):
            order.apply(OrderTrigger.ACCEPT, message)

    def _end_reason(self) -> str | None:
        for order, name in ((self.take_profit, "take profit"), (self.stop_loss, "stop loss")):
            if order.status is OrderStatus.FILLED:
                return f"closed by its {name} {order.order_ref}"
        if self.entry.status.is_terminal and self.entry.filled == ZERO:
            return f"entry {self.entry.order_ref} ended {self.entry.status.value} before any fill"
        if self.stop_loss.status.is_terminal:
            return f"stop loss {self.stop_loss.order_ref} is {self.stop_loss.status.value}"
        return None

    def _settle(self) -> tuple[BracketIntention, ...]:
        reason = self._end_reason()
        if reason is None:
            return self._size_exits()
        return self._wind_down(reason)

    def _size_exits(self) -> tuple[BracketIntention, ...]:
        open_quantity = self.open_quantity
        if open_quantity == ZERO:
            return ()  # the entry has not filled yet: the exits stay held
        activated = resized = False
        for order in (self.take_profit, self.stop_loss):
            if order.status.is_terminal:
                continue  # a take profit that was rejected or cancelled; the stop still works
            if not order.status.is_working:
                _activate(order)
                activated = True
            # Each exit's order quantity is what it filled plus the open quantity, so the exit
            # that takes the last open share ends FILLED.
            wanted = order.filled + open_quantity
            if order.request.quantity != wanted:
                order.request = order.request.with_quantity(wanted)
                resized = True
        if activated:
            return (ActivateExits(open_quantity),)
        return (ResizeExits(open_quantity),) if resized else ()

    def _wind_down(self, reason: str) -> tuple[BracketIntention, ...]:
        where = f"bracket {self.entry.order_ref} ({self.symbol}) {reason}"
        closed_by_exit = OrderStatus.FILLED in (self.take_profit.status, self.stop_loss.status)
        entry_ended_unfilled = self.entry.status.is_terminal and self.entry.filled == ZERO
        marked: set[OrderRef] = set()
        if closed_by_exit or entry_ended_unfilled:
            # The broker cancels these itself (OCA sibling; children of a dead parent).
            for order in (self.take_profit, self.stop_loss):
                if not order.status.is_terminal:
                    order.apply(OrderTrigger.CANCEL, where)
                    marked.add(order.order_ref)
        cancel = tuple(
            order.order_ref
            for order in self.legs
            if (order.order_ref in marked or not order.status.is_terminal)
            and order.order_ref not in self._cancel_requested
        )
        intentions: list[BracketIntention] = []
        if cancel:
            self._cancel_requested.update(cancel)
            intentions.append(CancelLegs(cancel, f"{where}; cancel what is left of it"))
        unprotected = self.open_quantity - self.exit_working_quantity - self._flatten_ordered
        if unprotected > ZERO:
            self._flatten_ordered += unprotected
            held = "long" if self.entry.request.side is Side.BUY else "short"
            intentions.append(
                FlattenPosition(
                    self.symbol,
                    self.entry.request.side.opposite,
                    unprotected,
                    f"NAKED: {where}, leaving {unprotected} {self.symbol} {held} without a working "
                    "stop; flatten at market and report it",
                )
            )
        return tuple(intentions)


def _working_quantity(order: Order) -> Decimal:
    return order.remaining if order.status.is_working else ZERO


def _activate(order: Order) -> None:
    """Bring a not-yet-working exit to WORKING along the table's edges."""
    if order.status is OrderStatus.PENDING:
        order.apply(OrderTrigger.SUBMIT)
    trigger = OrderTrigger.ACTIVATE if order.status is OrderStatus.HELD else OrderTrigger.ACCEPT
    order.apply(trigger)
