"""Actions: what a rule does when it fires. An action returns intentions; it never acts.

`Action` is the protocol (one method, `intentions(event, context)`); `CreateOrderAction` is the
plain order of the seed example. The linked actions live in `core.rules.linked_actions`.
Constructors take the numbers users write (`quantity=10`, `stop_loss_pct=0.03`) and turn them
into Decimal once, here, through `core.values.to_decimal`; a bad value fails when the rule is
built, not when it fires.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol, runtime_checkable

from core.rules.intentions import Intention, PlaceOrder, check_price, check_quantity, check_symbol
from core.values import ZERO, OrderType, Side, to_decimal

__all__ = [
    "Action",
    "ActionFailed",
    "CreateOrderAction",
    "Number",
    "RuleContext",
    "assign_fields",
    "decimal_or_none",
    "parse_side",
    "reference_price",
]

Number = Decimal | int | float | str
"""What constructors accept for prices and quantities; stored as Decimal."""

RuleContext = Mapping[str, object]
"""The engine's context as actions see it (read-only): e.g. "account", "prices"."""


class ActionFailed(Exception):
    """An action cannot produce its intentions for this event; the message says why and what to do.
    The engine logs it and records it in `RuleEngine.failures`; the rule does not count as fired."""


@runtime_checkable
class Action(Protocol):
    """What a rule does: turn the triggering event (and the read-only context) into intentions."""

    def intentions(self, event: object, context: RuleContext) -> Sequence[Intention]:
        """The intentions for this firing, or raise ActionFailed with the reason."""
        ...


def parse_side(side: Side | str, where: str) -> Side:
    if isinstance(side, Side):
        return side
    try:
        return Side.parse(side)
    except (ValueError, AttributeError):
        raise ValueError(f"{where}: side must be 'BUY' or 'SELL', got {side!r}") from None


def assign_fields(action: object, **values: object) -> None:
    """Set the fields of a frozen action from its own converting `__init__`."""
    for name, value in values.items():
        object.__setattr__(action, name, value)


def decimal_or_none(value: Number | None, what: str) -> Decimal | None:
    return None if value is None else to_decimal(value, what)


def reference_price(symbol: str, event: object, context: RuleContext) -> Decimal:
    """The price to compute percentages from: the triggering event's `price` when the event is
    about `symbol` (PriceEvent, PredictionSignalEvent with a price, a fill), otherwise
    `context["prices"][symbol]`. Raises ActionFailed when neither is known."""
    if getattr(event, "symbol", None) == symbol:
        price = getattr(event, "price", None)
        if isinstance(price, Decimal) and price > ZERO:
            return price
    prices = context.get("prices")
    if isinstance(prices, Mapping) and prices.get(symbol) is not None:
        where = f"context['prices'][{symbol!r}]"
        try:
            price = to_decimal(prices[symbol], where)
        except ValueError as exc:
            raise ActionFailed(f"{exc}; fix the value given to update_context") from None
        if price > ZERO:
            return price
        raise ActionFailed(f"{where} is {price}; a reference price must be above 0")
    raise ActionFailed(
        f"no price known for {symbol}: the triggering {type(event).__name__} carries none for it "
        f"and context['prices'] has no {symbol!r}; publish a PriceEvent for it or call "
        f"engine.update_context({{'prices': {{{symbol!r}: ...}}}}) before the rule fires"
    )


@dataclass(frozen=True, slots=True, init=False)
class CreateOrderAction:
    """Place one plain order (not linked, no automatic stop). Returns a PlaceOrder."""

    symbol: str
    quantity: Decimal
    order_type: OrderType
    side: Side
    limit_price: Decimal | None
    stop_price: Decimal | None

    def __init__(
        self,
        symbol: str,
        quantity: Number,
        order_type: OrderType = OrderType.MARKET,
        side: Side | str = "BUY",
        limit_price: Number | None = None,
        stop_price: Number | None = None,
    ) -> None:
        where = f"CreateOrderAction({symbol!r})"
        check_symbol(symbol, where)
        assign_fields(
            self,
            symbol=symbol,
            quantity=to_decimal(quantity, f"{where} quantity"),
            order_type=OrderType(order_type),
            side=parse_side(side, where),
            limit_price=decimal_or_none(limit_price, f"{where} limit_price"),
            stop_price=decimal_or_none(stop_price, f"{where} stop_price"),
        )
        check_quantity(self.quantity, where)
        check_price(self.limit_price, "limit_price", where, required=self.order_type.needs_limit_price)
        check_price(self.stop_price, "stop_price", where, required=self.order_type.needs_stop_price)

    def intentions(self, event: object, context: RuleContext) -> tuple[PlaceOrder]:
        return (
            PlaceOrder(
                self.symbol, self.side, self.quantity, self.order_type, self.limit_price, self.stop_price
            ),
        )
