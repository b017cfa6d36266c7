"""The order file read by a reader that shares no code with fastexcel or xlsxwriter: the standard
library's zipfile and xml.etree, following the Office Open XML layout (workbook -> relationships
-> worksheet, shared strings, cell styles). If another program can open the file, so can this."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from xml.etree import ElementTree

from adapters.excel import ExcelOrderFileWriter
from core.order_file import MARKET, ORDER_FILE_COLUMNS, OrderFileRow
from core.values import Side

NS = {
    "m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
    "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
    "rel": "http://schemas.openxmlformats.org/package/2006/relationships",
}
EXCEL_EPOCH = date(1899, 12, 30)
D = Decimal

ROWS = [
    OrderFileRow("AAPL", D("187.25"), D("18725.00"), Side.BUY, MARKET, D(100), D("180.10"), D("200.00"),
                 date(2027, 1, 15), D("62.5"), D("25.3"), "Momentum Breakout"),
    OrderFileRow("MSFT", D("510.01"), D("5100.10"), Side.SELL, MARKET, D(10), D("530.00"), D("480.00"),
                 None, None, None, ""),
]


@dataclass(frozen=True)
class Cell:
    """One cell as stored: its text value, whether it is a number, and its number format / bold."""

    value: str
    is_number: bool
    number_format: str
    bold: bool


class StdlibXlsx:
    """Just enough of an .xlsx reader: sheet names, shared strings, styles and cell values."""

    def __init__(self, data: bytes) -> None:
        self.zip = zipfile.ZipFile(io.BytesIO(data))
        assert self.zip.testzip() is None
        workbook = self.xml("xl/workbook.xml")
        relations = {rel.get("Id"): rel.get("Target")
                     for rel in self.xml("xl/_rels/workbook.xml.rels").findall("rel:Relationship", NS)}
        self.sheets = {sheet.get("name"): "xl/" + str(relations[sheet.get(f"{{{NS['r']}}}id")]).lstrip("/")
                       for sheet in workbook.findall("m:sheets/m:sheet", NS)}
        self.strings = ["".join(t.text or "" for t in item.iter(f"{{{NS['m']}}}t"))
                        for item in self.xml("xl/sharedStrings.xml").findall("m:si", NS)]
        styles = self.xml("xl/styles.xml")
        formats = {fmt.get("numFmtId"): fmt.get("formatCode")
                   for fmt in styles.findall("m:numFmts/m:numFmt", NS)}
        fonts = [font.find("m:b", NS) is not None for font in styles.findall("m:fonts/m:font", NS)]
        self.styles = [(formats.get(xf.get("numFmtId")) or "General", fonts[int(xf.get("fontId", "0"))])
                       for xf in styles.findall("m:cellXfs/m:xf", NS)]

    def xml(self, name: str) -> ElementTree.Element:
        return ElementTree.fromstring(self.zip.read(name))

    def rows(self, sheet: str) -> dict[int, dict[str, Cell]]:
        """Row number -> column letter -> cell, for the cells that hold something."""
        table: dict[int, dict[str, Cell]] = {}
        for row in self.xml(self.sheets[sheet]).findall("m:sheetData/m:row", NS):
            cells: dict[str, Cell] = {}
            for cell in row.findall("m:c", NS):
                raw = cell.findtext("m:v", default="", namespaces=NS)
                kind = cell.get("t", "n")
                value = self.strings[int(raw)] if kind == "s" else raw
                number_format, bold = self.styles[int(cell.get("s", "0"))]
                column = "".join(ch for ch in str(cell.get("r")) if ch.isalpha())
                cells[column] = Cell(value, kind == "n", number_format, bold)
            table[int(str(row.get("r")))] = cells
        return table


def column_letter(index: int) -> str:
    return chr(ord("A") + index)


def test_the_sheet_is_called_orders_and_the_header_is_exact_bold_and_frozen() -> None:
    xlsx = StdlibXlsx(ExcelOrderFileWriter().write(ROWS))
    assert list(xlsx.sheets) == ["Orders"]
    header = xlsx.rows("Orders")[1]
    assert [header[column_letter(i)].value for i in range(len(header))] == list(ORDER_FILE_COLUMNS)
    assert all(cell.bold and not cell.is_number for cell in header.values())
    pane = xlsx.xml(xlsx.sheets["Orders"]).find("m:sheetViews/m:sheetView/m:pane", NS)
    assert pane is not None
    assert (pane.get("ySplit"), pane.get("state"), pane.get("topLeftCell")) == ("1", "frozen", "A2")


def test_values_are_numbers_with_formats_dates_are_excel_dates_and_text_is_text() -> None:
    xlsx = StdlibXlsx(ExcelOrderFileWriter().write(ROWS))
    cells = xlsx.rows("Orders")[2]
    row = {ORDER_FILE_COLUMNS[ord(letter) - ord("A")]: cell for letter, cell in cells.items()}
    for column in ("Current price", "investment in $", "Stop Loss", "Take Profit"):
        assert row[column].is_number and row[column].number_format == "#,##0.00", column
    assert [D(row[c].value) for c in ("Current price", "investment in $", "Stop Loss", "Take Profit")] == [
        D("187.25"), D("18725"), D("180.1"), D("200")]
    position = row["Position"]
    assert (position.value, position.is_number, position.number_format) == ("100", True, "#,##0")
    target = row["Target Date"]
    assert target.is_number and target.number_format == "yyyy-mm-dd"
    assert EXCEL_EPOCH + timedelta(days=int(target.value)) == date(2027, 1, 15)
    assert (D(row["Win Rate"].value), D(row["ADX"].value)) == (D("62.5"), D("25.3"))
    text_columns = ("Symbol", "Transaction type", "Order Type", "Strategy")
    text = {c: (row[c].value, row[c].is_number) for c in text_columns}
    assert text == {"Symbol": ("AAPL", False), "Transaction type": ("Buy", False),
                    "Order Type": ("Market", False), "Strategy": ("Momentum Breakout", False)}


def test_empty_optional_values_are_absent_cells() -> None:
    second = StdlibXlsx(ExcelOrderFileWriter().write(ROWS)).rows("Orders")[3]
    assert second["D"].value == "Sell"
    assert sorted(second) == [column_letter(i) for i in range(8)]  # no Target Date .. Strategy cells
