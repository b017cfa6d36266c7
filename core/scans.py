"""Scan rows: one trade idea per symbol, and the validation of rows as users send them.

`parse_scan_rows` takes rows from the API (JSON), an Excel sheet or a CSV file, accepts both the
API field names and the Excel column names, and reports EVERY problem of EVERY bad row with its
1-based row number and field, keeping the valid rows. Numbers go through `to_decimal`, so no
float survives into a row.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TypeVar

from core.values import ZERO, Side, to_date, to_decimal

SYMBOL_PATTERN = re.compile(r"[A-Z0-9. \-]{1,12}")
HUNDRED = Decimal(100)
# Inclusive bounds of the optional numbers (atr has none above; it must only be above 0).
RANGES = {
    "win_rate": (ZERO, HUNDRED, "a percentage from 0 to 100"),
    "adx": (ZERO, HUNDRED, "from 0 to 100"),
    "confidence": (ZERO, Decimal(1), "a fraction from 0 to 1"),
}
T = TypeVar("T")

FIELDS = ("symbol", "current_price", "side", "stop_loss", "take_profit", "target_date", "win_rate",
          "adx", "strategy", "confidence", "atr")
OPTIONAL_NUMBERS = ("win_rate", "adx", "confidence", "atr")
REQUIRED = ("symbol", "current_price", "side", "stop_loss", "take_profit")

# Field names are matched case-blind with spaces as underscores, so the Excel column names of
# INTERFACES.md ("Current price", "Stop Loss", "ADX") are the API names; only this one differs.
ALIASES = {"transaction_type": "side"}


def normalize_symbol(text: str) -> str:
    """Upper-case and strip a ticker, or raise ValueError if it is not 1-12 of A-Z 0-9 . space -."""
    symbol = text.strip().upper()
    if not SYMBOL_PATTERN.fullmatch(symbol):
        raise ValueError(f"symbol {text!r} must be 1 to 12 characters of A-Z, 0-9, '.', '-' or space")
    return symbol


class InvalidScanRow(ValueError):
    """A scan row that breaks a rule; `problems` are (field, message) pairs, every one of them."""

    def __init__(self, symbol: str, problems: Sequence[tuple[str, str]]) -> None:
        super().__init__(f"scan row {symbol}: " + "; ".join(message for _f, message in problems))
        self.problems = tuple(problems)


@dataclass(frozen=True, slots=True)
class ScanRow:
    """One row of a scan: a symbol to trade, the side, and where to stop out and take profit.

    `win_rate` is a percentage, 0 to 100 (65 means 65%). `confidence` is a fraction, 0 to 1.
    `adx` is 0 to 100. `atr` (average true range, in price units) is above 0 when given.
    A Buy needs stop_loss < current_price < take_profit; a Sell the reverse.
    """

    symbol: str
    current_price: Decimal
    side: Side
    stop_loss: Decimal
    take_profit: Decimal
    target_date: date | None = None
    win_rate: Decimal | None = None
    adx: Decimal | None = None
    strategy: str = ""
    confidence: Decimal | None = None
    atr: Decimal | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "symbol", normalize_symbol(self.symbol))
        problems = row_problems(self)
        if problems:
            raise InvalidScanRow(self.symbol, problems)

    @property
    def risk_per_share(self) -> Decimal:
        """What one share loses if the stop is hit."""
        return abs(self.current_price - self.stop_loss)


def row_problems(row: ScanRow) -> list[tuple[str, str]]:
    """(field, message) for every rule the row breaks; empty when the row is valid."""
    return _rule_problems(row.side, row.current_price, row.stop_loss, row.take_profit,
                          {"win_rate": row.win_rate, "adx": row.adx, "confidence": row.confidence,
                           "atr": row.atr})


def _rule_problems(
    side: Side | None,
    price: Decimal | None,
    stop: Decimal | None,
    target: Decimal | None,
    optional: Mapping[str, Decimal | None],
) -> list[tuple[str, str]]:
    """The rules over whichever values are known (None: missing or unreadable, reported already)."""
    problems: list[tuple[str, str]] = []
    prices = {"current_price": price, "stop_loss": stop, "take_profit": target}
    for name, value in prices.items():
        if value is not None and value <= ZERO:
            problems.append((name, f"{name} must be above 0, got {value}"))
    if not problems and side is not None and price is not None and stop is not None and target is not None:
        problems += _bracket_problems(side, price, stop, target)
    for name, value in optional.items():
        if value is None:
            continue
        if name == "atr" and value <= ZERO:
            problems.append((name, f"atr must be above 0 when given, got {value}"))
        elif name in RANGES and not RANGES[name][0] <= value <= RANGES[name][1]:
            problems.append((name, f"{name} must be {RANGES[name][2]}, got {value}"))
    return problems


def _bracket_problems(side: Side, price: Decimal, stop: Decimal, target: Decimal) -> list[tuple[str, str]]:
    values = f"(stop_loss {stop}, current_price {price}, take_profit {target})"
    problems: list[tuple[str, str]] = []
    if side is Side.BUY:
        if not stop < price:
            problems.append(("stop_loss", f"a Buy needs stop_loss below current_price {values}"))
        if not target > price:
            problems.append(("take_profit", f"a Buy needs take_profit above current_price {values}"))
    else:
        if not stop > price:
            problems.append(("stop_loss", f"a Sell needs stop_loss above current_price {values}"))
        if not target < price:
            problems.append(("take_profit", f"a Sell needs take_profit below current_price {values}"))
    return problems


@dataclass(frozen=True, slots=True)
class ScanRowError:
    """One problem in one row: `row` is 1-based, as a person counts rows."""

    row: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"row {self.row}" + (f", {self.field}" if self.field else "")
        return f"{where}: {self.message}"


@dataclass(frozen=True, slots=True)
class ScanParseResult:
    """The valid rows, and every problem of every row that was not valid."""

    rows: tuple[ScanRow, ...]
    errors: tuple[ScanRowError, ...]

    @property
    def ok(self) -> bool:
        return not self.errors


def parse_scan_rows(raw_rows: Sequence[Mapping[str, object]]) -> ScanParseResult:
    """Validate raw rows (API names or Excel column names); keep the valid ones, report the rest."""
    rows: list[ScanRow] = []
    errors: list[ScanRowError] = []
    first_row_of: dict[str, int] = {}
    for number, raw in enumerate(raw_rows, start=1):
        row, problems = _parse_row(raw)
        symbol = row.symbol if row is not None else _symbol_or_none(raw)
        if symbol is not None:
            if symbol in first_row_of:
                problems.append(("symbol", f"{symbol} already appears in row {first_row_of[symbol]}: "
                                           f"a scan holds one order per symbol; remove or merge one"))
            else:
                first_row_of[symbol] = number
        if problems:
            errors += [ScanRowError(number, name, message) for name, message in problems]
        elif row is not None:
            rows.append(row)
    return ScanParseResult(tuple(rows), tuple(errors))


def _field_key(key: str) -> str:
    normal = "_".join(key.strip().lower().split())
    return ALIASES.get(normal, normal)


def _fields(raw: Mapping[str, object]) -> tuple[dict[str, object], list[tuple[str, str]]]:
    values: dict[str, object] = {}
    problems: list[tuple[str, str]] = []
    for key, value in raw.items():
        if not isinstance(key, str):
            problems.append((str(key), f"field names must be text, got {key!r}"))
            continue
        name = _field_key(key)
        if name not in FIELDS:
            guess = difflib.get_close_matches(name, FIELDS, n=1)
            hint = f"did you mean {guess[0]}? " if guess else ""
            problems.append((key, f"unknown field {key!r}: {hint}the fields are {', '.join(FIELDS)} "
                                  f"(or the Excel column names)"))
        elif name in values:
            problems.append((key, f"field {name} is given twice (as {key!r} and another spelling)"))
        elif not (value is None or (isinstance(value, str) and not value.strip())):
            values[name] = value
    for name in REQUIRED:
        if name not in values:
            problems.append((name, f"{name} is required"))
    return values, problems


def _parse_row(raw: object) -> tuple[ScanRow | None, list[tuple[str, str]]]:
    if not isinstance(raw, Mapping):
        return None, [("", f"a row must be an object of fields, got {type(raw).__name__}")]
    values, problems = _fields(raw)

    def parse(name: str, parser: Callable[[object, str], T]) -> T | None:
        if name not in values:
            return None
        try:
            return parser(values[name], name)
        except ValueError as error:
            problems.append((name, str(error)))
            return None

    symbol, side = parse("symbol", _parse_symbol), parse("side", _parse_side)
    price, stop, target = (parse(name, to_decimal) for name in ("current_price", "stop_loss", "take_profit"))
    target_date, strategy = parse("target_date", to_date), parse("strategy", _parse_text)
    win_rate, adx, confidence, atr = (parse(name, to_decimal) for name in OPTIONAL_NUMBERS)
    optional = {"win_rate": win_rate, "adx": adx, "confidence": confidence, "atr": atr}
    problems += _rule_problems(side, price, stop, target, optional)
    if problems or symbol is None or side is None or price is None or stop is None or target is None:
        return None, problems
    row = ScanRow(symbol, price, side, stop, target, target_date, win_rate, adx, strategy or "",
                  confidence, atr)
    return row, []


def _symbol_or_none(raw: object) -> str | None:
    if not isinstance(raw, Mapping):
        return None
    for key, value in raw.items():
        if isinstance(key, str) and _field_key(key) == "symbol" and isinstance(value, str):
            try:
                return normalize_symbol(value)
            except ValueError:
                return None
    return None


def _parse_symbol(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"symbol must be text, got {value!r}")
    return normalize_symbol(value)


def _parse_side(value: object, name: str) -> Side:
    if isinstance(value, Side):
        return value
    if not isinstance(value, str):
        raise ValueError(f"side must be Buy or Sell, got {value!r}")
    return Side.parse(value)


def _parse_text(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be text, got {value!r}")
    return value.strip()
