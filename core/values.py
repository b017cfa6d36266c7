"""Value types of the trading domain: sides, order types, typed ids and Decimal money.

Prices and quantities are always `Decimal`; a float never enters the domain, because binary
floats cannot represent 0.1 and P&L must add up to the cent. `to_decimal` is the one door in.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import MISSING, dataclass, fields
from datetime import date, datetime
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal, InvalidOperation
from enum import StrEnum
from typing import NewType

OrderRef = NewType("OrderRef", str)
"""Deterministic key of one order leg; sent to IB as `orderRef` so a restart can find it."""

BatchId = NewType("BatchId", str)
"""Id of an approved batch of bracket orders."""

ExecId = NewType("ExecId", str)
"""Broker execution id; fills are de-duplicated by it."""

RuleId = NewType("RuleId", str)
"""Id of a trading rule in the rule engine."""

ZERO = Decimal(0)
ONE = Decimal(1)
CENT = Decimal("0.01")

# Largest magnitude accepted for any price or quantity: far above any real order, low enough that
# arithmetic on it stays exact in the default 28-digit Decimal context.
MAX_MAGNITUDE = Decimal("1e12")


class Side(StrEnum):
    """Direction of an order: BUY opens or adds to a long, SELL opens or adds to a short."""

    BUY = "BUY"
    SELL = "SELL"

    # The members are compared with module constants (_BUY, _SELL below): reading a member
    # through the enum class costs more than the rest of these properties, which every fill uses.
    @property
    def opposite(self) -> Side:
        return _SELL if self is _BUY else _BUY

    @property
    def sign(self) -> int:
        """+1 for BUY, -1 for SELL: signed quantity = sign * quantity."""
        return 1 if self is _BUY else -1

    @classmethod
    def parse(cls, text: str) -> Side:
        """Accept the spellings users write: Buy/BUY/buy/long, Sell/SELL/sell/short."""
        normal = text.strip().upper()
        if normal in ("BUY", "LONG", "B", "BOT"):
            return cls.BUY
        if normal in ("SELL", "SHORT", "S", "SLD"):
            return cls.SELL
        raise ValueError(f"side {text!r} is not one of Buy or Sell")


_BUY = Side.BUY
_SELL = Side.SELL


class OrderType(StrEnum):
    """Order types the system places. The values are IB's spellings."""

    MARKET = "MKT"
    LIMIT = "LMT"
    STOP = "STP"
    STOP_LIMIT = "STP LMT"

    @property
    def needs_limit_price(self) -> bool:
        return self in LIMIT_PRICED

    @property
    def needs_stop_price(self) -> bool:
        return self in STOP_PRICED


# Module-level sets, not tuples built per call: order validation tests them for every request.
LIMIT_PRICED = frozenset({OrderType.LIMIT, OrderType.STOP_LIMIT})
"""Order types that need a limit price (`OrderType.needs_limit_price`)."""

STOP_PRICED = frozenset({OrderType.STOP, OrderType.STOP_LIMIT})
"""Order types that need a stop price (`OrderType.needs_stop_price`)."""


class TimeInForce(StrEnum):
    """How long an order works: the day, until cancelled, or immediately-or-cancel."""

    DAY = "DAY"
    GTC = "GTC"
    IOC = "IOC"


class TradingState(StrEnum):
    """Whether new risk may be taken: ACTIVE yes, REDUCING only orders that shrink a position,
    HALTED nothing but protective orders (the kill switch)."""

    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"


def to_decimal(value: object, what: str = "value") -> Decimal:
    """Convert user or wire input to a finite Decimal, or raise ValueError naming `what`.

    Floats go through `repr` so 0.1 becomes Decimal("0.1"), not its binary expansion. Booleans
    are refused: `True` is an int in Python but never a price.
    """
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a number, got a boolean")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip().replace(",", ""))
        except InvalidOperation:
            raise ValueError(f"{what} must be a number, got {value!r}") from None
    else:
        raise ValueError(f"{what} must be a number, got {type(value).__name__}")
    if not result.is_finite():
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    if abs(result) > MAX_MAGNITUDE:
        raise ValueError(f"{what} {value!r} is too large (the limit is {MAX_MAGNITUDE:,.0f})")
    return result


