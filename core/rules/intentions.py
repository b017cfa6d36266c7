"""Intentions: what a rule wants done, as immutable commands. Rules never act themselves.

The engine hands every intention to a `CommandHandler`, which is where effects happen: the risk
check, the linked-order state of the symbol (side consistency, stops following scale-ins) and the
order manager that talks to the broker. Keeping intentions as plain values means a rule can be
tested without a broker, and nothing reaches a broker without passing through that one door.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from core.values import ONE, ZERO, OrderType, Side, quantize_price

__all__ = [
    "INTENTION_TYPES",
    "CloseAll",
    "CommandHandler",
    "Intention",
    "PlaceBracket",
    "PlaceOrder",
    "RuleFiring",
    "ScaleIn",
    "check_fraction",
    "check_price",
    "check_quantity",
    "check_symbol",
]


def check_symbol(symbol: object, where: str) -> None:
    if not isinstance(symbol, str) or not symbol:
        raise ValueError(f"{where}: symbol must be a non-empty string, got {symbol!r}")


def check_quantity(quantity: Decimal, where: str) -> None:
    if quantity <= ZERO or quantity != quantity.to_integral_value():
        raise ValueError(f"{where}: quantity must be a whole number of shares above 0, got {quantity}")


def check_fraction(value: Decimal, name: str, where: str) -> None:
    """A percentage written as a fraction: 0.03 is 3 %."""
    if not ZERO < value < ONE:
        raise ValueError(f"{where}: {name} is a fraction between 0 and 1 (0.03 means 3 %), got {value}")


def check_price(value: Decimal | None, name: str, where: str, *, required: bool) -> None:
    if value is None:
        if required:
            raise ValueError(f"{where}: {name} is required")
        return
    if value <= ZERO:
        raise ValueError(f"{where}: {name} must be above 0, got {value}")


def _check_order_prices(
    order_type: OrderType, limit_price: Decimal | None, stop_price: Decimal | None, where: str
) -> None:
    check_price(limit_price, "limit_price", where, required=order_type.needs_limit_price)
    check_price(stop_price, "stop_price", where, required=order_type.needs_stop_price)


@dataclass(frozen=True, slots=True)
class PlaceOrder:
    """Place one order. `linked=True` makes it part of the symbol's linked position (its side is
    recorded and later orders for the symbol must agree with it)."""

    symbol: str
    side: Side
    quantity: Decimal
    order_type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    linked: bool = False

    def __post_init__(self) -> None:
        where = f"PlaceOrder {self.side} {self.symbol}"
        check_symbol(self.symbol, where)
        check_quantity(self.quantity, where)
        _check_order_prices(self.order_type, self.limit_price, self.stop_price, where)


@dataclass(frozen=True, slots=True)
class PlaceBracket:
    """Open a linked position as a bracket: the entry plus a stop loss and a take profit placed
    `stop_loss_pct` and `take_profit_pct` away from `reference_price` (the price the rule saw,
    or the limit price of a limit entry)."""

    symbol: str
    side: Side
    quantity: Decimal
    stop_loss_pct: Decimal
    take_profit_pct: Decimal
    reference_price: Decimal
    order_type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None

    def __post_init__(self) -> None:
        where = f"PlaceBracket {self.side} {self.symbol}"
        check_symbol(self.symbol, where)
        check_quantity(self.quantity, where)
        check_fraction(self.stop_loss_pct, "stop_loss_pct", where)
        check_fraction(self.take_profit_pct, "take_profit_pct", where)
        check_price(self.reference_price, "reference_price", where, required=True)
        if self.order_type not in (OrderType.MARKET, OrderType.LIMIT):
            raise ValueError(f"{where}: a bracket entry is a market or limit order, not {self.order_type}")
        _check_order_prices(self.order_type, self.limit_price, None, where)

    @property
    def stop_loss_price(self) -> Decimal:
        """Below the reference for a long, above it for a short; rounded to the cent."""
        factor = ONE - self.stop_loss_pct if self.side is Side.BUY else ONE + self.stop_loss_pct
        return quantize_price(self.reference_price * factor)

    @property
    def take_profit_price(self) -> Decimal:
        """Above the reference for a long, below it for a short; rounded to the cent."""
        factor = ONE + self.take_profit_pct if self.side is Side.BUY else ONE - self.take_profit_pct
        return quantize_price(self.reference_price * factor)


@dataclass(frozen=True, slots=True)
class ScaleIn:
    """Add `quantity` to the open linked position of `symbol`, on its side, if it is at least
    `trigger_profit_pct` in profit at `reference_price`; its stop and target then cover the new
    total. `side`, when given, is the side the rule expects: a position on the other side refuses."""

    symbol: str
    quantity: Decimal
    trigger_profit_pct: Decimal
    reference_price: Decimal
    side: Side | None = None

    def __post_init__(self) -> None:
        where = f"ScaleIn {self.symbol}"
        check_symbol(self.symbol, where)
        check_quantity(self.quantity, where)
        if self.trigger_profit_pct < ZERO:
            raise ValueError(f"{where}: trigger_profit_pct cannot be negative, got {self.trigger_profit_pct}")
        check_price(self.reference_price, "reference_price", where, required=True)


@dataclass(frozen=True, slots=True)
class CloseAll:
    """Cancel every linked order of `symbol` and flatten its position."""

    symbol: str
    reason: str

    def __post_init__(self) -> None:
        check_symbol(self.symbol, f"CloseAll {self.symbol}")


Intention = PlaceOrder | PlaceBracket | ScaleIn | CloseAll
INTENTION_TYPES: tuple[type, ...] = (PlaceOrder, PlaceBracket, ScaleIn, CloseAll)


@dataclass(frozen=True, slots=True)
class RuleFiring:
    """One rule firing on one event, and the intentions it produced."""

    rule_id: str
    rule_name: str
    event: object
    intentions: tuple[Intention, ...]


class CommandHandler(Protocol):
    """Where intentions become effects (risk check, linked-order state, order manager).

    The engine awaits `handle` for each intention of a firing, in order, one firing at a time.
    An exception is logged and recorded in `RuleEngine.failures`; it does not stop other rules.
    A refusal (risk, side conflict) should be reported by the handler itself, with its reason.
    """

    async def handle(self, intention: Intention, firing: RuleFiring) -> None:
        """Carry out (or refuse) one intention produced by `firing`."""
        ...
