"""`FakeBroker`: the smallest honest implementation of the Broker port, for unit tests.

Orders fill whole, at the price the test set (`set_price`), the moment they can: a market order
at once, a limit when the price reaches it, a stop when the price crosses it. Brackets follow the
bracket rules in their simplest form: exits HELD until the entry fills, then working for the
entry's quantity; one exit filling cancels the other; cancelling an unfilled entry cancels its
exits. No partial fills, no commissions, no faults: use the simulated broker for those.
Events reach subscribers synchronously, in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from core.broker_events import (
    AccountSnapshot,
    BrokerEvent,
    BrokerOrder,
    BrokerPosition,
    ConnectionEvent,
    ConnectionState,
    Fill,
    OrderStatusUpdate,
)
from core.clock import ManualClock
from core.order_status import OrderStatus
from core.orders import BracketRequest, OrderRequest
from core.ports import BrokerError, BrokerListener, Clock, Unsubscribe
from core.values import ZERO, ExecId, OrderRef, OrderType, Side

S = OrderStatus


@dataclass(slots=True)
class _Order:
    request: OrderRequest
    status: OrderStatus
    filled: Decimal = ZERO
    price: Decimal = ZERO
    triggered: bool = False
    children: list[OrderRef] = field(default_factory=list)


class FakeBroker:
    """An in-memory broker account; see the module docstring for what it does and does not do."""

    def __init__(
        self, clock: Clock | None = None, cash: Decimal = Decimal(100_000), account: str = "FAKE1"
    ) -> None:
        self._clock = clock or ManualClock()
        self._account = account
        self._connected = False
        self._listeners: list[BrokerListener] = []
        self.orders: dict[OrderRef, _Order] = {}
        self.fills: list[Fill] = []
        self.prices: dict[str, Decimal] = {}
        self.cash = cash
        self.realized = ZERO
        self.holdings: dict[str, tuple[Decimal, Decimal]] = {}  # symbol -> (signed quantity, avg cost)

    # -- the test's controls -------------------------------------------------------------------

    def set_price(self, symbol: str, price: Decimal) -> None:
        """Move the market; every order of `symbol` that can fill now fills now."""
        self.prices[symbol] = price
        for ref, order in list(self.orders.items()):
            if order.request.symbol == symbol and order.status is S.WORKING:
                self._try_fill(ref)

    # -- the port --------------------------------------------------------------------------------

    @property
    def account(self) -> str:
        return self._account

    async def connect(self) -> None:
        self._connected = True
        self._emit(ConnectionEvent(ConnectionState.CONNECTED))

    async def disconnect(self) -> None:
        if self._connected:
            self._emit(ConnectionEvent(ConnectionState.DISCONNECTED))
        self._connected = False

    def is_connected(self) -> bool:
        return self._connected

    def subscribe(self, listener: BrokerListener) -> Unsubscribe:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    async def place_bracket(self, bracket: BracketRequest) -> None:
        self._check([leg.order_ref for leg in bracket.legs])
        entry, tp, sl = bracket.legs
        self.orders[entry.order_ref] = _Order(entry, S.WORKING, children=[tp.order_ref, sl.order_ref])
        self._report(entry.order_ref)
        for leg in (tp, sl):
            self.orders[leg.order_ref] = _Order(leg, S.HELD)
            self._report(leg.order_ref)
        self._try_fill(entry.order_ref)

    async def place_order(self, order: OrderRequest) -> None:
        self._check([order.order_ref])
        self.orders[order.order_ref] = _Order(order, S.WORKING)
        self._report(order.order_ref)
        self._try_fill(order.order_ref)

    async def cancel_order(self, order_ref: OrderRef) -> None:
        self._require_connection()
        order = self.orders.get(order_ref)
        if order is None or order.status.is_terminal:
            raise BrokerError(f"cannot cancel {order_ref}: no open order with that ref", order_ref=order_ref)
        self._set(order_ref, S.CANCELLED)
        if order.filled == ZERO:
            for child in order.children:
                if not self.orders[child].status.is_terminal:
                    self._set(child, S.CANCELLED)

    async def open_orders(self) -> Sequence[BrokerOrder]:
        self._require_connection()
        return [self._broker_order(o) for o in self.orders.values() if not o.status.is_terminal]

    async def completed_orders(self) -> Sequence[BrokerOrder]:
        self._require_connection()
        return [self._broker_order(o) for o in self.orders.values() if o.status.is_terminal]

    async def executions(self) -> Sequence[Fill]:
        self._require_connection()
        return list(self.fills)

    async def positions(self) -> Sequence[BrokerPosition]:
        self._require_connection()
        return [BrokerPosition(s, q, avg) for s, (q, avg) in self.holdings.items() if q != ZERO]

    async def account_summary(self) -> AccountSnapshot:
        self._require_connection()
        unrealized = sum(
            ((self.prices.get(s, avg) - avg) * q for s, (q, avg) in self.holdings.items()), ZERO
        )
        value = sum((q * self.prices.get(s, avg) for s, (q, avg) in self.holdings.items()), ZERO)
        return AccountSnapshot(self._account, self.cash + value, self.cash, self.realized, unrealized)

    # -- internals -------------------------------------------------------------------------------

    def _require_connection(self) -> None:
        if not self._connected:
            raise BrokerError("the fake broker is not connected; call connect() first")

    def _check(self, refs: list[OrderRef]) -> None:
        self._require_connection()
        for ref in refs:
            if ref in self.orders or refs.count(ref) > 1:
                raise BrokerError(f"duplicate order id: {ref}", code=103, order_ref=ref)

    def _emit(self, event: BrokerEvent) -> None:
        for listener in list(self._listeners):
            listener(event)

    def _report(self, ref: OrderRef) -> None:
        order = self.orders[ref]
        remaining = order.request.quantity - order.filled
        self._emit(OrderStatusUpdate(ref, order.status, order.filled, remaining, order.price))

    def _set(self, ref: OrderRef, status: OrderStatus) -> None:
        self.orders[ref].status = status
        self._report(ref)

    def _broker_order(self, order: _Order) -> BrokerOrder:
        return BrokerOrder(order.request, order.status, order.filled, order.price)

    def _matches(self, order: _Order, price: Decimal) -> bool:
        request, buy = order.request, order.request.side is Side.BUY
        if request.order_type is OrderType.MARKET:
            return True
        if request.order_type.needs_stop_price and not order.triggered:
            assert request.stop_price is not None
            order.triggered = price >= request.stop_price if buy else price <= request.stop_price
            if not order.triggered:
                return False
        if request.order_type.needs_limit_price:
            assert request.limit_price is not None
            return price <= request.limit_price if buy else price >= request.limit_price
        return True

    def _try_fill(self, ref: OrderRef) -> None:
        order = self.orders[ref]
        price = self.prices.get(order.request.symbol)
        if order.status is not S.WORKING or price is None or not self._matches(order, price):
            return
        request = order.request
        order.filled, order.price, order.status = request.quantity, price, S.FILLED
        fill = Fill(
            ExecId(f"fake-{len(self.fills) + 1}"), ref, request.symbol, request.side, request.quantity,
            price, self._now(),
        )
        self.fills.append(fill)
        self._book(fill)
        self._emit(fill)
        self._report(ref)
        if order.children:  # an entry: its exits now work for what it filled
            for child in order.children:
                if self.orders[child].status is S.HELD:
                    self._set(child, S.WORKING)
            for child in order.children:
                self._try_fill(child)
        else:
            parent = self.orders.get(request.parent_ref) if request.parent_ref else None
            siblings = parent.children if parent else []
            for sibling in siblings:
                if sibling != ref and not self.orders[sibling].status.is_terminal:
                    self._set(sibling, S.CANCELLED)  # OCA: one exit filled, the other goes

    def _book(self, fill: Fill) -> None:
        signed = fill.quantity if fill.side is Side.BUY else -fill.quantity
        self.cash -= signed * fill.price
        held, avg = self.holdings.get(fill.symbol, (ZERO, ZERO))
        if held == ZERO or (held > ZERO) == (signed > ZERO):
            total = held + signed
            self.holdings[fill.symbol] = (total, (avg * abs(held) + fill.price * fill.quantity) / abs(total))
            return
        closed = min(abs(held), fill.quantity)
        self.realized += (fill.price - avg) * closed * (1 if held > ZERO else -1)
        remainder = held + signed
        if remainder == ZERO:
            self.holdings[fill.symbol] = (ZERO, ZERO)
        elif (remainder > ZERO) == (held > ZERO):
            self.holdings[fill.symbol] = (remainder, avg)
        else:
            self.holdings[fill.symbol] = (remainder, fill.price)

    def _now(self) -> datetime:
        return self._clock.now()
