"""Sizing: the three methods, Wilder's ATR against a hand computation, and clamping to limits."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from core.risk import RiskLimits
from core.scans import ScanRow
from core.sizing import (
    AtrRiskSizer,
    FixedInvestmentSizer,
    PercentOfEquitySizer,
    Sizer,
    atr_risk,
    clamp_to_limits,
    fixed_investment,
    percent_of_equity,
    true_ranges,
    wilder_atr,
)
from core.values import Bar, Side

D = Decimal
T0 = datetime(2026, 1, 2, tzinfo=UTC)


def bar(day: int, high: str, low: str, close: str) -> Bar:
    return Bar(T0 + timedelta(days=day), open=D(low), high=D(high), low=D(low), close=D(close))


def row(price: str = "50", atr: str | None = "2") -> ScanRow:
    p = D(price)
    return ScanRow("AAPL", p, Side.BUY, p - 1, p + 1, atr=D(atr) if atr else None)


def test_fixed_investment_rounds_down_to_whole_shares() -> None:
    assert fixed_investment(D("33.33"), D(1000)) == 30
    assert fixed_investment(D(100), D(1000)) == 10
    assert fixed_investment(D(2000), D(1000)) == 0


def test_percent_of_equity() -> None:
    assert percent_of_equity(D(50), D(100_000), D("0.05")) == 100
    assert percent_of_equity(D(51), D(100_000), D("0.05")) == 98


def test_atr_risk() -> None:
    # risk 1% of 100,000 = 1,000 dollars on a stop 2 ATRs (2 x 2.5 = 5 dollars) away: 200 shares.
    assert atr_risk(D(100_000), D("0.01"), D("2.5")) == 200
    assert atr_risk(D(100_000), D("0.01"), D("2.5"), atr_multiple=D(3)) == 133


@pytest.mark.parametrize(
    ("call", "message"),
    [(lambda: fixed_investment(D(0), D(10)), "price"),
     (lambda: fixed_investment(D(1), D(-10)), "investment"),
     (lambda: percent_of_equity(D(1), D(10), D(-1)), "pct"),
     (lambda: atr_risk(D(1), D(1), D(0)), "atr")],
)
def test_bad_inputs_are_named(call: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


# Hand computation, period 3:
#   true ranges from bar 1: 1.5 (high-low), 0.8 (high-low), 1.8 (gap up: 12 - 10.2), 1.0, 1.0 (gap down)
#   first ATR = (1.5 + 0.8 + 1.8) / 3 = 41/30
#   then (41/30 * 2 + 1.0) / 3 = 56/45, then (56/45 * 2 + 1.0) / 3 = 157/135 = 1.16296296...
HAND_BARS = [
    bar(0, "10", "9", "9.5"),
    bar(1, "11", "9.5", "10.5"),
    bar(2, "10.8", "10", "10.2"),
    bar(3, "12", "10.6", "11.8"),
    bar(4, "11.9", "10.9", "11"),
    bar(5, "10.5", "10", "10.2"),
]


def test_true_ranges_by_hand() -> None:
    assert true_ranges(HAND_BARS) == [D("1.5"), D("0.8"), D("1.8"), D("1.0"), D("1.0")]


def test_wilder_atr_by_hand() -> None:
    assert abs(wilder_atr(HAND_BARS, period=3) - D(157) / D(135)) < D("1e-25")
    assert wilder_atr(HAND_BARS[:4], period=3) == D(41) / D(30)


def test_wilder_atr_of_a_constant_range_is_that_range() -> None:
    bars = [bar(i, "11", "10", "10.5") for i in range(30)]
    assert wilder_atr(bars) == D(1)


def test_wilder_atr_needs_period_plus_one_bars() -> None:
    bars = [bar(i, "11", "10", "10.5") for i in range(14)]
    with pytest.raises(ValueError, match=r"needs at least 15 bars \(14 true ranges\), got 14"):
        wilder_atr(bars)
    with pytest.raises(ValueError, match="period"):
        wilder_atr(bars, period=0)


@pytest.mark.parametrize(
    ("quantity", "price", "limits", "expected"),
    [("500", "10", RiskLimits.unlimited(), "500"),
     ("500.9", "10", RiskLimits.unlimited(), "500"),
     ("-3", "10", RiskLimits.unlimited(), "0"),
     ("500", "10", RiskLimits(max_order_quantity=D(300), max_order_notional=None), "300"),
     ("500", "10", RiskLimits(max_order_quantity=None, max_order_notional=D(2_005)), "200"),
     ("500", "10", RiskLimits(max_order_quantity=D(150), max_order_notional=D(2_000)), "150"),
     ("500", "3000", RiskLimits(max_order_quantity=None, max_order_notional=D(2_000)), "0")],
)
def test_clamp_to_limits(quantity: str, price: str, limits: RiskLimits, expected: str) -> None:
    assert clamp_to_limits(D(quantity), D(price), limits) == D(expected)


def test_sizers() -> None:
    sizers: list[tuple[Sizer, Decimal]] = [
        (FixedInvestmentSizer(D(1000)), D(20)),
        (PercentOfEquitySizer(D("0.01")), D(20)),
        (AtrRiskSizer(D("0.01")), D(250)),  # 1,000 at risk / (2 x 2)
    ]
    for sizer, expected in sizers:
        assert sizer.size(row(), D(100_000)) == expected


def test_atr_sizer_says_what_is_missing() -> None:
    with pytest.raises(ValueError, match="AAPL has no atr"):
        AtrRiskSizer(D("0.01")).size(row(atr=None), D(100_000))


def test_sizers_refuse_bad_settings() -> None:
    with pytest.raises(ValueError, match="investment"):
        FixedInvestmentSizer(D(-1))
    with pytest.raises(ValueError, match="atr_multiple"):
        AtrRiskSizer(D("0.01"), D(0))
