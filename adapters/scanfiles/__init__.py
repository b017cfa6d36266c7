"""Scan files: a scan as .xlsx, .csv or .json, read into raw rows for `core.scans.parse_scan_rows`."""

from adapters.scanfiles.reader import ScanFile, ScanFileError, read_scan_file

__all__ = ["ScanFile", "ScanFileError", "read_scan_file"]
