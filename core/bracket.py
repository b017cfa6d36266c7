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
from core.values import ZERO, OrderRef, Side, frozen_slot_setters


@dataclass(frozen=True, slots=True)
class ActivateExits:
    """The entry has filled: both exits must stop being held and work, each for `quantity`."""

    quantity: Decimal

    def __init__(self, quantity: Decimal) -> None:
        # Written by hand, not generated: one is made per entry fill (see `frozen_slot_setters`).
        _set_activate_quantity(self, quantity)


@dataclass(frozen=True, slots=True)
class ResizeExits:
    """The open quantity changed: each working exit must work for exactly `quantity` (unfilled)."""

    quantity: Decimal

    def __init__(self, quantity: Decimal) -> None:
        # Written by hand, not generated: one is made per partial fill (see `frozen_slot_setters`).
        _set_resize_quantity(self, quantity)


@dataclass(frozen=True, slots=True)
class CancelLegs:
    """These legs must be cancelled at the broker (harmless if the broker already did it)."""

    order_refs: tuple[OrderRef, ...]
    reason: str

    def __init__(self, order_refs: tuple[OrderRef, ...], reason: str) -> None:
        # Written by hand, not generated: one is made per bracket that ends (see `frozen_slot_setters`).
        _set_cancel_order_refs(self, order_refs)
        _set_cancel_reason(self, reason)


@dataclass(frozen=True, slots=True)
class FlattenPosition:
    """Shares of this bracket have no working stop: send a market order of `side` (the opposite of
    the entry) for `quantity`, after the listed cancels, and raise the alarm with `reason`."""

    symbol: str
    side: Side
    quantity: Decimal
    reason: str


