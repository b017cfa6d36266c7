"""Properties of sizing: whole shares, never negative, never above the per-order limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from core.risk import RiskLimits
from core.scans import ScanRow
from core.sizing import (
    AtrRiskSizer,
    FixedInvestmentSizer,
    PercentOfEquitySizer,
    Sizer,
    clamp_to_limits,
    true_ranges,
    wilder_atr,
)
from core.values import Bar, Side

D = Decimal
T0 = datetime(2026, 1, 2, tzinfo=UTC)

prices = st.integers(1, 10**8).map(lambda cents: D(cents) / 100)  # 0.01 .. 1,000,000.00
amounts = st.integers(0, 10**9).map(lambda cents: D(cents) / 100)
fractions = st.integers(0, 10_000).map(lambda bp: D(bp) / 10_000)
limit_sets = st.builds(
    lambda q, n: RiskLimits(max_order_quantity=q, max_order_notional=n),
    st.none() | st.integers(0, 100_000).map(D) | st.decimals(0, 100_000, places=2),
    st.none() | amounts,
)
sizers: st.SearchStrategy[Sizer] = st.one_of(
    st.builds(FixedInvestmentSizer, amounts),
    st.builds(PercentOfEquitySizer, fractions),
    st.builds(AtrRiskSizer, fractions, st.integers(1, 5).map(D)),
)


def is_whole(q: Decimal) -> bool:
    return q == q.to_integral_value()


@given(st.decimals(-10**6, 10**7, places=3), prices, limit_sets)
def test_clamp_is_whole_non_negative_and_within_every_limit(
    quantity: Decimal, price: Decimal, limits: RiskLimits
) -> None:
    shares = clamp_to_limits(quantity, price, limits)
    assert is_whole(shares) and shares >= 0
    assert shares <= max(quantity, D(0))
    if limits.max_order_quantity is not None:
        assert shares <= limits.max_order_quantity
    if limits.max_order_notional is not None:
        assert shares * price <= limits.max_order_notional
    # ...and it is the largest such number: one more share breaks something.
    more = shares + 1
    assert (more > quantity
            or (limits.max_order_quantity is not None and more > limits.max_order_quantity)
            or (limits.max_order_notional is not None and more * price > limits.max_order_notional))


@given(sizers, prices, amounts, st.integers(1, 10**6).map(lambda c: D(c) / 100), limit_sets)
def test_every_sizer_then_clamp_gives_whole_shares_within_the_limits(
    sizer: Sizer, price: Decimal, equity: Decimal, atr: Decimal, limits: RiskLimits
) -> None:
    row = ScanRow("AAPL", price + 1, Side.BUY, price, price + 2, atr=atr)
    raw = sizer.size(row, equity)
    assert is_whole(raw) and raw >= 0
    shares = clamp_to_limits(raw, row.current_price, limits)
    assert is_whole(shares) and 0 <= shares <= raw
    if limits.max_order_quantity is not None:
        assert shares <= limits.max_order_quantity
    if limits.max_order_notional is not None:
        assert shares * row.current_price <= limits.max_order_notional


@st.composite
def bar_series(draw: st.DrawFn) -> list[Bar]:
    bars = []
    for day in range(draw(st.integers(2, 40))):
        low = draw(prices)
        high = low + draw(st.integers(0, 10_000).map(lambda c: D(c) / 100))
        close = draw(st.sampled_from((low, high, (low + high) / 2)))
        bars.append(Bar(T0 + timedelta(days=day), low, high, low, close))
    return bars


@given(bar_series(), st.integers(1, 20))
def test_wilder_atr_lies_between_the_smallest_and_largest_true_range(bars: list[Bar], period: int) -> None:
    if len(bars) < period + 1:
        return
    ranges = true_ranges(bars)
    atr = wilder_atr(bars, period)
    tolerance = D("1e-20")
    assert min(ranges) - tolerance <= atr <= max(ranges) + tolerance
