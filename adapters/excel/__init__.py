"""The Excel order file: xlsxwriter writes it in memory, fastexcel reads it back."""

from adapters.excel.reader import ExcelOrderFileReader
from adapters.excel.writer import SHEET_NAME, ExcelOrderFileWriter

__all__ = ["SHEET_NAME", "ExcelOrderFileReader", "ExcelOrderFileWriter"]