(_set_activate_quantity,) = frozen_slot_setters(ActivateExits, "quantity")
(_set_resize_quantity,) = frozen_slot_setters(ResizeExits, "quantity")
_set_cancel_order_refs, _set_cancel_reason = frozen_slot_setters(CancelLegs, "order_refs", "reason")

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
_PARTIALLY_FILLED = OrderStatus.PARTIALLY_FILLED
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
        entry, take_profit, stop_loss = self.entry, self.take_profit, self.stop_loss
        # Tested before calling: every bracket passes here once, with all three legs PENDING or
        # (a repeat) none.
        if entry.status is _PENDING:
            entry.apply(_SUBMIT)
        if take_profit.status is _PENDING:
            take_profit.apply(_SUBMIT)
        if stop_loss.status is _PENDING:
            stop_loss.apply(_SUBMIT)

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
        current = order.status
        if status is current:
            return ()  # most reports are repeats (the broker echoes what a fill already told us)
        if status in _ACKNOWLEDGEMENTS:
            # Inlined, not a helper: three of a bracket's ten reports are acknowledgements.
            if current not in TERMINAL:  # else a late acknowledgement of an order that has ended
                message = update.message
                if current is _PENDING:
                    current = order.apply(_SUBMIT, message)
                if order is not self.entry:
                    if current is _SUBMITTED:
                        order.apply(_HOLD, message)  # _settle activates it if the entry filled
                elif status is _HELD:
                    if current is _SUBMITTED:
                        order.apply(_HOLD, message)
                elif status is _WORKING and (current is _SUBMITTED or current is _HELD):
                    order.apply(_ACCEPT, message)
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
        exec_id = fill.exec_id
        if exec_id in order.exec_ids:
            return ()
        request = order.request
        if fill.symbol != self.request.entry.symbol or fill.side is not request.side:
            raise ValueError(
                f"fill {exec_id} ({fill.side.value} {fill.symbol}) does not match order "
                f"{order.order_ref} ({request.side.value} {request.symbol}); "
                "check the broker adapter's translation of executions"
            )
        quantity = fill.quantity
        entry = self.entry
        if order is not entry:
            # `open_quantity`, computed here rather than through the property: one fill in two
            # is an exit's.
            open_quantity = entry.filled - self.take_profit.filled - self.stop_loss.filled
            # `open_quantity` never goes below 0, hence the second test (rarely reached).
            if quantity > open_quantity and quantity > ZERO:
                raise ValueError(
                    f"fill {exec_id} of {quantity} on exit {order.order_ref} exceeds the open "
                    f"quantity {self.open_quantity} of bracket {entry.order_ref} (entry filled "
                    f"{entry.filled}); exits never close more than the entry opened: check for a "
                    "missing entry execution"
                )
        if order.status is _PENDING:
            order.apply(_SUBMIT)  # an execution proves the broker has the order
        order.add_fill(exec_id, quantity, fill.price)
        return self._settle()

    # -- internals --------------------------------------------------------------------------

    def _stranger(self, what: str, order_ref: OrderRef) -> ValueError:
        refs = ", ".join(order.order_ref for order in self.legs)
        return ValueError(
            f"{what} is for order {order_ref!r}, which is not a leg of bracket "
            f"{self.entry.order_ref} ({self.symbol}: {refs}); route it to the bracket that owns it"
        )

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
        entry_filled = entry.filled
        # The conditions of `_end_reason`, tested without building its text (this runs on every
        # report that changes a leg; the text is needed once per bracket).
        if (
            take_profit.status is _FILLED
            or stop_loss.status in TERMINAL
            or (not entry_filled and entry.status in TERMINAL)
        ):
            reason = self._end_reason()
            assert reason is not None
            return self._wind_down(reason)
        if not entry_filled:
            return ()  # the entry has not filled yet: the exits stay held
        open_quantity = entry_filled - take_profit.filled - stop_loss.filled
        if open_quantity <= ZERO:
            return ()
        # Size both exits, written out rather than looped: this runs on every fill of an open
        # bracket. Each exit's order quantity is what it filled plus the open quantity, so the
        # exit that takes the last open share ends FILLED.
        activated = resized = False
        status = take_profit.status
        if status not in TERMINAL:  # else rejected or cancelled: the stop works on alone
            if status is not _WORKING and status is not _PARTIALLY_FILLED:
                # Brought to WORKING along the table's edges (inlined: this runs on every entry fill).
                if status is _PENDING:
                    status = take_profit.apply(_SUBMIT)
                take_profit.apply(_ACTIVATE if status is _HELD else _ACCEPT)
                activated = True
            wanted = take_profit.filled + open_quantity
            request = take_profit.request
            if request.quantity != wanted:
                take_profit.request = request.with_quantity(wanted)
                resized = True
        status = stop_loss.status  # not terminal: tested above
        if status is not _WORKING and status is not _PARTIALLY_FILLED:
            if status is _PENDING:
                status = stop_loss.apply(_SUBMIT)
            stop_loss.apply(_ACTIVATE if status is _HELD else _ACCEPT)
            activated = True
        wanted = stop_loss.filled + open_quantity
        request = stop_loss.request
        if request.quantity != wanted:
            stop_loss.request = request.with_quantity(wanted)
            resized = True
        if activated:
            return (ActivateExits(open_quantity),)
        return (ResizeExits(open_quantity),) if resized else ()

    def _wind_down(self, reason: str) -> tuple[BracketIntention, ...]:
        entry, take_profit, stop_loss = self.entry, self.take_profit, self.stop_loss
        symbol = self.request.entry.symbol
        where = f"bracket {entry.request.order_ref} ({symbol}) {reason}"
        # Closed by an exit, or the entry ended unfilled: the broker cancels the unfinished exits
        # itself (OCA sibling; children of a dead parent), so they are marked CANCELLED here.
        broker_cancels = (
            take_profit.status is _FILLED
            or stop_loss.status is _FILLED
            or (entry.status in TERMINAL and entry.filled == ZERO)
        )
        # Every leg still unfinished (or just marked cancelled) is asked to be cancelled, once.
        cancel_requested = self._cancel_requested
        cancel: list[OrderRef] = []
        for order in (entry, take_profit, stop_loss):
            if order.status in TERMINAL:
                continue
            if broker_cancels and order is not entry:
                order.apply(_CANCEL, where)
            ref = order.request.order_ref
            if ref not in cancel_requested:
                cancel.append(ref)
        cancel_legs: CancelLegs | None = None
        if cancel:
            cancel_requested.update(cancel)
            cancel_legs = CancelLegs(tuple(cancel), f"{where}; cancel what is left of it")
        # `open_quantity - exit_working_quantity`, without the two calls (once per ended bracket).
        open_quantity = entry.filled - take_profit.filled - stop_loss.filled
        if open_quantity < ZERO:
            open_quantity = ZERO
        if stop_loss.status in WORKING:
            open_quantity -= stop_loss.request.quantity - stop_loss.filled
        unprotected = open_quantity - self._flatten_ordered
        if unprotected <= ZERO:
            return () if cancel_legs is None else (cancel_legs,)
        self._flatten_ordered += unprotected
        side = entry.request.side
        held = "long" if side is _BUY else "short"
        flatten = FlattenPosition(
            symbol,
            side.opposite,
            unprotected,
            f"NAKED: {where}, leaving {unprotected} {symbol} {held} without a working "
            "stop; flatten at market and report it",
        )
        return (flatten,) if cancel_legs is None else (cancel_legs, flatten)


def _working_quantity(order: Order) -> Decimal:
    return order.request.quantity - order.filled if order.status in WORKING else ZERO

