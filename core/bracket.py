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
from core.order_status import TERMINAL, WORKING, OrderStatus, OrderTrigger
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
_ACKNOWLEDGEMENTS = frozenset({OrderStatus.SUBMITTED, OrderStatus.HELD, OrderStatus.WORKING})
# Every broker report of every leg passes through here: members are read once, at import, and
# messages are built only when they are used.
_PENDING = OrderStatus.PENDING
_SUBMITTED = OrderStatus.SUBMITTED
_HELD = OrderStatus.HELD
_WORKING = OrderStatus.WORKING
_FILLED = OrderStatus.FILLED
_SUBMIT = OrderTrigger.SUBMIT
_HOLD = OrderTrigger.HOLD
_ACCEPT = OrderTrigger.ACCEPT
_ACTIVATE = OrderTrigger.ACTIVATE
_CANCEL = OrderTrigger.CANCEL
_BUY = Side.BUY


class Bracket:
    """One bracket's three orders and what the owner must do next. Mutable; one per bracket."""

    __slots__ = (
        "_cancel_requested",
        "_flatten_ordered",
        "_legs_by_ref",
        "entry",
        "request",
        "stop_loss",
        "take_profit",
    )

    def __init__(self, request: BracketRequest) -> None:
        self.request = request
        self.entry = entry = Order(request.entry)
        self.take_profit = take_profit = Order(request.take_profit)
        self.stop_loss = stop_loss = Order(request.stop_loss)
        self._cancel_requested: set[OrderRef] = set()
        self._flatten_ordered = ZERO
        # Every report is routed to its leg by order_ref. Built in reverse so that, were two legs
        # to share a ref, the first in `legs` order wins, as a scan of `legs` would find it.
        self._legs_by_ref: dict[str, Order] = {
            request.stop_loss.order_ref: stop_loss,
            request.take_profit.order_ref: take_profit,
            request.entry.order_ref: entry,
        }

    # -- what the bracket is now ------------------------------------------------------------

    @property
    def symbol(self) -> str:
        return self.request.entry.symbol

    @property
    def legs(self) -> tuple[Order, Order, Order]:
        """Entry, take profit, stop loss."""
        return (self.entry, self.take_profit, self.stop_loss)

    @property
    def open_quantity(self) -> Decimal:
        """Shares the entry filled that no exit has closed yet."""
        open_quantity = self.entry.filled - self.take_profit.filled - self.stop_loss.filled
        return open_quantity if open_quantity > ZERO else ZERO

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
        for order in (self.entry, self.take_profit, self.stop_loss):
            if order.status is _PENDING:
                order.apply(_SUBMIT)

    def apply_status(self, update: OrderStatusUpdate) -> tuple[BracketIntention, ...]:
        """Take the broker's status report on one leg.

        A repeat of the current status changes nothing. SUBMITTED / HELD / WORKING are
        acknowledgements: whether an exit is held or working is decided by the entry's fills, not
        by the report, and a late acknowledgement of an order that has moved on is stale. Fill
        progress comes only from executions (`apply_fill`), so PARTIALLY_FILLED / FILLED reports
        change nothing either. CANCELLED / REJECTED / EXPIRED go through the transition table.
        """
        order = self._legs_by_ref.get(update.order_ref)
        status = update.status
        if order is None:
            raise self._stranger(f"status report {status.value}", update.order_ref)
        if status is order.status:
            return ()
        if status in _ACKNOWLEDGEMENTS:
            self._acknowledge(order, status, update.message)
        else:
            trigger = _ENDING_TRIGGERS.get(status)
            if trigger is None:
                return ()
            order.apply(trigger, update.message)
        return self._settle()

    def apply_fill(self, fill: Fill) -> tuple[BracketIntention, ...]:
        """Take one execution on a leg. A repeated execution id changes nothing and returns ()."""
        order = self._legs_by_ref.get(fill.order_ref)
        if order is None:
            raise self._stranger(f"fill {fill.exec_id}", fill.order_ref)
        if fill.exec_id in order.exec_ids:
            return ()
        request = order.request
        if fill.symbol != self.request.entry.symbol or fill.side is not request.side:
            raise ValueError(
                f"fill {fill.exec_id} ({fill.side.value} {fill.symbol}) does not match order "
                f"{order.order_ref} ({request.side.value} {request.symbol}); "
                "check the broker adapter's translation of executions"
            )
        entry = self.entry
        if order is not entry and fill.quantity > self.open_quantity:
            raise ValueError(
                f"fill {fill.exec_id} of {fill.quantity} on exit {order.order_ref} exceeds the open "
                f"quantity {self.open_quantity} of bracket {self.entry.order_ref} (entry filled "
                f"{self.entry.filled}); exits never close more than the entry opened: check for a "
                "missing entry execution"
            )
        if order.status is _PENDING:
            order.apply(_SUBMIT)  # an execution proves the broker has the order
        order.add_fill(fill.exec_id, fill.quantity, fill.price)
        return self._settle()

    # -- internals --------------------------------------------------------------------------

    def _stranger(self, what: str, order_ref: OrderRef) -> ValueError:
        refs = ", ".join(order.order_ref for order in self.legs)
        return ValueError(
            f"{what} is for order {order_ref!r}, which is not a leg of bracket "
            f"{self.entry.order_ref} ({self.symbol}: {refs}); route it to the bracket that owns it"
        )

    def _acknowledge(self, order: Order, status: OrderStatus, message: str) -> None:
        if order.status in TERMINAL:
            return  # a late acknowledgement of an order that has already ended
        if order.status is _PENDING:
            order.apply(_SUBMIT, message)
        if order is not self.entry:
            if order.status is _SUBMITTED:
                order.apply(_HOLD, message)  # _settle activates it if the entry filled
        elif status is _HELD and order.status is _SUBMITTED:
            order.apply(_HOLD, message)
        elif status is _WORKING and (order.status is _SUBMITTED or order.status is _HELD):
            order.apply(_ACCEPT, message)

    def _end_reason(self) -> str | None:
        take_profit, stop_loss, entry = self.take_profit, self.stop_loss, self.entry
        if take_profit.status is _FILLED:
            return f"closed by its take profit {take_profit.request.order_ref}"
        if stop_loss.status is _FILLED:
            return f"closed by its stop loss {stop_loss.request.order_ref}"
        if entry.status in TERMINAL and entry.filled == ZERO:
            return f"entry {entry.request.order_ref} ended {entry.status.value} before any fill"
        if stop_loss.status in TERMINAL:
            return f"stop loss {stop_loss.request.order_ref} is {stop_loss.status.value}"
        return None

    def _settle(self) -> tuple[BracketIntention, ...]:
        entry, take_profit, stop_loss = self.entry, self.take_profit, self.stop_loss
        # The conditions of `_end_reason`, tested without building its text (this runs on every
        # report that changes a leg; the text is needed once per bracket).
        if (
            take_profit.status is _FILLED
            or stop_loss.status in TERMINAL
            or (entry.status in TERMINAL and entry.filled == ZERO)
        ):
            reason = self._end_reason()
            assert reason is not None
            return self._wind_down(reason)
        open_quantity = entry.filled - take_profit.filled - stop_loss.filled
        if open_quantity <= ZERO:
            return ()  # the entry has not filled yet: the exits stay held
        return self._size_exits(open_quantity)

    def _size_exits(self, open_quantity: Decimal) -> tuple[BracketIntention, ...]:
        activated = resized = False
        for order in (self.take_profit, self.stop_loss):
            status = order.status
            if status in TERMINAL:
                continue  # a take profit that was rejected or cancelled; the stop still works
            if status not in WORKING:
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
        entry, take_profit, stop_loss = self.entry, self.take_profit, self.stop_loss
        symbol = self.request.entry.symbol
        where = f"bracket {entry.request.order_ref} ({symbol}) {reason}"
        marked: set[OrderRef] = set()
        if (
            take_profit.status is _FILLED
            or stop_loss.status is _FILLED
            or (entry.status in TERMINAL and entry.filled == ZERO)
        ):
            # Closed by an exit, or the entry ended unfilled: the broker cancels these itself
            # (OCA sibling; children of a dead parent).
            for order in (take_profit, stop_loss):
                if order.status not in TERMINAL:
                    order.apply(_CANCEL, where)
                    marked.add(order.request.order_ref)
        cancel_requested = self._cancel_requested
        cancel: list[OrderRef] = []
        for order in (entry, take_profit, stop_loss):
            ref = order.request.order_ref
            if (ref in marked or order.status not in TERMINAL) and ref not in cancel_requested:
                cancel.append(ref)
        intentions: list[BracketIntention] = []
        if cancel:
            cancel_requested.update(cancel)
            intentions.append(CancelLegs(tuple(cancel), f"{where}; cancel what is left of it"))
        unprotected = self.open_quantity - _working_quantity(stop_loss) - self._flatten_ordered
        if unprotected > ZERO:
            self._flatten_ordered += unprotected
            side = entry.request.side
            held = "long" if side is _BUY else "short"
            intentions.append(
                FlattenPosition(
                    symbol,
                    side.opposite,
                    unprotected,
                    f"NAKED: {where}, leaving {unprotected} {symbol} {held} without a working "
                    "stop; flatten at market and report it",
                )
            )
        return tuple(intentions)


def _working_quantity(order: Order) -> Decimal:
    return order.request.quantity - order.filled if order.status in WORKING else ZERO


def _activate(order: Order) -> None:
    """Bring a not-yet-working exit to WORKING along the table's edges."""
    if order.status is _PENDING:
        order.apply(_SUBMIT)
    order.apply(_ACTIVATE if order.status is _HELD else _ACCEPT)
