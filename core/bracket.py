"""The executor's view of one bracket (entry + take profit + stop loss), following the bracket rules.

A `Bracket` consumes what the broker reports about its three legs and answers with intentions:
what the owner must make sure of at the broker (exits working for the open quantity, legs
cancelled, a naked position flattened). It never talks to a broker itself.

The rules, in short: exits are HELD until the entry fills; then both work for exactly the open
quantity (entry filled minus exits filled), growing with each entry fill and shrinking with each
exit fill; an exit that takes the open quantity to 0 closes the bracket, which cancels the other
exit and any entry remainder; a stop loss lost while shares are open leaves them naked, and they
must be flattened.

Statuses change only through the transition table: `Order.apply`, `Order.add_fill`, or, on the
common path where the status a leg leaves is known, an edge read from the table once. The bracket
marks a leg CANCELLED itself only where the broker cancels it on its own (the OCA sibling of the
exit that closed the bracket, the exits of an entry that ended without a fill); every other cancel
is asked for with `CancelLegs` and recorded when the broker confirms it, so that a fill racing the
cancel is still counted (and flattened) instead of being refused.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from core.bracket_intentions import (
    ActivateExits,
    BracketIntention,
    CancelLegs,
    FlattenPosition,
    ResizeExits,
    WritableActivateExits,
    WritableCancelLegs,
)
from core.broker_events import Fill, OrderStatusUpdate
from core.order_status import EDGES_BY_TRIGGER, TERMINAL, WORKING, OrderStatus, OrderTrigger, next_status
from core.orders import BracketRequest, Order
from core.values import ZERO, OrderRef, Side

__all__ = [
    "ActivateExits",
    "Bracket",
    "BracketIntention",
    "CancelLegs",
    "FlattenPosition",
    "ResizeExits",
]




# What `_work_exit` changed, as bits of an int (a tuple of two flags would be made per call).
_RESIZED = 1
_NOW_WORKING = 2


def _work_exit(order: Order, filled: Decimal, open_quantity: Decimal) -> int:
    """Bring an exit to WORKING along the table's edges (HELD -> ACTIVATE; PENDING -> SENT ->
    ACCEPT) and size it to what it filled plus `open_quantity`; what changed: `_NOW_WORKING` if it
    was not working, `_RESIZED` if its quantity changed, or'ed (0: nothing). Runs on every fill
    of an open bracket, hence the precomputed edges."""
    change = 0
    status = order.status
    if status is not _WORKING and status is not _PARTIALLY_FILLED:
        if status is _HELD:
            order.status = _ACTIVATED
        else:
            if status is _PENDING:
                order.status = _SENT
            order.apply(_ACCEPT)
        change = _NOW_WORKING
    wanted = filled + open_quantity if filled else open_quantity
    request = order.request
    quantity = request.quantity
    # Often the very Decimal of the fill: the identity test spares the comparison.
    if quantity is not wanted and quantity != wanted:
        order.request = request.with_quantity(wanted)
        change |= _RESIZED
    return change



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
# The edges the common path takes, read from the table once: a leg sent (PENDING -> SUBMITTED), a
# leg held (SUBMITTED -> HELD), an entry accepted (SUBMITTED -> WORKING, or from HELD), a held exit
# activated (HELD -> WORKING). Where the current status is known to be the edge's start, the leg
# takes the edge by assignment, without a call of `Order.apply` (which would look up the same edge).
_SENT = next_status(_PENDING, _SUBMIT)
_HELD_BACK = next_status(_SUBMITTED, _HOLD)
_ACCEPTED = next_status(_SUBMITTED, _ACCEPT)
_ACCEPTED_WHILE_HELD = next_status(_HELD, _ACCEPT)
_ACTIVATED = next_status(_HELD, _ACTIVATE)
_ON_CANCEL = EDGES_BY_TRIGGER[_CANCEL]  # the table's edges of a cancel, by the status they leave
_new = object.__new__


class Bracket:
    """One bracket's three orders and what the owner must do next. Mutable; one per bracket."""

    __slots__ = (
        "_cancel_requested",
        "_entry_ref",
        "_flatten_ordered",
        "_stop_loss_ref",
        "_take_profit_ref",
        "entry",
        "request",
        "stop_loss",
        "take_profit",
    )

    def __init__(self, request: BracketRequest) -> None:
        self.request = request
        # The three legs: PENDING, with no fills; `new_order(leg)` written out, each field set as
        # `new_order` sets it (every bracket passes here, and a call costs as much as the fields).
        self.entry = entry = _new(Order)
        entry.request = request.entry
        self.take_profit = take_profit = _new(Order)
        take_profit.request = request.take_profit
        self.stop_loss = stop_loss = _new(Order)
        stop_loss.request = request.stop_loss
        entry.status = take_profit.status = stop_loss.status = _PENDING
        entry.filled = entry.avg_fill_price = take_profit.filled = take_profit.avg_fill_price = ZERO
        stop_loss.filled = stop_loss.avg_fill_price = ZERO
        entry.message = take_profit.message = stop_loss.message = ""
        entry.exec_ids = take_profit.exec_ids = stop_loss.exec_ids = ()
        # Legs asked to be cancelled (`CancelLegs`), each once. A tuple, replaced when it grows:
        # it stays empty until the bracket ends, and an empty tuple costs no allocation.
        self._cancel_requested: tuple[OrderRef, ...] = ()
        self._flatten_ordered = ZERO
        # Every report is routed to its leg by order_ref, compared in `legs` order, so that, were
        # two legs to share a ref, the first would win, as a scan of `legs` finds it.
        self._entry_ref = request.entry.order_ref
        self._take_profit_ref = request.take_profit.order_ref
        self._stop_loss_ref = request.stop_loss.order_ref

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
        # The conditions of `_ending`, tested without building its text.
        entry, stop_loss = self.entry, self.stop_loss
        return (
            self.take_profit.status is _FILLED
            or stop_loss.status in TERMINAL
            or (entry.status in TERMINAL and not entry.filled)
        )

    @property
    def is_naked(self) -> bool:
        """Some filled shares have no working stop. Stays true after `FlattenPosition`, because
        the flattening order is not a leg of this bracket."""
        # `open_quantity > exit_working_quantity`, without the calls and the subtractions of 0.
        entry, take_profit, stop_loss = self.entry, self.take_profit, self.stop_loss
        open_quantity = entry.filled
        if take_profit.filled:
            open_quantity -= take_profit.filled
        if stop_loss.filled:
            open_quantity -= stop_loss.filled
        if open_quantity <= ZERO:
            return False  # nothing open; what the stop works for is never below 0
        if stop_loss.status in WORKING:
            return open_quantity > stop_loss.request.quantity - stop_loss.filled
        return True

    # -- what the broker says ---------------------------------------------------------------

    def mark_submitted(self) -> None:
        """The owner has sent the three legs to the broker."""
        entry, take_profit, stop_loss = self.entry, self.take_profit, self.stop_loss
        # Every bracket passes here once, with all three legs PENDING or (a repeat) none.
        if entry.status is _PENDING:
            entry.status = _SENT
        if take_profit.status is _PENDING:
            take_profit.status = _SENT
        if stop_loss.status is _PENDING:
            stop_loss.status = _SENT

    def apply_status(self, update: OrderStatusUpdate) -> tuple[BracketIntention, ...]:
        """Take the broker's status report on one leg.

        A repeat of the current status changes nothing. SUBMITTED / HELD / WORKING are
        acknowledgements: whether an exit is held or working is decided by the entry's fills, not
        by the report, and a late acknowledgement of an order that has moved on is stale. Fill
        progress comes only from executions (`apply_fill`), so PARTIALLY_FILLED / FILLED reports
        change nothing either. CANCELLED / REJECTED / EXPIRED go through the transition table.
        """
        # The leg, found by order_ref in `legs` order: every report of every leg passes here.
        ref = update.order_ref
        if ref == self._entry_ref:
            order = self.entry
        elif ref == self._take_profit_ref:
            order = self.take_profit
        elif ref == self._stop_loss_ref:
            order = self.stop_loss
        else:
            raise self._stranger(f"status report {update.status.value}", ref)
        status = update.status
        current = order.status
        if status is current:
            return ()  # most reports are repeats (the broker echoes what a fill already told us)
        if status in _ACKNOWLEDGEMENTS:
            # Inlined, not a helper: three of a bracket's ten reports are acknowledgements. The
            # status they lead to is found along the table's edges, then taken in one step.
            if current not in TERMINAL:  # else a late acknowledgement of an order that has ended
                after = _SENT if current is _PENDING else current  # it proves the order was sent
                if after is _SUBMITTED:
                    if order is not self.entry or status is _HELD:
                        after = _HELD_BACK  # an exit: _settle activates it when the entry fills
                    elif status is _WORKING:
                        after = _ACCEPTED
                elif after is _HELD and status is _WORKING and order is self.entry:
                    after = _ACCEPTED_WHILE_HELD
                if after is not current:
                    order.status = after
                    message = update.message
                    if message:
                        order.message = message
            # Nothing for the owner to do: an acknowledgement neither ends the bracket nor
            # changes a quantity, and it never holds an exit back once the entry has filled
            # (`_settle` made the exits work at that fill, and no edge leads back to HELD), so
            # `_settle` would find what it found after the last fill or ending report.
            return ()
        trigger = _ENDING_TRIGGERS.get(status)
        if trigger is None:
            return ()
        order.apply(trigger, update.message)
        return self._settle()

    def apply_fill(self, fill: Fill) -> tuple[BracketIntention, ...]:
        """Take one execution on a leg. A repeated execution id changes nothing and returns ()."""
        # The leg, found as in `apply_status`.
        ref = fill.order_ref
        if ref == self._entry_ref:
            order = self.entry
        elif ref == self._take_profit_ref:
            order = self.take_profit
        elif ref == self._stop_loss_ref:
            order = self.stop_loss
        else:
            raise self._stranger(f"fill {fill.exec_id}", ref)
        exec_id = fill.exec_id
        if exec_id in order.exec_ids:
            return ()
        request = order.request
        # The leg's symbol is the entry's (`BracketRequest` checks it; a resize keeps it).
        if fill.symbol != request.symbol or fill.side is not request.side:
            raise ValueError(
                f"fill {exec_id} ({fill.side.value} {fill.symbol}) does not match order "
                f"{order.order_ref} ({request.side.value} {request.symbol}); "
                "check the broker adapter's translation of executions"
            )
        quantity = fill.quantity
        entry = self.entry
        if order is not entry:
            # `open_quantity`, computed here rather than through the property: one fill in two
            # is an exit's. (A 0 is not subtracted: each difference would be a new Decimal.)
            open_quantity = entry.filled
            closed = self.take_profit.filled
            if closed:
                open_quantity -= closed
            closed = self.stop_loss.filled
            if closed:
                open_quantity -= closed
            # `open_quantity` never goes below 0, hence the second test (rarely reached). A fill of
            # the very Decimal that is open (an exit closing all of it) is not above it.
            if quantity is not open_quantity and quantity > open_quantity and quantity > ZERO:
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

    def _ending(self) -> str | None:
        """Why the trade is over, as the bracket's cancels and alarms say it ("bracket B1 (AAPL)
        closed by its take profit B1-tp"), or None while it is not."""
        take_profit, stop_loss, entry = self.take_profit, self.stop_loss, self.entry
        # One f-string per reason (the text is made once per bracket that ends).
        if take_profit.status is _FILLED:
            return (
                f"bracket {self._entry_ref} ({self.request.entry.symbol}) closed by its take profit "
                f"{take_profit.request.order_ref}"
            )
        if stop_loss.status is _FILLED:
            return (
                f"bracket {self._entry_ref} ({self.request.entry.symbol}) closed by its stop loss "
                f"{stop_loss.request.order_ref}"
            )
        if entry.status in TERMINAL and entry.filled == ZERO:
            return (
                f"bracket {self._entry_ref} ({self.request.entry.symbol}) entry {entry.request.order_ref} "
                f"ended {entry.status.value} before any fill"
            )
        if stop_loss.status in TERMINAL:
            return (
                f"bracket {self._entry_ref} ({self.request.entry.symbol}) stop loss "
                f"{stop_loss.request.order_ref} is {stop_loss.status.value}"
            )
        return None

    def _settle(self) -> tuple[BracketIntention, ...]:
        entry, take_profit, stop_loss = self.entry, self.take_profit, self.stop_loss
        entry_filled = entry.filled
        # The conditions of `_ending`, tested without building its text (this runs on every
        # report that changes a leg; the text is needed once per bracket).
        if (
            take_profit.status is _FILLED
            or stop_loss.status in TERMINAL
            or (not entry_filled and entry.status in TERMINAL)
        ):
            return self._wind_down()
        if not entry_filled:
            return ()  # the entry has not filled yet: the exits stay held
        if take_profit.status is _HELD and stop_loss.status is _HELD:
            # The entry's first fill (every bracket passes here once): what `_work_exit` does to
            # each exit, written out. A held exit has no fill (a fill takes it out of HELD, and no
            # edge leads back), so the open quantity is what the entry filled, and each exit is
            # sized to it.
            take_profit.status = stop_loss.status = _ACTIVATED
            request = take_profit.request
            quantity = request.quantity
            if quantity is not entry_filled and quantity != entry_filled:
                take_profit.request = request.with_quantity(entry_filled)
            request = stop_loss.request
            quantity = request.quantity
            if quantity is not entry_filled and quantity != entry_filled:
                stop_loss.request = request.with_quantity(entry_filled)
            # `ActivateExits(entry_filled)`, made through its twin.
            activate: Any = WritableActivateExits()
            activate.quantity = entry_filled
            activate.__class__ = ActivateExits
            return (activate,)
        # What the exits filled is subtracted, and added below, only when it is not 0: this runs
        # on every fill, and each such sum or difference would be a new Decimal. The entry's
        # fills are above 0, so the open quantity can only be 0 or less once something is taken.
        take_profit_filled, stop_loss_filled = take_profit.filled, stop_loss.filled
        open_quantity = entry_filled
        if take_profit_filled or stop_loss_filled:
            if take_profit_filled:
                open_quantity -= take_profit_filled
            if stop_loss_filled:
                open_quantity -= stop_loss_filled
            if open_quantity <= ZERO:
                return ()
        # Size both exits. Each exit's order quantity is what it filled plus the open quantity, so
        # the exit that takes the last open share ends FILLED. A take profit already rejected or
        # cancelled is left alone: the stop works on alone (the stop is not terminal: tested above).
        change = 0
        if take_profit.status not in TERMINAL:
            change = _work_exit(take_profit, take_profit_filled, open_quantity)
        change |= _work_exit(stop_loss, stop_loss_filled, open_quantity)
        if change & _NOW_WORKING:
            return (ActivateExits(open_quantity),)
        return (ResizeExits(open_quantity),) if change else ()

    def _wind_down(self) -> tuple[BracketIntention, ...]:
        """The bracket is over: cancel what is left of it, and hand over any shares left without a
        working stop."""
        entry, take_profit, stop_loss = self.entry, self.take_profit, self.stop_loss
        where = self._ending()
        assert where is not None
        # Closed by an exit, or the entry ended unfilled: the broker cancels the unfinished exits
        # itself (OCA sibling; children of a dead parent), so they are marked CANCELLED here.
        broker_cancels = (
            take_profit.status is _FILLED
            or stop_loss.status is _FILLED
            or (entry.status in TERMINAL and entry.filled == ZERO)
        )
        # Every leg still unfinished (or just marked cancelled) is asked to be cancelled, once.
        cancel_requested = self._cancel_requested
        cancel: tuple[OrderRef, ...] = ()
        for order in (entry, take_profit, stop_loss):
            status = order.status
            if status in TERMINAL:
                continue
            if broker_cancels and order is not entry:
                # `order.apply(_CANCEL, where)`, inlined: one edge of the table.
                after = _ON_CANCEL.get(status)
                if after is None:
                    after = next_status(status, _CANCEL, f"order {order.request.order_ref}")
                order.status = after
                order.message = where
            ref = order.request.order_ref
            if ref not in cancel_requested:
                cancel += (ref,)
        cancel_legs: Any = None
        if cancel:
            self._cancel_requested = cancel_requested + cancel
            # `CancelLegs(cancel, reason)`, made through its twin.
            cancel_legs = WritableCancelLegs()
            cancel_legs.order_refs = cancel
            cancel_legs.reason = f"{where}; cancel what is left of it"
            cancel_legs.__class__ = CancelLegs
        # `open_quantity - exit_working_quantity`, without the two calls (once per ended bracket),
        # and without subtracting the 0s (see `_settle`).
        open_quantity = entry.filled
        take_profit_filled, stop_loss_filled = take_profit.filled, stop_loss.filled
        # The usual ending, one exit closing all the entry filled, often with the very Decimal of
        # the entry's fill: found by identity, without a subtraction (a new Decimal).
        if stop_loss_filled:
            closed_by_one = None if take_profit_filled else stop_loss_filled
        else:
            closed_by_one = take_profit_filled
        if closed_by_one is open_quantity and open_quantity:
            return () if cancel_legs is None else (cancel_legs,)
        if take_profit_filled:
            open_quantity -= take_profit_filled
        if stop_loss_filled:
            open_quantity -= stop_loss_filled
        # Nothing open (an exit closed it all): nothing can be unprotected, as what is subtracted
        # below (a working stop's rest, what was flattened) is never negative.
        if not open_quantity:
            return () if cancel_legs is None else (cancel_legs,)
        if open_quantity < ZERO:
            open_quantity = ZERO
        if stop_loss.status in WORKING:
            open_quantity -= stop_loss.request.quantity - stop_loss.filled
        flatten_ordered = self._flatten_ordered
        unprotected = open_quantity - flatten_ordered if flatten_ordered else open_quantity
        if unprotected <= ZERO:
            return () if cancel_legs is None else (cancel_legs,)
        self._flatten_ordered += unprotected
        symbol = self.request.entry.symbol
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

