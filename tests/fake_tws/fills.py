"""Execution: matching live orders against the price, fills, OCA effects, releasing children.

* Stops are held (PreSubmitted) until the price touches them, then fill like MKT (STP) or LMT
  (STP LMT); marketable orders fill at the current price.
* With a partial-fill fault, each matching pass fills at most that many shares per order.
* A bracket's children and the members of an OCA group affect each other: ocaType 1 (or 0 with a
  group) cancels the others on any fill; ocaType 2/3 and bracket children reduce the others by the
  filled quantity, which cancels them once one is completely filled.
* Children are released when their parent is completely filled (not on a partial parent fill).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from tests.fake_tws.events import EngineEvent, Filled, OrderChanged, PortfolioChanged
from tests.fake_tws.executions import ExecIds, new_execution
from tests.fake_tws.faults import Faults
from tests.fake_tws.instruments import InstrumentBook
from tests.fake_tws.ledger import Ledger
from tests.fake_tws.matching import fill_price, is_stop, stop_touched
from tests.fake_tws.model import ExecutionRecord, Instrument, OrderRecord, Status
from tests.fake_tws.order_book import OrderBook

_AVERAGE_PLACES = Decimal("0.00000001")

Canceller = Callable[[OrderRecord, str], None]
"""Cancels an order with a reason (the engine's cancel, which also handles children)."""


class FillDesk:
    """Turns prices into executions for the orders in the book."""

    def __init__(
        self,
        book: OrderBook,
        instruments: InstrumentBook,
        ledger: Ledger,
        faults: Faults,
        clock: Callable[[], datetime],
        emit: Callable[[EngineEvent], None],
        cancel: Canceller,
    ) -> None:
        self.executions: list[ExecutionRecord] = []
        self._book = book
        self._instruments = instruments
        self._ledger = ledger
        self._faults = faults
        self._clock = clock
        self._emit = emit
        self._cancel = cancel
        self._exec_ids = ExecIds(int(clock().timestamp()))

    def match_instrument(self, instrument: Instrument) -> None:
        """Match every live order on `instrument`, oldest first (time priority)."""
        for order in self._book:
            if order.instrument == instrument:
                self.match(self._book.current(order))

    def match(self, order: OrderRecord) -> None:
        """Trigger and fill `order` if the current price allows it."""
        if order.status not in (Status.SUBMITTED, Status.PRE_SUBMITTED):
            return
        parent = self._book.parent(order)
        if parent is not None and parent.status != Status.FILLED:
            return
        price = self._instruments.price(order.symbol)
        if price is None:
            return
        if is_stop(order) and not order.triggered:
            if not stop_touched(order, price):
                return
            order = replace(order, triggered=True, status=Status.SUBMITTED)
            self._book.put(order)
            self._emit(OrderChanged(order))
        execution_price = fill_price(order, price)
        if execution_price is not None:
            limit = self._faults.partial_fill
            quantity = order.remaining if limit is None else min(limit, order.remaining)
            self._fill(order, quantity, execution_price)

    def _fill(self, order: OrderRecord, quantity: Decimal, price: Decimal) -> None:
        effect = self._ledger.apply_fill(order.account, order.instrument, order.is_buy, quantity, price)
        filled = order.filled + quantity
        average = (order.avg_fill_price * order.filled + price * quantity) / filled
        complete = filled == order.quantity
        order = replace(
            order,
            filled=filled,
            avg_fill_price=average.quantize(_AVERAGE_PLACES).normalize(),
            last_fill_price=price,
            status=Status.FILLED if complete else Status.SUBMITTED,
            completed_time=self._clock().strftime("%Y%m%d %H:%M:%S UTC") if complete else "",
        )
        self._book.put(order)
        execution = new_execution(self._exec_ids.next(), self._clock(), order, quantity, price, effect)
        self.executions.append(execution)
        self._emit(Filled(order, execution))
        self._emit(PortfolioChanged(order.account, order.instrument))
        self._one_cancels_all(order, quantity)
        if complete:
            for child in self._book.children(order):
                if child.status == Status.PRE_SUBMITTED:
                    self._release_child(child)

    def _release_child(self, child: OrderRecord) -> None:
        if not is_stop(child):  # a stop stays held until its price is touched
            child = replace(child, status=Status.SUBMITTED)
            self._book.put(child)
            self._emit(OrderChanged(child))
        self.match(child)

    def _one_cancels_all(self, order: OrderRecord, quantity: Decimal) -> None:
        in_bracket_only = order.parent_id != 0 and not order.oca_group
        reduces = order.oca_type in (2, 3) or in_bracket_only
        for sibling in self._book.oca_siblings(order):
            sibling = self._book.current(sibling)
            if sibling.status.is_done:
                continue
            reduced = sibling.quantity - quantity
            if not reduces or reduced <= sibling.filled:
                self._cancel(sibling, "OCA group fill")
            else:
                smaller = replace(sibling, quantity=reduced)
                self._book.put(smaller)
                self._emit(OrderChanged(smaller))
