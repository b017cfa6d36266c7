"""The Excel order file: its columns, one row per order, and the ports that write and read it.

The file is the record of an approved batch that a person opens in a spreadsheet program, so its
columns are fixed (INTERFACES.md, "Excel order file"). This module knows the columns and how a
cell becomes a value; the adapter in `adapters/excel` knows the `.xlsx` format. Cell conversion
lives here so that every reader reports a bad cell the same way: by sheet row and column name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Final, Protocol

from core.values import ONE, ZERO, Side, quantize_price, to_date, to_decimal

ORDER_FILE_COLUMNS: Final = (
    "Symbol",
    "Current price",
    "investment in $",
    "Transaction type",
    "Order Type",
    "Position",
    "Stop Loss",
    "Take Profit",
    "Target Date",
    "Win Rate",
    "ADX",
    "Strategy",
)
"""The columns of the order file, exactly, in this order."""

MARKET: Final = "Market"
"""The only `Order Type` the file carries: entries are market orders (the seed: "Always Market")."""

HEADER_ROW_NUMBER: Final = 1
"""Spreadsheet row of the header; the first order is on row 2, as a person counts rows."""

_NUMBER_FIELDS = ("current_price", "investment", "position", "stop_loss", "take_profit", "win_rate", "adx")
_COLUMN_LIST = ", ".join(ORDER_FILE_COLUMNS)
_FIX = "Correct the cell, or generate the file again from its batch."


def transaction_type_label(side: Side) -> str:
    """The file's spelling of a side: "Buy" or "Sell"."""
    return "Buy" if side is Side.BUY else "Sell"


class OrderFileError(ValueError):
    """An order file that does not match the format. The message names what is wrong and where
    (`row` is the spreadsheet row number, `column` the header), and says what to do."""

    def __init__(self, message: str, *, row: int | None = None, column: str | None = None) -> None:
        super().__init__(message)
        self.row = row
        self.column = column


@dataclass(frozen=True, slots=True)
class OrderFileRow:
    """One order as a row of the file. Prices and money are Decimal; `position` is whole shares.

    Symbol and strategy are stored stripped of surrounding spaces, the way a reader gets them back.
    """

    symbol: str
    current_price: Decimal
    investment: Decimal
    transaction_type: Side
    order_type: str
    position: Decimal
    stop_loss: Decimal
    take_profit: Decimal
    target_date: date | None
    win_rate: Decimal | None
    adx: Decimal | None
    strategy: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "symbol", self.symbol.strip())
        object.__setattr__(self, "strategy", self.strategy.strip())
        if not self.symbol:
            raise ValueError("an order file row needs a symbol")
        if self.order_type != MARKET:
            raise ValueError(f"{self.symbol}: Order Type must be {MARKET!r}, got {self.order_type!r}")
        for name in _NUMBER_FIELDS:
            value = getattr(self, name)
            if value is not None and not value.is_finite():
                raise ValueError(f"{self.symbol}: {name} must be a finite number, got {value}")
        if self.position < ZERO or self.position != self.position.to_integral_value():
            raise ValueError(f"{self.symbol}: Position must be a whole number of shares, got {self.position}")


class OrderFileWriter(Protocol):
    """Turns order rows into the bytes of an order file, with the columns of ORDER_FILE_COLUMNS."""

    def write(self, rows: Sequence[OrderFileRow]) -> bytes:
        """The whole file, in memory. Raises OrderFileError if a row cannot be stored faithfully."""
        ...


class OrderFileReader(Protocol):
    """Reads the bytes of an order file back into rows, checking the columns and every cell."""

    def read(self, data: bytes) -> list[OrderFileRow]:
        """The rows in file order, blank rows skipped. Raises OrderFileError naming the missing,
        extra or misordered columns, or the row and column of a bad cell."""
        ...


def check_header(header: Sequence[str]) -> None:
    """Raise OrderFileError unless `header` is exactly ORDER_FILE_COLUMNS, in order.

    An empty string stands for a column without a header; trailing ones are ignored (spreadsheet
    programs keep formatted but empty columns)."""
    names = list(header)
    while names and not names[-1].strip():
        names.pop()
    if names == list(ORDER_FILE_COLUMNS):
        return
    if not names:
        raise OrderFileError(f"the order file has no header row. Row 1 must hold the columns {_COLUMN_LIST}.")
    expected = set(ORDER_FILE_COLUMNS)
    missing = [name for name in ORDER_FILE_COLUMNS if name not in names]
    problems = []
    if missing:
        problems.append("missing " + ", ".join(repr(name) for name in missing))
    extra = [repr(name) if name.strip() else f"a blank header (column {index + 1})"
             for index, name in enumerate(names) if name not in expected]
    duplicated = sorted({name for name in names if name in expected and names.count(name) > 1})
    if extra:
        problems.append("unexpected " + ", ".join(extra))
    if duplicated:
        problems.append("repeated " + ", ".join(repr(name) for name in duplicated))
    if not problems:
        position = next(i for i, (got, want) in enumerate(zip(names, ORDER_FILE_COLUMNS, strict=True))
                        if got != want)
        problems.append(f"the columns are in the wrong order: column {position + 1} is "
                        f"{names[position]!r} but should be {ORDER_FILE_COLUMNS[position]!r}")
    raise OrderFileError(f"the order file's header does not match: {'; '.join(problems)}. "
                         f"The columns must be exactly, in this order: {_COLUMN_LIST}.")


