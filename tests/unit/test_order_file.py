"""The Excel order file: columns, round trip through xlsxwriter + fastexcel, and every error."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal

import fastexcel
import pytest
import xlsxwriter

from adapters.excel import SHEET_NAME, ExcelOrderFileReader, ExcelOrderFileWriter
from core.order_file import (
    MARKET,
    ORDER_FILE_COLUMNS,
    OrderFileError,
    OrderFileReader,
    OrderFileRow,
    OrderFileWriter,
    check_header,
    row_from_cells,
)
from core.values import Side

D = Decimal


def order(symbol: str = "AAPL", **changes: object) -> OrderFileRow:
    row = OrderFileRow(
        symbol=symbol, current_price=D("187.25"), investment=D("18725.00"), transaction_type=Side.BUY,
        order_type=MARKET, position=D(100), stop_loss=D("180.10"), take_profit=D("200.00"),
        target_date=date(2027, 1, 15), win_rate=D("62.5"), adx=D("25.3"), strategy="Momentum Breakout",
    )
    return replace(row, **changes)  # type: ignore[arg-type]


ROWS = [
    order(),
    order("MSFT", current_price=D("510.01"), investment=D("5100.10"), transaction_type=Side.SELL,
          position=D(10), stop_loss=D("530.00"), take_profit=D("480.00"), target_date=date(2027, 12, 31),
          win_rate=D("0.65"), adx=D("40"), strategy="Mean Reversion"),
    order("BRK.B", current_price=D("0.07"), investment=D("1234567.89"), position=D(17636684),
          stop_loss=D("0.01"), take_profit=D("0.99")),
]


def write(rows: Sequence[OrderFileRow]) -> bytes:
    return ExcelOrderFileWriter().write(rows)


def read(data: bytes) -> list[OrderFileRow]:
    return ExcelOrderFileReader().read(data)


def workbook(rows: Sequence[Sequence[object]], sheet: str = SHEET_NAME) -> bytes:
    """An .xlsx with these cells, as a person might have edited it (None leaves a cell empty)."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    day = book.add_format({"num_format": "yyyy-mm-dd"})
    worksheet = book.add_worksheet(sheet)
    for r, cells in enumerate(rows):
        for c, cell in enumerate(cells):
            if isinstance(cell, date):
                worksheet.write_datetime(r, c, cell, day)
            elif isinstance(cell, str):
                worksheet.write_string(r, c, cell)
            elif cell is not None:
                worksheet.write(r, c, cell)
    book.close()
    return buffer.getvalue()


GOOD_CELLS: list[object] = ["AAPL", 187.25, 18725, "Buy", "Market", 100, 180.1, 200, date(2027, 1, 15),
                            62.5, 25.3, "Momentum"]


def with_cell(column: str, value: object) -> list[object]:
    cells = list(GOOD_CELLS)
    cells[ORDER_FILE_COLUMNS.index(column)] = value
    return cells


def test_the_columns_are_exactly_those_of_the_interface() -> None:
    assert ORDER_FILE_COLUMNS == (
        "Symbol", "Current price", "investment in $", "Transaction type", "Order Type", "Position",
        "Stop Loss", "Take Profit", "Target Date", "Win Rate", "ADX", "Strategy",
    )


def test_the_adapters_implement_the_ports() -> None:
    writer: OrderFileWriter = ExcelOrderFileWriter()
    reader: OrderFileReader = ExcelOrderFileReader()
    assert reader.read(writer.write(ROWS)) == ROWS


def test_written_header_is_exact_and_ordered_on_the_orders_sheet() -> None:
    excel = fastexcel.read_excel(write(ROWS))
    assert excel.sheet_names == ["Orders"]
    sheet = excel.load_sheet(0, header_row=None, dtypes="string", n_rows=1)
    assert sheet.to_polars().rows() == [ORDER_FILE_COLUMNS]


def test_round_trip_gives_exactly_the_same_rows() -> None:
    assert read(write(ROWS)) == ROWS


