"""Reads a scan from an .xlsx, .csv or .json file into raw rows, for `tradebridge scans import`.

Only the file's structure is checked here: that it can be read, has a header (or row objects),
has rows, and that no value would be lost (a repeated column, a value under no header, a repeated
JSON key). The fields themselves are validated by `core.scans.parse_scan_rows`, which accepts the
API names (symbol, current_price, side, ...) and the Excel headers (Symbol, Current price,
Transaction type, ...). Keys are kept exactly as written in the file; empty cells become None.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Final

import fastexcel

RawRow = dict[str, object]

SUFFIXES: Final = (".xlsx", ".csv", ".json")
_JSON_KEYS: Final = ("name", "rows")
_GENERATED: Final = "generated"  # fastexcel's mark for a column it named because the header was blank


class ScanFileError(ValueError):
    """A scan file that cannot be read as a scan; the message says which file, what and where."""


@dataclass(frozen=True, slots=True)
class ScanFile:
    """The rows of a scan file, as written in it, and the scan's name if the file gives one
    (only a JSON object `{"name": ..., "rows": [...]}` does).

    Values are what the format holds: text in a CSV; text, Decimal, bool, date or datetime in a
    workbook; text, int, Decimal, bool (and whatever else was written) in JSON. Never a float.
    In a workbook's number column fastexcel reads the words "n/a", "NA", "null", "None" and "#N/A"
    as empty cells, and formula errors (#DIV/0!) as empty too.
    """

    name: str | None
    rows: tuple[RawRow, ...]


def read_scan_file(path: str | os.PathLike[str]) -> ScanFile:
    """Read the scan in `path`, choosing the format by its suffix (.xlsx, .csv or .json).

    Raises ScanFileError for an unknown suffix, a file that cannot be read, no header, no rows,
    or malformed content (with the line and column for JSON, the line for CSV).
    """
    file = Path(path)
    readers: dict[str, Callable[[Path, bytes], ScanFile]] = {
        ".xlsx": _read_xlsx, ".csv": _read_csv, ".json": _read_json,
    }
    suffix = file.suffix.lower()
    reader = readers.get(suffix)
    if reader is None:
        hint = " Save it from the spreadsheet program as .xlsx." if suffix in (".xls", ".ods") else ""
        raise ScanFileError(f"{file}: unknown kind of scan file {file.suffix or '(no suffix)'!r}; "
                            f"tradebridge reads {', '.join(SUFFIXES)}.{hint}")
    try:
        data = file.read_bytes()
    except OSError as error:
        raise ScanFileError(f"cannot read {file}: {error.strerror or error}. Check the path and "
                            f"that the file is readable.") from error
    return reader(file, data)


def _read_xlsx(file: Path, data: bytes) -> ScanFile:
    try:
        workbook = fastexcel.read_excel(data)
        sheet_name = workbook.sheet_names[0] if workbook.sheet_names else None
        if sheet_name is None:
            raise ScanFileError(f"{file}: the workbook has no sheet")
        # Every row is sampled for the column types: with fewer, a text cell further down a
        # number column would silently read as empty.
        sheet = workbook.load_sheet(0, header_row=0, schema_sample_rows=None, dtype_coercion="coerce")
        if not isinstance(sheet, fastexcel.ExcelSheet):
            raise ScanFileError(f"{file}: the sheet could not be loaded")
        columns = sheet.available_columns()
        frame = sheet.to_polars()
    except fastexcel.FastExcelError as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ScanFileError(f"{file} is not a readable .xlsx workbook ({reason}). Save it again from "
                            f"the spreadsheet program as .xlsx.") from error
    where = f"{file}, sheet {sheet_name!r}"
    if not columns:
        raise ScanFileError(f"{where} is empty: row 1 must hold the column names and each row below "
                            f"one scan row.")
    names = ["" if column.column_name_from == _GENERATED else column.name for column in columns]
    values = [[_cell(value) for value in frame.get_column(column).to_list()] for column in frame.columns]
    table = list(zip(*values, strict=True))
    # Row 1 holds the header, so the first scan row is sheet row 2.
    rows = _rows_from_columns(where, "row", names, table, range(2, 2 + len(table)))
    return ScanFile(None, rows)


def _cell(value: object) -> object:
    if isinstance(value, float):
        return Decimal(repr(value))  # the shortest decimal that is this float: 187.25, not 187.2500000001
    if isinstance(value, datetime):
        # A spreadsheet has no date-only cells: a date is a date-time at midnight.
        return value.date() if value.time() == time(0) else value
    return _blank_to_none(value)


def _read_csv(file: Path, data: bytes) -> ScanFile:
    text = _decode(file, data)
    lines = text.splitlines()
    first = next((line for line in lines if line.strip()), "")
    # Excel in many European locales saves "CSV" with semicolons.
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    records: list[tuple[int, list[str]]] = []
    try:
        for record in reader:
            records.append((reader.line_num, record))
    except csv.Error as error:
        raise ScanFileError(f"{file}, line {reader.line_num}: malformed CSV ({error}). Save it again "
                            f"from the spreadsheet program as CSV UTF-8.") from error
    records = [(line, record) for line, record in records if not all(not cell.strip() for cell in record)]
    if not records:
        raise ScanFileError(f"{file} is empty: line 1 must hold the column names and each line below "
                            f"one scan row.")
    (_, header), body = records[0], records[1:]
    width = len(header)
    table: list[tuple[object, ...]] = []
    for line, record in body:
        if len(record) > width and any(cell.strip() for cell in record[width:]):
            raise ScanFileError(f"{file}, line {line}: {len(record)} values but the header has {width} "
                                f"columns. Remove the extra values or add a column name for them.")
        table.append(tuple(_blank_to_none(cell) for cell in (record + [""] * width)[:width]))
    return ScanFile(None, _rows_from_columns(str(file), "line", header, table, [line for line, _ in body]))


def _decode(file: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")  # a leading byte-order mark, as Excel writes, is dropped
    except UnicodeDecodeError as error:
        bad, line = data[error.start:error.start + 1], data.count(b"\n", 0, error.start) + 1
        raise ScanFileError(f"{file}: line {line}, byte {error.start} is not UTF-8 ({bad!r}). Save the file "
                            f"as UTF-8 (in Excel: CSV UTF-8).") from error


def _rows_from_columns(where: str, unit: str, names: Sequence[str], table: Sequence[Sequence[object]],
                       numbers: Sequence[int]) -> tuple[RawRow, ...]:
    """Rows as dicts keyed by header, checking that no value is lost to a blank or repeated header.
    `numbers` are the file's own numbers of the table rows (`unit` says whether lines or rows)."""
    keep: list[int] = []
    seen: dict[str, int] = {}
    for position, name in enumerate(names):
        if not name.strip():
            used = next((i for i, row in enumerate(table) if row[position] is not None), None)
            if used is not None:
                raise ScanFileError(f"{where}, {unit} {numbers[used]}: a value in column {position + 1}, "
                                    f"which has no name in the header. Name the column or delete the value.")
            continue
        if name in seen:
            raise ScanFileError(f"{where}: the column {name!r} appears twice (columns {seen[name] + 1} and "
                                f"{position + 1}). Keep one.")
        seen[name] = position
        keep.append(position)
    rows = tuple({names[position]: row[position] for position in keep}
                 for row in table if any(value is not None for value in row))
    if not rows:
        raise ScanFileError(f"{where} has a header but no rows. Add one row per symbol below the header.")
    return rows


def _read_json(file: Path, data: bytes) -> ScanFile:
    text = _decode(file, data)
    try:
        document = json.loads(text, parse_float=Decimal, parse_constant=_refuse_constant,
                              object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as error:
        raise ScanFileError(f"{file} is not valid JSON: {error.msg} at line {error.lineno}, column "
                            f"{error.colno}.") from error
    except ValueError as error:  # raised by the hooks, which have no position
        raise ScanFileError(f"{file}: {error}.") from error
    name: object = None
    if isinstance(document, dict):
        unknown = [key for key in document if key not in _JSON_KEYS]
        if unknown or "rows" not in document:
            problem = f"unknown keys {', '.join(map(repr, unknown))}" if unknown else "no 'rows' key"
            raise ScanFileError(f"{file}: the scan object has {problem}; write {{\"name\": \"...\", "
                                f"\"rows\": [...]}} or just the list of rows.")
        name, rows = document.get("name"), document["rows"]
        if name is not None and not isinstance(name, str):
            raise ScanFileError(f"{file}: \"name\" must be text, got {name!r}")
    else:
        rows = document
    if not isinstance(rows, list):
        raise ScanFileError(f"{file}: the rows must be a JSON list of objects, got {type(rows).__name__}")
    if not rows:
        raise ScanFileError(f"{file} has no rows. Add one object per symbol.")
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            raise ScanFileError(f"{file}: row {number} must be an object like {{\"symbol\": \"AAPL\", ...}}, "
                                f"got {json.dumps(row, default=str)[:60]}")
    cleaned = tuple({key: _blank_to_none(value) for key, value in row.items()} for row in rows)
    return ScanFile((name.strip() or None) if isinstance(name, str) else None, cleaned)


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result: dict[str, object] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"the key {key!r} appears twice in one object; keep one")
        result[key] = value
    return result


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not a number JSON allows; write the value or leave the field out")


def _blank_to_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


__all__ = ["ScanFile", "ScanFileError", "read_scan_file"]
