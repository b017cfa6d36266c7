"""Scan files: .xlsx, .csv and .json read into raw rows, and every way a file can be unreadable."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import xlsxwriter

from adapters.excel import ExcelOrderFileWriter
from adapters.scanfiles import ScanFile, ScanFileError, read_scan_file
from core.order_file import MARKET, OrderFileRow
from core.scans import parse_scan_rows
from core.values import Side
from entrypoints.data import sample_scan_path

D = Decimal
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

API_ROWS = [
    {"symbol": "AAPL", "current_price": 229.35, "side": "Buy", "stop_loss": 218.5, "take_profit": 252,
     "target_date": "2027-01-15", "win_rate": 64, "adx": 27.4, "strategy": "Momentum Breakout"},
    {"symbol": "AMZN", "current_price": 223.1, "side": "Sell", "stop_loss": 234.5, "take_profit": 201},
]


def xlsx(path: Path, rows: Sequence[Sequence[object]]) -> Path:
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    day = book.add_format({"num_format": "yyyy-mm-dd"})
    sheet = book.add_worksheet("Scan")
    for r, cells in enumerate(rows):
        for c, cell in enumerate(cells):
            if isinstance(cell, datetime | date):
                sheet.write_datetime(r, c, cell, day)
            elif isinstance(cell, str):
                sheet.write_string(r, c, cell)
            elif cell is not None:
                sheet.write(r, c, cell)
    book.close()
    path.write_bytes(buffer.getvalue())
    return path


def text_file(path: Path, content: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(content.encode(encoding))
    return path


# --- JSON ---------------------------------------------------------------------------------------

def test_json_list_of_rows(tmp_path: Path) -> None:
    scan = read_scan_file(text_file(tmp_path / "scan.json", json.dumps(API_ROWS)))
    assert scan.name is None
    assert [row["symbol"] for row in scan.rows] == ["AAPL", "AMZN"]
    assert set(scan.rows[1]) == {"symbol", "current_price", "side", "stop_loss", "take_profit"}


def test_json_object_with_name_and_rows_keeps_numbers_exact(tmp_path: Path) -> None:
    document = '{"name": " Morning scan ", "rows": [{"symbol": "AAPL", "current_price": 0.1, "adx": 27}]}'
    scan = read_scan_file(text_file(tmp_path / "scan.JSON", document))
    assert scan == ScanFile("Morning scan", ({"symbol": "AAPL", "current_price": D("0.1"), "adx": 27},))
    assert not any(isinstance(value, float) for row in scan.rows for value in row.values())


def test_json_empty_strings_become_none(tmp_path: Path) -> None:
    content = '[{"symbol": "AAPL", "strategy": "  ", "adx": null}]'
    scan = read_scan_file(text_file(tmp_path / "s.json", content))
    assert scan.rows == ({"symbol": "AAPL", "strategy": None, "adx": None},)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('[{"symbol": "AAPL",}]', r"not valid JSON: Expecting property name enclosed in double quotes "
                                  r"at line 1, column 20\.$"),
        ('{\n  "rows": [\n    {"symbol": "AAPL"\n  ]\n}', r"not valid JSON: .* at line 4, column 3"),
        ("", r"not valid JSON: Expecting value at line 1, column 1"),
        ('{"name": "x", "rows": [], "owner": "me"}', r"unknown keys 'owner'"),
        ('{"name": "x"}', r"no 'rows' key"),
        ('{"name": 5, "rows": [{"symbol": "A"}]}', r'"name" must be text, got 5'),
        ('{"rows": {"symbol": "AAPL"}}', r"the rows must be a JSON list of objects, got dict"),
        ('"AAPL"', r"the rows must be a JSON list of objects, got str"),
        ("[]", r"has no rows"),
        ('[{"symbol": "AAPL"}, ["MSFT", 1]]', r'row 2 must be an object like \{"symbol": "AAPL", ...\}, '
                                              r'got \["MSFT", 1\]'),
        ('[{"symbol": "AAPL", "symbol": "MSFT"}]', r"the key 'symbol' appears twice in one object"),
        ('[{"symbol": "AAPL", "adx": NaN}]', r"NaN is not a number JSON allows"),
    ],
)
def test_json_errors(tmp_path: Path, content: str, message: str) -> None:
    with pytest.raises(ScanFileError, match=message) as caught:
        read_scan_file(text_file(tmp_path / "bad.json", content))
    assert "bad.json" in str(caught.value)


# --- CSV ----------------------------------------------------------------------------------------

def test_csv_with_byte_order_mark_blank_lines_quotes_and_short_rows(tmp_path: Path) -> None:
    content = ('\ufeffSymbol,Current price,Transaction type,Strategy\r\n'
               'AAPL,229.35,Buy,"Breakout, daily"\r\n'
               '\r\n'
               ',,,\r\n'
               'MSFT,507.20,Sell\r\n'
               'NVDA,181.75,Buy,"two\nlines",,\r\n')
    scan = read_scan_file(text_file(tmp_path / "scan.csv", content))
    assert scan.name is None
    assert scan.rows == (
        {"Symbol": "AAPL", "Current price": "229.35", "Transaction type": "Buy",
         "Strategy": "Breakout, daily"},
        {"Symbol": "MSFT", "Current price": "507.20", "Transaction type": "Sell", "Strategy": None},
        {"Symbol": "NVDA", "Current price": "181.75", "Transaction type": "Buy", "Strategy": "two\nlines"},
    )


def test_csv_saved_with_semicolons(tmp_path: Path) -> None:
    scan = read_scan_file(text_file(tmp_path / "scan.csv", "symbol;current_price;win_rate\nAAPL;229,35;\n"))
    assert scan.rows == ({"symbol": "AAPL", "current_price": "229,35", "win_rate": None},)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", r"is empty: line 1 must hold the column names"),
        ("\n , \n", r"is empty"),
        ("symbol,side\n", r"has a header but no rows"),
        ("symbol,side\nAAPL,Buy,extra\n", r"line 2: 3 values but the header has 2 columns"),
        ("symbol,side,symbol\nAAPL,Buy,MSFT\n", r"the column 'symbol' appears twice \(columns 1 and 3\)"),
        ("symbol,,side\nAAPL,x,Buy\n", r"line 2: a value in column 2, which has no name in the header"),
        ('symbol,side\nAAPL,"Buy"x\n', r"line 2: malformed CSV"),
    ],
)
def test_csv_errors(tmp_path: Path, content: str, message: str) -> None:
    with pytest.raises(ScanFileError, match=message):
        read_scan_file(text_file(tmp_path / "bad.csv", content))


def test_csv_blank_header_without_values_is_ignored(tmp_path: Path) -> None:
    scan = read_scan_file(text_file(tmp_path / "s.csv", "symbol,,side\nAAPL,,Buy\n"))
    assert scan.rows == ({"symbol": "AAPL", "side": "Buy"},)


def test_csv_that_is_not_utf8_names_the_byte(tmp_path: Path) -> None:
    with pytest.raises(ScanFileError, match=r"line 2, byte 24 is not UTF-8 \(b'\\xe9'\)\. Save the file"):
        read_scan_file(text_file(tmp_path / "latin.csv", "symbol,strategy\nAAPL,caf\u00e9\n", "latin-1"))


# --- XLSX ---------------------------------------------------------------------------------------

def test_xlsx_first_sheet_header_row_typed_values(tmp_path: Path) -> None:
    path = xlsx(tmp_path / "scan.xlsx", [
        ["Symbol", "Current price", "Transaction type", "Target Date", "Win Rate", "Strategy"],
        ["AAPL", 229.35, "Buy", date(2027, 1, 15), 64, "Momentum"],
        [None, None, None, None, None, None],
        ["MSFT", 507.2, "Sell", datetime(2027, 2, 19, 15, 30), None, "  "],
    ])
    scan = read_scan_file(path)
    assert scan.name is None
    assert scan.rows == (
        {"Symbol": "AAPL", "Current price": D("229.35"), "Transaction type": "Buy",
         "Target Date": date(2027, 1, 15), "Win Rate": D("64.0"), "Strategy": "Momentum"},
        {"Symbol": "MSFT", "Current price": D("507.2"), "Transaction type": "Sell",
         "Target Date": datetime(2027, 2, 19, 15, 30), "Win Rate": None, "Strategy": None},
    )


def test_xlsx_order_file_is_a_valid_scan_file(tmp_path: Path) -> None:
    # The order file has more columns than a scan (investment, Position ...): the core reports
    # those as unknown fields; here only the reading is checked.
    order = OrderFileRow("AAPL", D("229.35"), D("22935"), Side.BUY, MARKET, D(100), D("218.5"), D("252"),
                         date(2027, 1, 15), D("64"), D("27.4"), "Momentum")
    path = tmp_path / "orders.xlsx"
    path.write_bytes(ExcelOrderFileWriter().write([order]))
    [row] = read_scan_file(path).rows
    assert row["Symbol"] == "AAPL" and row["Stop Loss"] == D("218.5") and row["Position"] == D(100)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([], r"sheet 'Scan' is empty: row 1 must hold the column names"),
        ([["symbol", "side"]], r"has a header but no rows"),
        ([["symbol", None, "side"], ["AAPL", 5, "Buy"]], r"row 2: a value in column 2, which has no name"),
    ],
)
def test_xlsx_errors(tmp_path: Path, rows: Sequence[Sequence[object]], message: str) -> None:
    with pytest.raises(ScanFileError, match=message):
        read_scan_file(xlsx(tmp_path / "bad.xlsx", rows))


def test_xlsx_that_is_not_a_workbook(tmp_path: Path) -> None:
    with pytest.raises(ScanFileError, match=r"bad\.xlsx is not a readable \.xlsx workbook"):
        read_scan_file(text_file(tmp_path / "bad.xlsx", "symbol,side\nAAPL,Buy\n"))


# --- the file itself ----------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("scan.txt", r"unknown kind of scan file '\.txt'; tradebridge reads \.xlsx, \.csv, \.json\.$"),
        ("scan", r"unknown kind of scan file '\(no suffix\)'"),
        ("scan.xls", r"'\.xls'.* Save it from the spreadsheet program as \.xlsx\."),
    ],
)
def test_unknown_suffix(tmp_path: Path, name: str, message: str) -> None:
    with pytest.raises(ScanFileError, match=message):
        read_scan_file(text_file(tmp_path / name, "symbol\nAAPL\n"))


def test_missing_file_and_directory_are_unreadable(tmp_path: Path) -> None:
    with pytest.raises(ScanFileError, match=r"cannot read .*missing\.csv: No such file or directory"):
        read_scan_file(tmp_path / "missing.csv")
    (tmp_path / "folder.json").mkdir()
    with pytest.raises(ScanFileError, match=r"cannot read .*folder\.json: Is a directory"):
        read_scan_file(str(tmp_path / "folder.json"))


# --- the bundled samples ------------------------------------------------------------------------

def test_bundled_sample_scan_and_the_csv_example_hold_the_same_valid_rows() -> None:
    from_json = read_scan_file(sample_scan_path())
    from_csv = read_scan_file(EXAMPLES / "sample_scan.csv")
    assert from_json.name
    parsed_json, parsed_csv = parse_scan_rows(from_json.rows), parse_scan_rows(from_csv.rows)
    assert parsed_json.ok and parsed_csv.ok, (parsed_json.errors, parsed_csv.errors)
    assert parsed_json.rows == parsed_csv.rows
    rows = parsed_json.rows
    assert [row.symbol for row in rows] == ["AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "TSLA", "JPM"]
    assert {row.side for row in rows} == {Side.BUY, Side.SELL}
    assert all(row.target_date is not None and row.target_date.year == 2027 for row in rows)
    assert all(row.win_rate is not None and row.adx is not None and row.strategy for row in rows)