def test_round_trip_of_no_rows_is_a_header_only_file() -> None:
    data = write([])
    assert read(data) == []
    assert fastexcel.read_excel(data).load_sheet(0).available_columns()[0].name == "Symbol"


def test_empty_optional_values_are_empty_cells_and_read_back_as_none() -> None:
    bare = order(target_date=None, win_rate=None, adx=None, strategy="")
    data = write([bare])
    cells = fastexcel.read_excel(data).load_sheet(0, dtypes="string").to_polars().rows()[0]
    assert cells[8:] == (None, None, None, None)
    assert read(data) == [bare]


def test_values_are_typed_cells_numbers_dates_and_text() -> None:
    frame = fastexcel.read_excel(write(ROWS)).load_sheet(0).to_polars()
    first = frame.row(0, named=True)
    assert first["Current price"] == 187.25
    assert first["Position"] == 100
    assert first["Target Date"] == datetime(2027, 1, 15)
    assert first["Transaction type"] == "Buy"
    assert frame.row(1, named=True)["Transaction type"] == "Sell"
    assert first["Order Type"] == "Market"


def test_prices_are_read_back_rounded_to_the_cent() -> None:
    data = workbook([ORDER_FILE_COLUMNS, with_cell("Stop Loss", 180.105000001)])
    assert read(data)[0].stop_loss == D("180.11")


def test_reader_accepts_what_spreadsheet_programs_do_to_a_file() -> None:
    edited = with_cell("Target Date", "2027-01-15")  # a date typed as text
    edited[ORDER_FILE_COLUMNS.index("Transaction type")] = " sell "
    edited[ORDER_FILE_COLUMNS.index("Order Type")] = "MARKET"
    edited[ORDER_FILE_COLUMNS.index("Win Rate")] = "62.5"  # a number stored as text
    data = workbook([ORDER_FILE_COLUMNS, GOOD_CELLS, [None] * 12, edited], sheet="Renamed")
    first, second = read(data)
    assert second.target_date == date(2027, 1, 15)
    assert second.transaction_type is Side.SELL
    assert second.order_type == MARKET
    assert second.win_rate == first.win_rate == D("62.5")


def test_a_numeric_symbol_is_read_as_text() -> None:
    assert read(workbook([ORDER_FILE_COLUMNS, with_cell("Symbol", 700)]))[0].symbol == "700"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (ORDER_FILE_COLUMNS[:-1], "missing 'Strategy'"),
        ((*ORDER_FILE_COLUMNS, "Notes"), "unexpected 'Notes'"),
        (("Symbol", "investment in $", "Current price", *ORDER_FILE_COLUMNS[3:]),
         "column 2 is 'investment in $' but should be 'Current price'"),
        (("symbol", *ORDER_FILE_COLUMNS[1:]), "missing 'Symbol'; unexpected 'symbol'"),
        ((*ORDER_FILE_COLUMNS[:3], "", *ORDER_FILE_COLUMNS[3:]), "unexpected a blank header (column 4)"),
    ],
)
def test_a_file_whose_columns_do_not_match_is_refused_naming_them(header: Sequence[str],
                                                                  expected: str) -> None:
    with pytest.raises(OrderFileError, match="does not match") as caught:
        read(workbook([header, GOOD_CELLS]))
    assert expected in str(caught.value)
    assert "The columns must be exactly, in this order: Symbol, Current price" in str(caught.value)


def test_a_repeated_column_is_refused() -> None:
    with pytest.raises(OrderFileError) as caught:
        check_header([*ORDER_FILE_COLUMNS, "ADX"])
    assert "repeated 'ADX'" in str(caught.value)
    with pytest.raises(OrderFileError, match="'ADX_1'"):  # fastexcel renames a repeat
        read(workbook([[*ORDER_FILE_COLUMNS, "ADX"], GOOD_CELLS]))


def test_trailing_blank_headers_are_ignored_but_values_under_them_are_not() -> None:
    check_header([*ORDER_FILE_COLUMNS, "", " "])
    with pytest.raises(OrderFileError, match="row 2 has a value in column 13, which has no header"):
        read(workbook([ORDER_FILE_COLUMNS, [*GOOD_CELLS, "stray"]]))


