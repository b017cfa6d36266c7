"""Scan rows: both spellings of the fields, every rule, and every bad row reported."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from core.scans import InvalidScanRow, ScanRow, ScanRowError, parse_scan_rows
from core.values import Side

D = Decimal


def api_row(**changes: object) -> dict[str, object]:
    raw: dict[str, object] = {
        "symbol": "AAPL", "current_price": "100", "side": "Buy", "stop_loss": "95", "take_profit": "110",
        "target_date": "2026-03-31", "win_rate": 65, "adx": "28.5", "strategy": "breakout",
        "confidence": 0.8, "atr": "2.1",
    }
    raw.update(changes)
    return {k: v for k, v in raw.items() if v is not ...}


def test_an_api_row() -> None:
    result = parse_scan_rows([api_row()])
    assert result.ok
    assert result.rows == (ScanRow("AAPL", D(100), Side.BUY, D(95), D(110), date(2026, 3, 31), D(65),
                                   D("28.5"), "breakout", D("0.8"), D("2.1")),)


def test_the_excel_column_names() -> None:
    raw = {"Symbol": " msft ", "Current price": 400.5, "Transaction type": "SELL", "Stop Loss": 420,
           "Take Profit": 380, "Target Date": datetime(2026, 4, 1, 0, 0), "Win Rate": None, "ADX": 31,
           "Strategy": "mean reversion"}
    result = parse_scan_rows([raw])
    assert result.errors == ()
    (row,) = result.rows
    assert row == ScanRow("MSFT", D("400.5"), Side.SELL, D(420), D(380), date(2026, 4, 1), None, D(31),
                          "mean reversion")


def test_only_the_required_fields() -> None:
    raw = {"symbol": "BRK.B", "current_price": 1, "side": "sell", "stop_loss": 2, "take_profit": "0.5"}
    (row,) = parse_scan_rows([raw]).rows
    assert (row.target_date, row.win_rate, row.adx, row.strategy, row.confidence, row.atr) == (
        None, None, None, "", None, None)


def test_floats_are_converted_through_their_text_not_their_binary_value() -> None:
    (row,) = parse_scan_rows([api_row(current_price=100.1, stop_loss=0.1, take_profit=200.3)]).rows
    assert row.current_price == D("100.1") and row.stop_loss == D("0.1")
    assert all(isinstance(v, Decimal) for v in (row.current_price, row.win_rate, row.confidence))


@pytest.mark.parametrize(
    "value", ["2026-03-31", " 2026-03-31 ", "2026-03-31T15:00:00", "2026-03-31T15:00:00+00:00",
              date(2026, 3, 31), datetime(2026, 3, 31, 15, tzinfo=UTC)],
)
def test_target_date_forms(value: object) -> None:
    assert parse_scan_rows([api_row(target_date=value)]).rows[0].target_date == date(2026, 3, 31)


@pytest.mark.parametrize("side", ["Buy", "BUY", "buy", " bUy "])
def test_side_any_case(side: str) -> None:
    assert parse_scan_rows([api_row(side=side)]).rows[0].side is Side.BUY


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [({"current_price": "0"}, "current_price", "above 0"),
     ({"stop_loss": "-1"}, "stop_loss", "above 0"),
     ({"current_price": "abc"}, "current_price", "must be a number"),
     ({"current_price": True}, "current_price", "boolean"),
     ({"side": "Hold"}, "side", "Buy or Sell"),
     ({"side": 1}, "side", "Buy or Sell"),
     ({"symbol": "AA/PL"}, "symbol", "1 to 12 characters"),
     ({"symbol": "ABCDEFGHIJKLM"}, "symbol", "1 to 12 characters"),
     ({"symbol": 7}, "symbol", "text"),
     ({"target_date": "next week"}, "target_date", "a date like"),
     ({"win_rate": "101"}, "win_rate", "percentage from 0 to 100"),
     ({"win_rate": "-1"}, "win_rate", "percentage from 0 to 100"),
     ({"adx": "100.5"}, "adx", "0 to 100"),
     ({"confidence": "1.01"}, "confidence", "fraction from 0 to 1"),
     ({"atr": "0"}, "atr", "above 0"),
     ({"strategy": 5}, "strategy", "text"),
     ({"take_profit": ...}, "take_profit", "required"),
     ({"stop_loss": ""}, "stop_loss", "required"),
     ({"stpo_loss": "90"}, "stpo_loss", "did you mean stop_loss")],
)
def test_every_rule(changes: dict[str, object], field: str, words: str) -> None:
    result = parse_scan_rows([api_row(**changes)])
    assert result.rows == ()
    assert [e.field for e in result.errors] == [field], result.errors
    assert words in result.errors[0].message
    assert result.errors[0].row == 1


@pytest.mark.parametrize(
    ("side", "stop", "target", "fields"),
    [("Buy", "100", "110", ["stop_loss"]), ("Buy", "95", "100", ["take_profit"]),
     ("Buy", "105", "95", ["stop_loss", "take_profit"]), ("Sell", "95", "90", ["stop_loss"]),
     ("Sell", "105", "99", []), ("Sell", "105", "100", ["take_profit"])],
)
def test_stop_and_target_on_the_right_sides(side: str, stop: str, target: str, fields: list[str]) -> None:
    result = parse_scan_rows([api_row(side=side, stop_loss=stop, take_profit=target)])
    assert [e.field for e in result.errors] == fields
    for error in result.errors:
        assert f"a {side} needs" in error.message
        assert f"stop_loss {stop}, current_price 100, take_profit {target}" in error.message


def test_every_bad_row_is_reported_and_the_good_ones_kept() -> None:
    raws = [api_row(symbol="AAPL"), api_row(symbol="MSFT", current_price="x"), api_row(symbol="IBM"),
            api_row(symbol="TSLA", side="Hold", atr="-1"), "not a row", api_row(symbol="aapl")]
    result = parse_scan_rows(raws)  # type: ignore[arg-type]
    assert [r.symbol for r in result.rows] == ["AAPL", "IBM"]
    assert [(e.row, e.field) for e in result.errors] == [
        (2, "current_price"), (4, "side"), (4, "atr"), (5, ""), (6, "symbol")]
    assert "AAPL already appears in row 1" in result.errors[-1].message
    assert str(result.errors[0]).startswith("row 2, current_price: ")


def test_a_duplicate_of_a_bad_row_is_still_a_duplicate() -> None:
    result = parse_scan_rows([api_row(current_price="x"), api_row()])
    assert [(e.row, e.field) for e in result.errors] == [(1, "current_price"), (2, "symbol")]


def test_a_field_given_twice_is_an_error() -> None:
    result = parse_scan_rows([api_row(**{"Stop Loss": "94"})])
    assert [e.field for e in result.errors] == ["Stop Loss"]
    assert "given twice" in result.errors[0].message


def test_every_problem_of_a_row_is_reported() -> None:
    result = parse_scan_rows([{"symbol": "", "side": "x", "bogus": 1}])
    assert sorted(e.field for e in result.errors) == sorted(
        ["bogus", "symbol", "current_price", "stop_loss", "take_profit", "side"])


def test_an_empty_scan_has_no_rows_and_no_errors() -> None:
    assert parse_scan_rows([]) == parse_scan_rows(()) and parse_scan_rows([]).ok


def test_a_row_built_directly_is_validated_too() -> None:
    assert ScanRow(" aapl ", D(10), Side.BUY, D(9), D(11)).symbol == "AAPL"
    with pytest.raises(InvalidScanRow) as caught:
        ScanRow("AAPL", D(10), Side.BUY, D(11), D(9), win_rate=D(200))
    assert [f for f, _m in caught.value.problems] == ["stop_loss", "take_profit", "win_rate"]
    with pytest.raises(ValueError, match="symbol"):
        ScanRow("", D(10), Side.BUY, D(9), D(11))


def test_scan_row_error_text() -> None:
    assert str(ScanRowError(3, "adx", "bad")) == "row 3, adx: bad"
    assert str(ScanRowError(3, "", "bad")) == "row 3: bad"
