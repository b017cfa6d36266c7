"""The shortcuts of a frame of statuses at the cloud: stored numbers parsed once per text (and
exactly as stored), and rows converted for a multi-row statement in one flat pass (the same values
as row by row)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import chain

import pytest

from adapters.storage import status_batches
from adapters.storage.status_batches import _INSERT_REPORT, _REPORT_COLUMNS, _decimal
from adapters.storage.write_units import _compile

T0 = datetime(2026, 1, 2, 14, 30, tzinfo=UTC)


def test_a_stored_number_keeps_its_exact_text_and_is_parsed_once() -> None:
    assert (str(_decimal("10.0")), str(_decimal("10")), str(_decimal("100.50"))) == ("10.0", "10", "100.50")
    assert _decimal("10.0") is _decimal("10.0")
    from_postgresql = Decimal("3.10")
    assert _decimal(from_postgresql) is from_postgresql
    assert _decimal(7) == Decimal(7)


def test_the_parsed_numbers_kept_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(status_batches, "_MAX_DECIMALS_BY_TEXT", 8)
    monkeypatch.setattr(status_batches, "_DECIMALS_BY_TEXT", {})
    for number in range(50):
        assert _decimal(f"{number}.5") == Decimal(number) + Decimal("0.5")
    assert len(status_batches._DECIMALS_BY_TEXT) <= 8


def test_flat_conversion_gives_the_values_of_row_by_row_conversion() -> None:
    compiled = _compile(_INSERT_REPORT, _REPORT_COLUMNS)
    shared = T0 + timedelta(microseconds=6)
    rows = [
        (f"ref{number}", "working", Decimal(number) / 4, Decimal("100.50"), "", shared if number % 3 else
         T0 + timedelta(seconds=number))
        for number in range(11)
    ]
    flat = compiled.processed_flat(rows)
    assert flat == list(chain.from_iterable(compiled.processed(list(rows))))
    assert flat[:6] == ["ref0", "working", "0", "100.50", "", "2026-01-02 14:30:00.000000"]