@pytest.mark.parametrize(
    ("column", "value", "problem"),
    [
        ("Stop Loss", "abc", "must be a number, got 'abc'"),
        ("Current price", None, "the cell is empty but a value is required"),
        ("Symbol", "  ", "the cell is empty but a value is required"),
        ("Position", 10.5, "whole number of shares"),
        ("Position", -3, "whole number of shares"),
        ("Transaction type", "Hold", "expected Buy or Sell, got 'Hold'"),
        ("Order Type", "Limit", "expected 'Market'"),
        ("Target Date", "next friday", "expected a date like 2027-03-31"),
        ("Win Rate", "high", "must be a number, got 'high'"),
        ("ADX", date(2027, 1, 1), "must be a number, got '2027-01-01 00:00:00'"),
        ("Take Profit", "nan", "must be a finite number"),
    ],
)
def test_a_bad_cell_is_named_by_row_and_column(column: str, value: object, problem: str) -> None:
    rows = [ORDER_FILE_COLUMNS, GOOD_CELLS, [None] * 12, with_cell(column, value)]
    with pytest.raises(OrderFileError) as caught:
        read(workbook(rows))
    assert caught.value.row == 4
    assert caught.value.column == column
    assert f"order file row 4, column {column!r}: " in str(caught.value)
    assert problem in str(caught.value)


def test_null_words_in_an_optional_number_column_read_as_no_value() -> None:
    # fastexcel reads "n/a", "NA", "null" and "#N/A" in a number column as empty: for the optional
    # Win Rate and ADX that is what they mean; in a required column the cell is reported empty.
    rows = read(workbook([ORDER_FILE_COLUMNS, GOOD_CELLS, with_cell("Win Rate", "n/a")]))
    assert rows[1].win_rate is None
    with pytest.raises(OrderFileError, match="row 3, column 'Stop Loss': the cell is empty"):
        read(workbook([ORDER_FILE_COLUMNS, GOOD_CELLS, with_cell("Stop Loss", "#N/A")]))


def test_row_from_cells_is_the_same_check_without_a_file() -> None:
    with pytest.raises(OrderFileError, match="ADX': expected a number, got the date 2027-01-01"):
        row_from_cells(9, with_cell("ADX", date(2027, 1, 1)))
    row = row_from_cells(2, ["AAPL", "187.25", "18725", "Buy", "Market", "100", "180.1", "200", None,
                             None, None, None])
    assert row == order(target_date=None, win_rate=None, adx=None, strategy="")
    with pytest.raises(OrderFileError, match="row 7, column 'Take Profit'"):
        row_from_cells(7, with_cell("Take Profit", "lots"))


def test_bytes_that_are_not_a_workbook_are_refused() -> None:
    with pytest.raises(OrderFileError, match=r"not a readable \.xlsx workbook"):
        read(b"Symbol,Current price\nAAPL,1\n")


def test_an_empty_sheet_has_no_header() -> None:
    with pytest.raises(OrderFileError, match="no header row"):
        read(workbook([]))


def test_rows_validate_on_creation() -> None:
    with pytest.raises(ValueError, match="Order Type must be 'Market'"):
        order(order_type="Limit")
    with pytest.raises(ValueError, match="whole number of shares"):
        order(position=D("1.5"))
    with pytest.raises(ValueError, match="needs a symbol"):
        order(symbol=" ")
    with pytest.raises(ValueError, match="stop_loss must be a finite number"):
        order(stop_loss=D("NaN"))
    assert order(symbol=" AAPL ", strategy=" x ") == order(strategy="x")


def test_the_writer_refuses_what_excel_cannot_hold() -> None:
    with pytest.raises(OrderFileError, match=r"row 3, column 'Strategy'.*32,767"):
        write([order(), order(strategy="x" * 32_768)])
    with pytest.raises(OrderFileError, match=r"row 2, column 'Target Date'.*1900-03-01"):
        write([order(target_date=date(1899, 12, 31))])