def is_blank_row(cells: Sequence[object]) -> bool:
    """Whether every cell is empty (None or only spaces): such rows are not orders."""
    return all(_is_empty(cell) for cell in cells)


def row_from_cells(row_number: int, cells: Sequence[object]) -> OrderFileRow:
    """Convert one row of cells, in column order, into an OrderFileRow.

    Cells may be what a spreadsheet reader yields: str, int, float, Decimal, date, datetime or
    None. Prices and the investment are rounded to the cent, the precision of the file; Position
    must be whole shares. Raises OrderFileError naming `row_number` and the column of a bad cell.
    """
    cells = list(cells)
    if len(cells) < len(ORDER_FILE_COLUMNS):
        cells += [None] * (len(ORDER_FILE_COLUMNS) - len(cells))
    for index in range(len(ORDER_FILE_COLUMNS), len(cells)):
        if not _is_empty(cells[index]):
            raise OrderFileError(f"order file row {row_number} has a value in column {index + 1}, which has "
                                 f"no header: {cells[index]!r}. Move it into one of the columns "
                                 f"{_COLUMN_LIST}, or delete it.", row=row_number)
    values = dict(zip(ORDER_FILE_COLUMNS, cells, strict=False))
    cell = _CellReader(row_number, values)
    return OrderFileRow(
        symbol=cell.text("Symbol", required=True),
        current_price=cell.price("Current price"),
        investment=cell.price("investment in $"),
        transaction_type=cell.side("Transaction type"),
        order_type=cell.order_type("Order Type"),
        position=cell.whole("Position"),
        stop_loss=cell.price("Stop Loss"),
        take_profit=cell.price("Take Profit"),
        target_date=cell.optional_date("Target Date"),
        win_rate=cell.optional_number("Win Rate"),
        adx=cell.optional_number("ADX"),
        strategy=cell.text("Strategy", required=False),
    )


def _is_empty(cell: object) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


class _CellReader:
    """Reads the cells of one row, raising OrderFileError that names the row and the column."""

    __slots__ = ("row_number", "values")

    def __init__(self, row_number: int, values: dict[str, object]) -> None:
        self.row_number = row_number
        self.values = values

    def fail(self, column: str, problem: str) -> OrderFileError:
        return OrderFileError(f"order file row {self.row_number}, column {column!r}: {problem}. {_FIX}",
                              row=self.row_number, column=column)

    def required(self, column: str) -> object:
        value = self.values[column]
        if _is_empty(value):
            raise self.fail(column, "the cell is empty but a value is required")
        return value

    def text(self, column: str, *, required: bool) -> str:
        value = self.required(column) if required else self.values[column]
        if _is_empty(value):
            return ""
        if isinstance(value, str):
            return value.strip()
        if isinstance(value, float) and value.is_integer():
            return str(int(value))  # a spreadsheet stores a typed-in 700 as 700.0
        if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
            return str(value)
        raise self.fail(column, f"expected text, got {value!r}")

    def number(self, column: str, value: object) -> Decimal:
        if isinstance(value, datetime | date):
            raise self.fail(column, f"expected a number, got the date {value.isoformat()}")
        try:
            return to_decimal(value, column)
        except ValueError as error:
            raise self.fail(column, str(error)) from None

    def price(self, column: str) -> Decimal:
        return quantize_price(self.number(column, self.required(column)))

    def whole(self, column: str) -> Decimal:
        quantity = self.number(column, self.required(column))
        if quantity < ZERO or quantity != quantity.to_integral_value():
            raise self.fail(column, f"expected a whole number of shares, 0 or more, got {quantity}")
        return quantity.quantize(ONE)

    def optional_number(self, column: str) -> Decimal | None:
        value = self.values[column]
        return None if _is_empty(value) else self.number(column, value)

    def side(self, column: str) -> Side:
        value = self.required(column)
        if isinstance(value, str):
            try:
                return Side.parse(value)
            except ValueError:
                pass
        raise self.fail(column, f"expected Buy or Sell, got {value!r}")

    def order_type(self, column: str) -> str:
        value = self.required(column)
        if isinstance(value, str) and value.strip().lower() == MARKET.lower():
            return MARKET
        raise self.fail(column, f"expected {MARKET!r} (entries are market orders), got {value!r}")

    def optional_date(self, column: str) -> date | None:
        value = self.values[column]
        if _is_empty(value):
            return None
        try:
            return to_date(value, column)
        except ValueError:
            raise self.fail(column, f"expected a date like 2027-03-31, got {value!r}") from None
