"""The broker's order lifecycle: place, stage (transmit=0), modify, cancel; prices go to fills.py.

Behaviour follows tws_protocol.md §9:
* transmit=0 orders are staged silently; a transmit=1 order releases its whole family (parent first,
  then children by order id). Children stay PreSubmitted until their parent is Filled, and stops
  until their price is touched (see fills.py for matching, fills and OCA).
* A modification is a placeOrder with an order id the client already used.
* Cancelling a parent cancels its unfilled children; cancelling a staged order is silent.
Every change is reported as an `EngineEvent`; the engine never touches a socket.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from tests.fake_tws.events import (
    EngineEvent,
    OrderChanged,
    OrderError,
    PortfolioChanged,
    PriceChanged,
    WhatIfAnswered,
)
from tests.fake_tws.faults import Faults, Rejection
from tests.fake_tws.fills import FillDesk
from tests.fake_tws.instruments import InstrumentBook, PriceLike
from tests.fake_tws.ledger import Ledger
from tests.fake_tws.matching import is_stop
from tests.fake_tws.messages.orders import WhatIfEstimate
from tests.fake_tws.model import ExecutionRecord, Instrument, OrderRecord, OrderRequest, Status
from tests.fake_tws.order_book import OrderBook
from tests.fake_tws.validation import check_order, error_text

ORDER_CANCELLED = 202


class Engine:
    """Orders, executions and account state of the fake broker (shared by all connections)."""

    def __init__(
        self,
        accounts: list[str],
        instruments: InstrumentBook,
        ledger: Ledger,
        faults: Faults,
        clock: Callable[[], datetime],
        emit: Callable[[EngineEvent], None],
    ) -> None:
        self.accounts = accounts
        self.instruments = instruments
        self.ledger = ledger
        self.book = OrderBook()
        self._faults = faults
        self._clock = clock
        self._emit = emit
        self._fills = FillDesk(self.book, instruments, ledger, faults, clock, emit, self._cancel)

    @property
    def executions(self) -> list[ExecutionRecord]:
        """Every execution so far, oldest first."""
        return self._fills.executions

    def next_order_id(self) -> int:
        """NEXT_VALID_ID: above every order id any client has used."""
        return self.book.highest_order_id() + 1

    # -- placing -----------------------------------------------------------------------------

    def place(self, client_id: int, request: OrderRequest) -> None:
        """Handle placeOrder: a what-if, a modification, or a new (staged or live) order."""
        instrument = self.instruments.resolve(request.contract)
        if instrument is None:
            self._emit(OrderError(client_id, request.order_id, 200, error_text(200, "")))
            return
        existing = self.book.get(client_id, request.order_id)
        order = existing or self._new_record(client_id, request, instrument)
        rejection = check_order(request, instrument, self.accounts) or self._check_parent(client_id, request)
        if rejection is None and existing is None and not request.what_if:
            rejection = self._faults.take_rejection()
        if rejection is not None:
            self._reject(order, rejection, stored=existing is None and not request.what_if)
        elif request.what_if:
            self._answer_what_if(order)
        elif existing is not None:
            self._modify(existing, request)
        else:
            self.book.put(order)
            if request.transmit:
                self._transmit_family(order)

    def _check_parent(self, client_id: int, request: OrderRequest) -> Rejection | None:
        if request.parent_id and self.book.get(client_id, request.parent_id) is None:
            return Rejection(201, (
                f"parent order {request.parent_id} of client {client_id} not found; place the parent "
                "first, from the same client id"))  # fmt: skip
        return None

    def _new_record(self, client_id: int, request: OrderRequest, instrument: Instrument) -> OrderRecord:
        return OrderRecord(
            client_id=client_id,
            order_id=request.order_id,
            perm_id=self.book.new_perm_id(),
            instrument=instrument,
            exchange=request.contract.exchange or "SMART",
            account=request.account or self.accounts[0],
            action=request.action,
            quantity=request.quantity,
            order_type=request.order_type,
            limit_price=request.limit_price,
            aux_price=request.aux_price,
            tif=request.tif or "DAY",
            oca_group=request.oca_group,
            oca_type=request.oca_type,
            order_ref=request.order_ref,
            transmit=request.transmit,
            parent_id=request.parent_id,
            outside_rth=request.outside_rth,
            good_after_time=request.good_after_time,
            good_till_date=request.good_till_date,
            status=Status.PENDING_SUBMIT,
        )

    def reject_live(self, order_ref: str, code: int, reason: str) -> None:
        """Reject an order the fake already holds, as TWS does when a stop fails a margin check as
        it activates: the error, then Inactive for 201 (Cancelled otherwise)."""
        matches = [o for o in self.book if o.order_ref == order_ref]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} orders have orderRef {order_ref!r}; need exactly one")
        self._reject(self.book.current(matches[0]), Rejection(code, reason), stored=True)

    def _reject(self, order: OrderRecord, rejection: Rejection, stored: bool) -> None:
        text = error_text(rejection.code, rejection.reason)
        self._emit(OrderError(order.client_id, order.order_id, rejection.code, text))
        if not stored:
            return  # a refused modification leaves the working order as it was
        status = Status.INACTIVE if rejection.code == 201 else Status.CANCELLED
        rejected = replace(order, status=status, reject_code=rejection.code, completed_time=self._now())
        self.book.put(rejected)
        if rejection.code == 201:
            self._emit(OrderChanged(rejected))
        elif rejection.code == ORDER_CANCELLED:
            self._emit(OrderChanged(rejected, with_open_order=False))

    def _answer_what_if(self, order: OrderRecord) -> None:
        price = order.limit_price or self.instruments.price(order.symbol) or Decimal(0)
        notional = order.quantity * price
        marks = self.ledger.account_values(order.account, lambda i: self.instruments.price(i.symbol))
        values = {key: value for key, value, _ in marks}
        estimate = WhatIfEstimate(
            init_margin_change=notional / 4,
            maint_margin_change=notional / 4,
            equity_with_loan=Decimal(values["EquityWithLoanValue"]),
            commission=self.ledger.commissions.commission(order.quantity, price),
        )
        self._emit(WhatIfAnswered(order.client_id, replace(order, status=Status.PRE_SUBMITTED), estimate))

    def _transmit_family(self, order: OrderRecord) -> None:
        root = order.parent_id or order.order_id
        for member in self.book.family(order.client_id, root):
            if member.status == Status.PENDING_SUBMIT:
                self._activate(member)

    def _activate(self, order: OrderRecord) -> None:
        parent = self.book.parent(order)
        if parent is not None and parent.status in (Status.CANCELLED, Status.INACTIVE):
            self._cancel(order, "parent order was cancelled", report=True)
            return
        waiting = (parent is not None and parent.status != Status.FILLED) or is_stop(order)
        active = replace(order, status=Status.PRE_SUBMITTED if waiting else Status.SUBMITTED)
        self.book.put(active)
        self._emit(OrderChanged(active))
        self._fills.match(active)

    def _modify(self, order: OrderRecord, request: OrderRequest) -> None:
        if order.status.is_done:
            text = f"Cannot modify order {order.order_id}: it is already {order.status}."
            self._emit(OrderError(order.client_id, order.order_id, 104, text))
            return
        if request.quantity < order.filled:
            reason = f"new quantity {request.quantity} is below the filled {order.filled}"
            self._reject(order, Rejection(201, reason), stored=False)
            return
        modified = replace(
            order,
            quantity=request.quantity,
            order_type=request.order_type,
            limit_price=request.limit_price,
            aux_price=request.aux_price,
            tif=request.tif or order.tif,
            oca_group=request.oca_group,
            oca_type=request.oca_type,
            order_ref=request.order_ref,
            transmit=request.transmit,
            outside_rth=request.outside_rth,
            good_till_date=request.good_till_date,
        )
        self.book.put(modified)
        if modified.status == Status.PENDING_SUBMIT:
            if request.transmit:
                self._transmit_family(modified)
            return
        self._emit(OrderChanged(modified))
        self._fills.match(modified)

    # -- cancelling ----------------------------------------------------------------------------

    def cancel(self, client_id: int, order_id: int) -> None:
        """Handle cancelOrder from the client that placed the order."""
        order = self.book.get(client_id, order_id)
        prefix = f"OrderId {order_id} that needs to be cancelled"
        if order is None:
            self._emit(OrderError(client_id, order_id, 10147, f"{prefix} is not found."))
        elif order.status.is_done:
            text = f"{prefix} cannot be cancelled, state: {order.status}."
            self._emit(OrderError(client_id, order_id, 10148, text))
        else:
            self._cancel(order, "")

    def cancel_all(self) -> None:
        """Handle reqGlobalCancel: every live or staged order of every client."""
        for order in self.book:
            current = self.book.current(order)
            if not current.status.is_done:
                self._cancel(current, "global cancel")

    def _cancel(self, order: OrderRecord, reason: str, report: bool = False) -> None:
        # TWS never reported a staged order, so by default it reports no cancel of one either.
        report = report or order.status != Status.PENDING_SUBMIT
        cancelled = replace(order, status=Status.CANCELLED, completed_time=self._now())
        self.book.put(cancelled)
        if report:
            self._emit(OrderChanged(cancelled, with_open_order=False))
            text = error_text(ORDER_CANCELLED, reason)
            self._emit(OrderError(order.client_id, order.order_id, ORDER_CANCELLED, text))
        if order.status != Status.FILLED:
            for child in self.book.children(cancelled):
                if not child.status.is_done:
                    self._cancel(child, "parent order was cancelled")

    # -- prices --------------------------------------------------------------------------------

    def set_price(self, symbol: str, price: PriceLike) -> None:
        """A new last price: ticks, then matching of every live order on the symbol, then marks."""
        instrument = self.instruments.set_price(symbol, price)
        value = self.instruments.price(symbol)
        assert value is not None
        self._emit(PriceChanged(instrument, value))
        self._fills.match_instrument(instrument)
        for position in self.ledger.positions():
            if position.instrument == instrument:
                self._emit(PortfolioChanged(position.account, instrument))

    def _now(self) -> str:
        return self._clock().strftime("%Y%m%d %H:%M:%S UTC")
