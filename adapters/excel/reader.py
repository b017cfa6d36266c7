"""Reads an order file (.xlsx) back into OrderFileRows, with fastexcel.

fastexcel loads each column with one type. Every row is sampled to choose it
(`schema_sample_rows=None`). With the default of 1,000 sampled rows, a text cell further down a
number column would be read as empty. A column that mixes numbers and text is loaded as text, and
the core then names the cell that is not a number (the numbers of such a column come as text
with at most nine decimals, more than the cents a price keeps). Numbers in a pure number column arrive as
floats. `repr` turns each float back into the shortest decimal, so a price written as 187.25 reads
back as 187.25. fastexcel reads the words "n/a", "NA", "null", "None" and "#N/A" in a number column
as empty cells: for the optional Win Rate and ADX that is what they mean, and a required cell
holding one is reported as empty.
"""

from __future__ import annotations

from typing import Final

import fastexcel

from adapters.excel.writer import SHEET_NAME
from core.order_file import (
    HEADER_ROW_NUMBER,
    OrderFileError,
    OrderFileRow,
    check_header,
    is_blank_row,
    row_from_cells,
)

# fastexcel names a column without a header itself; such a column has no name in the file.
_GENERATED: Final = "generated"


class ExcelOrderFileReader:
    """OrderFileReader for .xlsx order files: the sheet "Orders" (or the first sheet, if a program
    renamed it), header in row 1, one order per row; blank rows are skipped."""

    def read(self, data: bytes) -> list[OrderFileRow]:
        """The orders of the file, in file order; OrderFileError if the file does not match."""
        sheet = _load_sheet(data)
        columns = sheet.available_columns()
        # fastexcel renames a repeated header ("Symbol" -> "Symbol_1"), so a repeat shows up as an
        # unexpected column in the error message.
        check_header(["" if column.column_name_from == _GENERATED else column.name for column in columns])
        try:
            frame = sheet.to_polars()
        except fastexcel.FastExcelError as error:
            raise _unreadable(error) from error
        values = [frame.get_column(name).to_list() for name in frame.columns]
        rows: list[OrderFileRow] = []
        for index, cells in enumerate(zip(*values, strict=True)):
            if not is_blank_row(cells):
                rows.append(row_from_cells(HEADER_ROW_NUMBER + 1 + index, cells))
        return rows


def _load_sheet(data: bytes) -> fastexcel.ExcelSheet:
    try:
        workbook = fastexcel.read_excel(data)
        names = workbook.sheet_names
        if not names:
            raise OrderFileError("the order file has no sheet. Generate the file again from its batch.")
        sheet = workbook.load_sheet(SHEET_NAME if SHEET_NAME in names else 0, header_row=0,
                                    schema_sample_rows=None, dtype_coercion="coerce")
    except fastexcel.FastExcelError as error:
        raise _unreadable(error) from error
    if isinstance(sheet, fastexcel.ExcelSheet):
        return sheet
    raise OrderFileError("the order file could not be loaded as a sheet")  # eager loading is off


def _unreadable(error: Exception) -> OrderFileError:
    reason = str(error).splitlines()[0] if str(error) else type(error).__name__
    return OrderFileError(f"the order file is not a readable .xlsx workbook ({reason}). Use the file "
                          f"tradebridge wrote, or save it again from the spreadsheet program as .xlsx.")