def to_date(value: object, what: str = "date") -> date:
    """A date from a date, a datetime (its date) or an ISO text, or ValueError naming `what`."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.strip()).date()
        except ValueError:
            pass
    raise ValueError(f"{what} must be a date like 2027-03-31, got {value!r}")


def quantize_price(price: Decimal, tick: Decimal = CENT) -> Decimal:
    """Round a price to the nearest tick (banker's rounding, as exchanges do for midpoints)."""
    return (price / tick).quantize(ONE, rounding=ROUND_HALF_EVEN) * tick


def whole_shares(quantity: Decimal) -> Decimal:
    """Round a quantity down to whole shares: sizing never buys more than it was given."""
    return quantity.quantize(ONE, rounding=ROUND_DOWN)


@dataclass(frozen=True, slots=True)
class Bar:
    """One OHLC bar of a symbol, as market data returns it."""

    time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal = ZERO


def writable_twin(cls: type, *names: str) -> type:
    """A private subclass of the frozen, slotted dataclass `cls` that takes plain attribute
    assignment, for an `__init__` written by hand because the value is made per order or per
    broker event. The generated `__init__` of a frozen dataclass writes each field through
    `object.__setattr__`; a plain slot write costs a fraction of that. The `__init__` turns `self`
    into the twin, assigns the fields, and turns it back:

        def __init__(self, a: A, b: B) -> None:
            writable: Any = self  # typed Any: the twin's assignments are invisible to type checkers
            become(writable, _WritableValue)
            writable.a = a
            writable.b = b
            writable.__class__ = Value

    The twin adds no slot, so an instance may change between the two classes; it never leaves
    the `__init__`, and what the caller gets is an ordinary, frozen instance of `cls`.

    Raises TypeError (at import, where it is called) unless `cls` is a frozen dataclass with
    slots, `names` are all its fields in their order, and `cls.__init__` takes exactly those
    parameters with the fields' defaults: a field added, moved or given another default in one
    place and not the other fails at once instead of making values that lack it.
    """
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__name__} is not a frozen dataclass with slots; it needs no twin")
    declared = fields(cls)
    parameters = list(inspect.signature(cls).parameters.values())
    problem = ""
    if tuple(field.name for field in declared) != names:
        problem = f"the twin is asked for {names}, not its fields in order"
    elif tuple(parameter.name for parameter in parameters) != names or any(
        parameter.kind is not inspect.Parameter.POSITIONAL_OR_KEYWORD for parameter in parameters
    ):
        problem = "its __init__ does not take exactly its fields, in order"
    else:
        for field, parameter in zip(declared, parameters, strict=True):
            default = inspect.Parameter.empty if field.default is MISSING else field.default
            if field.default_factory is not MISSING or parameter.default != default:
                problem = f"its __init__ gives {field.name} another default than the field does"
    if problem:
        raise TypeError(f"{cls.__name__}: {problem}; make the hand-written __init__ match the fields")
    # `object`'s own `__setattr__` and `__delattr__` (one type slot serves both) give the twin the
    # generic attribute store, which the interpreter specializes to a direct slot write. Its
    # `__init__` is `object`'s too, so that `twin()` makes a blank instance in C: a factory
    # function that fills one in and turns it into `cls` skips the call of a Python `__init__`.
    namespace = {
        "__slots__": (), "__setattr__": object.__setattr__, "__delattr__": object.__delattr__,
        "__init__": object.__init__, "__module__": cls.__module__,
    }
    return type(f"_Writable{cls.__name__}", (cls,), namespace)


become: Callable[[object, type], None] = object.__dict__["__class__"].__set__
"""`become(value, twin)`: change the class of `value` to its `writable_twin` (see there). Its
class cannot be changed by assignment while it is frozen."""
