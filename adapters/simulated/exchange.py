"""The matching engine: order book per symbol, fills, and the order lifecycle.

Everything here is synchronous and deterministic. Working orders are indexed by symbol, so a price
move only looks at that symbol's working orders. Every status change goes through the core
transition table (`SimOrder.move`); every change a client must hear about is appended to `events`,
which the broker facade delivers after each request. The bracket rules live in `brackets.py`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from adapters.simulated.account import Ledger
from adapters.simulated.book import SimBracket, SimOrder, edges, new_bracket
from adapters.simulated.brackets import attach_exit, on_entry_ended, on_entry_fill, on_exit_fill
from adapters.simulated.config import SimulationConfig
from adapters.simulated.matching import fill_price
from core.broker_events import (
    BrokerEvent,
    Fill,
    OrderStatusUpdate,
    WritableFill,
    WritableOrderStatusUpdate,
)
from core.order_status import EDGES_BY_TRIGGER, TERMINAL, OrderStatus, OrderTrigger, next_status
from core.orders import BracketRequest, OrderRequest
from core.ports import BrokerError, Clock
from core.values import ZERO, OrderRef, TimeInForce

_WORKING = OrderStatus.WORKING
_PARTIAL = OrderStatus.PARTIALLY_FILLED
_HELD = OrderStatus.HELD
_SUBMITTED = OrderStatus.SUBMITTED
# Enum members read through the class cost a metaclass lookup each time; the hot path reads these.
_ACCEPT = OrderTrigger.ACCEPT
_HOLD = OrderTrigger.HOLD
_ACTIVATE = OrderTrigger.ACTIVATE
_FILL = OrderTrigger.FILL
_PARTIAL_FILL = OrderTrigger.PARTIAL_FILL
_CANCEL = OrderTrigger.CANCEL
_IOC = TimeInForce.IOC
_Update = WritableOrderStatusUpdate
_Execution = WritableFill
# Slices of the core transition table for the triggers the hot path applies (see `book.edges`).
_ON_ACTIVATE = edges(_ACTIVATE)
_ON_FILL = edges(_FILL)
_ON_PARTIAL_FILL = edges(_PARTIAL_FILL)
# A new order is SUBMITTED; what accepting or holding it makes it, read from the table once.
_ACCEPTED = next_status(_SUBMITTED, _ACCEPT)
_HELD_BACK = next_status(_SUBMITTED, _HOLD)

Rejection = tuple[int, str]
"""A broker error code and reason that rejects an order (e.g. IB's 201)."""

DUPLICATE_ORDER_ID = 103
ORDER_NOT_FOUND = 135
NOT_CANCELLABLE = 161


class Exchange:
    """Orders, fills and prices of one simulated account."""

    def __init__(self, config: SimulationConfig, clock: Clock, ledger: Ledger) -> None:
        self._clock = clock
        self._ledger = ledger
        self._cap = config.partial_fill_quantity
        self.orders: dict[OrderRef, SimOrder] = {}
        self.open: dict[OrderRef, SimOrder] = {}
        self.completed: dict[OrderRef, SimOrder] = {}
        self.working: dict[str, dict[OrderRef, SimOrder]] = {}
        self.fills: list[Fill] = []
        self.prices: dict[str, Decimal] = {}
        self.events: list[BrokerEvent] = []
        self.next_order_id = 1
        self.next_exec_id = 1
        # Orders that just started working and must meet the current price once, as arrivals.
        self._arrivals: list[SimOrder] = []

    # -- requests --------------------------------------------------------------------------------

    def refuse_duplicates(self, refs: Sequence[OrderRef]) -> None:
        """Raise BrokerError 103 if any ref is already at the broker (or repeated); nothing is placed."""
        orders = self.orders
        for ref in refs:
            if ref in orders:
                break
        else:
            if len(set(refs)) == len(refs):
                return
        seen: set[str] = set()
        for ref in refs:
            known = self.orders.get(ref)
            if known is not None or ref in seen:
                where = f"it is already at the broker ({known.status.value})" if known else "it is repeated"
                raise BrokerError(
                    f"duplicate order id: order_ref {ref} is refused because {where}; use a new "
                    f"order_ref, or find the existing order with open_orders()/completed_orders()",
                    code=DUPLICATE_ORDER_ID, order_ref=ref,
                )
            seen.add(ref)

    def place_order(self, request: OrderRequest, rejection: Rejection | None) -> None:
        """Place one order: standalone, or an exit attached to `request.parent_ref`."""
        bracket: SimBracket | None = None
        if request.parent_ref is not None:
            bracket = attach_exit(self, request)  # validates first: raises before anything changes
        elif request.oca_group is not None:
            raise BrokerError(
                f"order {request.order_ref}: OCA groups are simulated only between the exits of a "
                f"bracket; place it with place_bracket() or with parent_ref set",
                order_ref=request.order_ref,
            )
        order = self._record(request, _SUBMITTED)
        if bracket is not None:
            order.bracket = bracket
            if request.order_type.needs_stop_price:
                bracket.stop_loss = order
            else:
                bracket.take_profit = order
        if rejection is not None:
            self.reject(order, rejection)
        elif bracket is not None and bracket.open_quantity == ZERO:
            self._hold(order)
        else:
            if bracket is not None:
                order.quantity = bracket.open_quantity  # the entry already filled: protect what it filled
            self._accept(order)
        self.run_arrivals()

    def place_bracket(
        self, request: BracketRequest, rejections: Mapping[OrderRef, Rejection] | None = None
    ) -> None:
        """Place entry, take profit and stop loss; the exits are HELD until the entry fills.
        Raises BrokerError 103, placing nothing, if a leg's order_ref is already at the broker."""
        entry_request = request.entry
        take_profit_request = request.take_profit
        stop_loss_request = request.stop_loss
        entry_ref = entry_request.order_ref
        take_profit_ref = take_profit_request.order_ref
        stop_loss_ref = stop_loss_request.order_ref
        orders = self.orders
        if (
            entry_ref in orders or take_profit_ref in orders or stop_loss_ref in orders
            or entry_ref in (take_profit_ref, stop_loss_ref) or take_profit_ref == stop_loss_ref
        ):
            self.refuse_duplicates((entry_ref, take_profit_ref, stop_loss_ref))  # raises, naming the ref
        if rejections:
            entry = self._record(entry_request, _SUBMITTED)
            take_profit = self._record(take_profit_request, _SUBMITTED)
            stop_loss = self._record(stop_loss_request, _SUBMITTED)
            bracket = SimBracket(entry, take_profit, stop_loss)
            entry.bracket = take_profit.bracket = stop_loss.bracket = bracket
            self._place_bracket_with_rejections(entry, take_profit, stop_loss, rejections)
            return
        # The common case, written out (it runs once per bracket): `_record` three times, then the
        # entry is accepted and works and both exits are held. Each leg is born SUBMITTED and
        # takes its first edge of the table at once (`_ACCEPTED`, `_HELD_BACK`); the reports are
        # what `status_update()` makes of a new order.
        number = self.next_order_id
        self.next_order_id = number + 3
        entry, take_profit, stop_loss = new_bracket(
            entry_request, take_profit_request, stop_loss_request, number, _ACCEPTED, _HELD_BACK
        )
        still_open = self.open
        orders[entry_ref] = still_open[entry_ref] = entry
        orders[take_profit_ref] = still_open[take_profit_ref] = take_profit
        orders[stop_loss_ref] = still_open[stop_loss_ref] = stop_loss
        # The three reports, `make_status_update(ref, status, ZERO, quantity, ZERO, "", None)` written
        # out (see `WritableOrderStatusUpdate`): nothing is filled yet, so each leg's remaining
        # quantity is its quantity.
        entry_update: Any = _Update()
        entry_update.order_ref = entry_ref
        entry_update.status = _ACCEPTED
        entry_update.filled = entry_update.avg_fill_price = ZERO
        entry_update.remaining = entry.quantity
        entry_update.message = ""
        entry_update.code = None
        entry_update.__class__ = OrderStatusUpdate
        take_profit_update: Any = _Update()
        take_profit_update.order_ref = take_profit_ref
        take_profit_update.status = _HELD_BACK
        take_profit_update.filled = take_profit_update.avg_fill_price = ZERO
        take_profit_update.remaining = take_profit.quantity
        take_profit_update.message = ""
        take_profit_update.code = None
        take_profit_update.__class__ = OrderStatusUpdate
        stop_loss_update: Any = _Update()
        stop_loss_update.order_ref = stop_loss_ref
        stop_loss_update.status = _HELD_BACK
        stop_loss_update.filled = stop_loss_update.avg_fill_price = ZERO
        stop_loss_update.remaining = stop_loss.quantity
        stop_loss_update.message = ""
        stop_loss_update.code = None
        stop_loss_update.__class__ = OrderStatusUpdate
        self.events += (entry_update, take_profit_update, stop_loss_update)
        symbol = entry.symbol
        book = self.working.get(symbol)  # `_work(entry)`, inlined
        if book is None:
            book = self.working[symbol] = {}
        book[entry_ref] = entry
        # `run_arrivals()` for the one order arriving (nothing else is waiting: every request and
        # price move matches its arrivals before it returns): the entry meets the current price.
        price = self.prices.get(symbol)
        if price is not None:
            matched = fill_price(entry, price, None)
            if matched is not None:
                self._fill(entry, matched)
        if entry_request.tif is _IOC and entry.status not in TERMINAL:
            self.finish(entry, _CANCEL, "cancelled: IOC order, the remainder did not fill")
        if self._arrivals:  # exits its fill activated
            self.run_arrivals()

    def _place_bracket_with_rejections(
        self, entry: SimOrder, take_profit: SimOrder, stop_loss: SimOrder,
        rejections: Mapping[OrderRef, Rejection],
    ) -> None:
        entry_rejection = rejections.get(entry.ref)
        if entry_rejection is not None:
            self.reject(entry, entry_rejection)
            for leg in (take_profit, stop_loss):
                self.finish(leg, _CANCEL, f"cancelled: its entry {entry.ref} was rejected")
            return
        self._accept(entry)
        for leg in (take_profit, stop_loss):
            leg_rejection = rejections.get(leg.ref)
            if leg_rejection is not None:
                self.reject(leg, leg_rejection)
            else:
                self._hold(leg)
        self.run_arrivals()

    def cancel(self, ref: OrderRef) -> None:
        """Cancel an order that is still open; a bracket entry without fills takes its exits along."""
        order = self.orders.get(ref)
        if order is None:
            raise BrokerError(
                f"cannot cancel {ref}: no order with that order_ref is at the broker; check the ref "
                f"against open_orders()", code=ORDER_NOT_FOUND, order_ref=ref,
            )
        if order.status.is_terminal:
            raise BrokerError(
                f"cannot cancel {ref}: it is already {order.status.value}; nothing to do",
                code=NOT_CANCELLABLE, order_ref=ref,
            )
        self.finish(order, _CANCEL, "cancelled on request")
        bracket = order.bracket
        if bracket is not None and bracket.entry is order:
            on_entry_ended(self, bracket, "cancelled")

    def expire_day_orders(self) -> None:
        """End of the trading day: every open DAY order expires."""
        for order in list(self.open.values()):
            if order.request.tif is TimeInForce.DAY and order.ref in self.open:
                self.finish(order, OrderTrigger.EXPIRE, "expired at the end of the day (DAY order)")
                bracket = order.bracket
                if bracket is not None and bracket.entry is order:
                    on_entry_ended(self, bracket, "expired")

    # -- the market ------------------------------------------------------------------------------

    def on_price(self, symbol: str, price: Decimal) -> None:
        """The market moved: one matching step for every working order of `symbol`."""
        prices = self.prices
        previous = prices.get(symbol)
        prices[symbol] = price
        book = self.working.get(symbol)
        if book:
            for order in [*book.values()]:  # a copy: a fill may take orders off the book
                if order.ref in book:  # an earlier fill in this step may have cancelled it
                    matched = fill_price(order, price, previous)
                    if matched is not None:
                        self._fill(order, matched)
        if self._arrivals:
            self.run_arrivals()

    def step(self) -> None:
        """One matching step at unchanged prices (partial fills continue, stops stay put)."""
        for symbol, price in list(self.prices.items()):
            self.on_price(symbol, price)

    def run_arrivals(self) -> None:
        """Match orders that just started working against the current price, once each."""
        arrivals = self._arrivals
        prices = self.prices
        done = 0
        try:
            for order in arrivals:  # the list grows while it runs: a fill may activate exits
                done += 1
                status = order.status
                if status is not _WORKING and status is not _PARTIAL:
                    continue
                price = prices.get(order.symbol)
                if price is not None:
                    matched = fill_price(order, price, None)
                    if matched is not None:
                        self._fill(order, matched)
                if order.request.tif is _IOC and order.status not in TERMINAL:
                    self.finish(order, _CANCEL, "cancelled: IOC order, the remainder did not fill")
        finally:
            del arrivals[:done]  # each arrival leaves the list once it has met the price

    # -- lifecycle primitives (used by brackets.py too) ------------------------------------------

    def finish(self, order: SimOrder, trigger: OrderTrigger, message: str, code: int | None = None) -> None:
        """Move an order to a final status, take it off the book and report it."""
        status = EDGES_BY_TRIGGER[trigger].get(order.status)  # `order.move(trigger)`, inlined
        if status is None:
            raise order.refused(trigger)
        order.status = status
        order.message = message
        order.code = code
        ref = order.ref
        del self.open[ref]
        self.completed[ref] = order
        book = self.working.get(order.symbol)
        if book is not None and ref in book:
            del book[ref]
        # `order.status_update()`, written out (see `WritableOrderStatusUpdate`): every bracket ends here.
        filled = order.filled
        update: Any = _Update()
        update.order_ref = ref
        update.status = status
        update.filled = filled
        update.remaining = order.quantity - filled if filled else order.quantity
        update.avg_fill_price = order.avg_price
        update.message = message
        update.code = code
        update.__class__ = OrderStatusUpdate
        self.events.append(update)

    def reject(self, order: SimOrder, rejection: Rejection) -> None:
        code, reason = rejection
        self.finish(order, OrderTrigger.REJECT, reason, code)

    def activate(self, order: SimOrder, quantity: Decimal) -> None:
        """Resize an exit to `quantity` and make it work (or keep working), and report it."""
        order.quantity = quantity
        was = order.status
        status = _ON_ACTIVATE.get(was)
        if status is None:
            raise order.refused(_ACTIVATE)
        order.status = status
        if was is _HELD:
            # `_work(order)`, inlined: both exits of every bracket pass here.
            book = self.working.get(order.symbol)
            if book is None:
                book = self.working[order.symbol] = {}
            book[order.ref] = order
            self._arrivals.append(order)
        # `order.status_update()`, written out (see `WritableOrderStatusUpdate`).
        filled = order.filled
        update: Any = _Update()
        update.order_ref = order.ref
        update.status = status
        update.filled = filled
        update.remaining = quantity - filled if filled else quantity
        update.avg_fill_price = order.avg_price
        update.message = order.message
        update.code = order.code
        update.__class__ = OrderStatusUpdate
        self.events.append(update)

    def resize(self, order: SimOrder, quantity: Decimal) -> None:
        """Change the quantity of an open order and report it."""
        order.quantity = quantity
        self.events.append(order.status_update())

    def _record(self, request: OrderRequest, status: OrderStatus) -> SimOrder:
        number = self.next_order_id
        self.next_order_id = number + 1
        order = SimOrder(request, str(number), status)
        self.orders[order.ref] = self.open[order.ref] = order
        return order

    def _accept(self, order: SimOrder) -> None:
        order.move(_ACCEPT)
        self.events.append(order.status_update())
        self._work(order)

    def _hold(self, order: SimOrder) -> None:
        order.move(_HOLD)
        self.events.append(order.status_update())

    def _work(self, order: SimOrder) -> None:
        book = self.working.get(order.symbol)
        if book is None:
            book = self.working[order.symbol] = {}
        book[order.ref] = order
        self._arrivals.append(order)

    def _fill(self, order: SimOrder, price: Decimal) -> None:
        # Every fill of every order passes here. A Decimal is false exactly when it is 0, and
        # nothing is added to or taken from a 0 that it would not change (each such sum or
        # difference would be a new Decimal of the same value).
        before = order.filled
        quantity = order.quantity - before if before else order.quantity
        cap = self._cap
        if cap is not None and quantity > cap:
            quantity = cap
        ledger = self._ledger
        amount = price * quantity  # worked out once, for the order's notional and for the ledger
        if before:
            after = before + quantity
            commission = ledger.commission(before, after)
            order.notional += amount
            order.avg_price = order.notional / after
            order.commission += commission
        else:  # the first fill of the order
            after = quantity
            # `ledger.commission(ZERO, quantity)`, written out: the per-share commission with the
            # per-order minimum, which the first execution of an order pays.
            commission = ledger.per_share * quantity
            minimum = ledger.min_commission
            if commission < minimum:
                commission = minimum
            order.notional = amount
            order.avg_price = price
            order.commission = commission
        order.filled = after
        exec_number = self.next_exec_id
        self.next_exec_id = exec_number + 1
        ref = order.ref
        # `make_fill(...)`, written out (see `WritableFill`). The exec id is an f-string: `ExecId`
        # is a name for the type checker, and calling it would cost a call per execution.
        fill: Any = _Execution()
        fill.exec_id = f"SIM.{exec_number}"
        fill.order_ref = ref
        fill.symbol = order.symbol
        fill.side = order.request.side
        fill.quantity = quantity
        fill.price = price
        fill.time = self._clock.now()
        fill.commission = commission
        fill.__class__ = Fill
        self.fills.append(fill)
        ledger.apply_fill(fill, amount)
        events = self.events
        events.append(fill)
        if after is order.quantity or after == order.quantity:  # often the very Decimal: no comparison
            # `finish(order, _FILL, "")`, written out: every fill of every order passes here.
            status = _ON_FILL.get(order.status)
            if status is None:
                raise order.refused(_FILL)
            order.status = status
            order.message = ""
            order.code = None
            del self.open[ref]
            self.completed[ref] = order
            book = self.working.get(order.symbol)
            if book is not None and ref in book:
                del book[ref]
            update: Any = _Update()  # its report, as in `finish`
            update.order_ref = ref
            update.status = status
            update.filled = after
            update.remaining = ZERO
            update.avg_fill_price = order.avg_price
            update.message = ""
            update.code = None
            update.__class__ = OrderStatusUpdate
            events.append(update)
        else:
            status = _ON_PARTIAL_FILL.get(order.status)
            if status is None:
                raise order.refused(_PARTIAL_FILL)
            order.status = status
            events.append(order.status_update())
        bracket = order.bracket
        if bracket is not None:
            if bracket.entry is order:
                on_entry_fill(self, bracket)
            else:
                on_exit_fill(self, bracket, order, quantity)
