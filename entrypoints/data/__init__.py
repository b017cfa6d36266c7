"""Data files bundled with tradebridge: the sample scan that `tradebridge demo` loads."""

from __future__ import annotations

from pathlib import Path


def sample_scan_path() -> Path:
    """The bundled sample scan (JSON): eight large caps, Buys and Sells, for the demo."""
    return Path(__file__).with_name("sample_scan.json")
