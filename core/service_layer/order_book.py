"""The order manager's books: every order it placed, its role, its bracket, and the positions its
fills make. Pure bookkeeping (no broker, no bus): `take_status` and `take_fill` apply a broker
report and say what changed, the manager publishes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from core.bracket import Bracket, BracketIntention
from core.broker_events import Fill, OrderStatusUpdate
from core.order_status import OrderStatus, OrderTrigger
from core.orders import Order
from core.position import Position
from core.service_layer.order_records import OrderRole, apply_fill, apply_status
from core.values import ZERO, OrderRef

__all__ = ["OrderBook", "Recorded"]


@dataclass(frozen=True, slots=True)
class Recorded:
    """What one report changed: the orders it may have moved (with their statuses before), the
    execution and the order it came for, and what the bracket asks for next."""

    legs: tuple[Order, ...]
    before: tuple[OrderStatus, ...]
    order_ref: OrderRef
    fill: Fill | None = None
    code: int | None = None
    intentions: tuple[BracketIntention, ...] = ()


class OrderBook:
    """Orders by ref, with their roles, brackets, symbols, and the fold of their fills."""

    def __init__(self) -> None:
        self._orders: dict[OrderRef, Order] = {}
        self._roles: dict[OrderRef, OrderRole] = {}
        self._brackets: dict[OrderRef, Bracket] = {}  # every leg's ref -> its bracket
        self._by_symbol: dict[str, list[OrderRef]] = {}
        self._positions: dict[str, Position] = {}
        self._prices: dict[str, Decimal] = {}

    # -- recording ---------------------------------------------------------------------------

    def track(self, order: Order, role: OrderRole, bracket: Bracket | None = None) -> None:
        """Start following `order` (before it is sent: the broker may answer at once)."""
        ref = order.order_ref
        if ref in self._orders:
            raise ValueError(f"order ref {ref!r} is already used by this order manager; use a new ref")
        self._orders[ref] = order
        self._roles[ref] = role
        if bracket is not None:
            self._brackets[ref] = bracket
        self._by_symbol.setdefault(order.request.symbol, []).append(ref)

    def take_status(self, update: OrderStatusUpdate) -> Recorded | None:
        """Apply a status report; None if the order is not in the books."""
        order = self._orders.get(update.order_ref)
        if order is None:
            return None
        bracket = self._brackets.get(update.order_ref)
        legs = bracket.legs if bracket is not None else (order,)
        before = tuple(leg.status for leg in legs)
        intentions: tuple[BracketIntention, ...] = ()
        if bracket is not None:
            intentions = bracket.apply_status(update)
        else:
            apply_status(order, update)
        return Recorded(legs, before, update.order_ref, None, update.code, intentions)

    def take_fill(self, fill: Fill) -> Recorded | None:
        """Apply an execution; None if the order is not in the books or the execution is known."""
        order = self._orders.get(fill.order_ref)
        if order is None or fill.exec_id in order.exec_ids:
            return None
        bracket = self._brackets.get(fill.order_ref)
        legs = bracket.legs if bracket is not None else (order,)
        before = tuple(leg.status for leg in legs)
        intentions: tuple[BracketIntention, ...] = ()
        if bracket is not None:
            intentions = bracket.apply_fill(fill)
        else:
            apply_fill(order, fill)
        self._positions.setdefault(fill.symbol, Position(fill.symbol)).apply(fill)
        self._prices[fill.symbol] = fill.price
        return Recorded(legs, before, fill.order_ref, fill, None, intentions)

    def reject(self, order: Order, message: str, code: int | None) -> Recorded:
        """The broker refused `order` when it was sent."""
        before = (order.status,)
        if not order.status.is_terminal:
            order.apply(OrderTrigger.REJECT, message)
        return Recorded((order,), before, order.order_ref, None, code)

    def set_price(self, symbol: str, price: Decimal) -> None:
        self._prices[symbol] = price

    # -- queries -----------------------------------------------------------------------------

    def get_order(self, order_ref: OrderRef) -> Order | None:
        return self._orders.get(order_ref)

    def role_of(self, order_ref: OrderRef) -> OrderRole | None:
        return self._roles.get(order_ref)

    def bracket_of(self, order_ref: OrderRef) -> Bracket | None:
        """The bracket `order_ref` is a leg of, if any."""
        return self._brackets.get(order_ref)

    def orders(self, symbol: str | None = None) -> list[Order]:
        """Every order placed (for `symbol`, or all), oldest first."""
        if symbol is None:
            return list(self._orders.values())
        return [self._orders[ref] for ref in self._by_symbol.get(symbol, ())]

    def working_orders(self, symbol: str | None = None) -> list[Order]:
        """Orders not finished yet (pending, submitted, held, working, partly filled)."""
        return [order for order in self.orders(symbol) if not order.status.is_terminal]

    def brackets(self, symbol: str | None = None) -> list[Bracket]:
        """The brackets placed (for `symbol`, or all), oldest first."""
        seen: dict[OrderRef, Bracket] = {}
        for order in self.orders(symbol):
            bracket = self._brackets.get(order.order_ref)
            if bracket is not None:
                seen.setdefault(bracket.entry.order_ref, bracket)
        return list(seen.values())

    def position(self, symbol: str) -> Position:
        """The fold of the fills in `symbol` (a copy)."""
        held = self._positions.get(symbol)
        if held is None:
            return Position(symbol)
        return Position(symbol, held.quantity, held.cost_basis, held.realized_pnl, held.commissions)

    def net_position(self, symbol: str) -> Decimal:
        """Signed shares filled in `symbol` (negative is short)."""
        held = self._positions.get(symbol)
        return held.quantity if held is not None else ZERO

    def positions(self) -> Mapping[str, Decimal]:
        """Signed position per symbol (flat symbols included)."""
        return {symbol: position.quantity for symbol, position in self._positions.items()}

    def last_price(self, symbol: str) -> Decimal | None:
        """The latest price seen for `symbol` (PriceEvents on the bus, or fills), if any."""
        return self._prices.get(symbol)
