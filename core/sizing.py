"""Position sizing: how many whole shares an idea gets, never above the per-order limits.

The three methods of the seeds: a fixed dollar investment, a percent of equity, and ATR risk
(risk a fraction of equity on a stop `atr_multiple` ATRs away), with Wilder's ATR. `Sizer` is the
port plugins implement to add their own (`tradebridge_register_sizers`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import pairwise
from typing import Protocol

from core.risk import RiskLimits
from core.scans import ScanRow
from core.values import ZERO, Bar, whole_shares

TWO = Decimal(2)


def _require_positive(value: Decimal, what: str) -> None:
    if value <= ZERO:
        raise ValueError(f"{what} must be above 0, got {value}")


def _require_non_negative(value: Decimal, what: str) -> None:
    if value < ZERO:
        raise ValueError(f"{what} must be 0 or more, got {value}")


def fixed_investment(price: Decimal, investment: Decimal) -> Decimal:
    """Whole shares that `investment` dollars buy at `price` (rounded down)."""
    _require_positive(price, "price")
    _require_non_negative(investment, "investment")
    return whole_shares(investment / price)


def percent_of_equity(price: Decimal, equity: Decimal, pct: Decimal) -> Decimal:
    """Whole shares worth `pct` of `equity`; `pct` is a fraction (0.05 means 5%)."""
    _require_positive(price, "price")
    _require_non_negative(equity, "equity")
    _require_non_negative(pct, "pct")
    return whole_shares(equity * pct / price)


def atr_risk(equity: Decimal, risk_pct: Decimal, atr: Decimal, atr_multiple: Decimal = TWO) -> Decimal:
    """Whole shares such that a stop `atr_multiple` ATRs away loses `risk_pct` of `equity`:
    shares = equity * risk_pct / (atr * atr_multiple). `risk_pct` is a fraction (0.01 = 1%)."""
    _require_non_negative(equity, "equity")
    _require_non_negative(risk_pct, "risk_pct")
    _require_positive(atr, "atr")
    _require_positive(atr_multiple, "atr_multiple")
    return whole_shares(equity * risk_pct / (atr * atr_multiple))


def true_ranges(bars: Sequence[Bar]) -> list[Decimal]:
    """The true range of each bar after the first: the largest of high - low and the gaps from
    the previous close to this high and low."""
    return [
        max(bar.high - bar.low, abs(bar.high - prev.close), abs(bar.low - prev.close))
        for prev, bar in pairwise(bars)
    ]


def wilder_atr(bars: Sequence[Bar], period: int = 14) -> Decimal:
    """Wilder's average true range over bars, oldest first.

    True ranges start at the second bar (each needs the previous close), so `period + 1` bars are
    needed. The first ATR is the plain mean of the first `period` true ranges; each later one is
    (previous ATR * (period - 1) + true range) / period.
    """
    if period < 1:
        raise ValueError(f"the ATR period must be 1 or more, got {period}")
    if len(bars) < period + 1:
        raise ValueError(
            f"Wilder's ATR over {period} periods needs at least {period + 1} bars "
            f"({period} true ranges), got {len(bars)}: fetch more history or shorten the period"
        )
    ranges = true_ranges(bars)
    atr = sum(ranges[:period], ZERO) / period
    for true_range in ranges[period:]:
        atr = (atr * (period - 1) + true_range) / period
    return atr


def clamp_to_limits(quantity: Decimal, price: Decimal, limits: RiskLimits) -> Decimal:
    """The largest whole number of shares, at most `quantity`, within max_order_quantity and
    max_order_notional at `price`. Never negative."""
    _require_positive(price, "price")
    shares = whole_shares(max(quantity, ZERO))
    if limits.max_order_quantity is not None:
        shares = min(shares, whole_shares(limits.max_order_quantity))
    if limits.max_order_notional is not None:
        shares = min(shares, whole_shares(limits.max_order_notional / price))
    return shares


class Sizer(Protocol):
    """How many shares a scan row gets for an account of `equity` dollars (whole, >= 0).

    Implementations need not apply the risk limits: the plan clamps every size to them.
    Raise ValueError, saying what is missing, when a row cannot be sized.
    """

    def size(self, row: ScanRow, equity: Decimal) -> Decimal: ...


@dataclass(frozen=True, slots=True)
class FixedInvestmentSizer:
    """The same dollar amount in every row (the seed's `investment in $`)."""

    investment: Decimal

    def __post_init__(self) -> None:
        _require_non_negative(self.investment, "investment")

    def size(self, row: ScanRow, equity: Decimal) -> Decimal:
        return fixed_investment(row.current_price, self.investment)


@dataclass(frozen=True, slots=True)
class PercentOfEquitySizer:
    """A fraction of the account's equity in every row (`pct` 0.05 means 5%)."""

    pct: Decimal

    def __post_init__(self) -> None:
        _require_non_negative(self.pct, "pct")

    def size(self, row: ScanRow, equity: Decimal) -> Decimal:
        return percent_of_equity(row.current_price, equity, self.pct)


@dataclass(frozen=True, slots=True)
class AtrRiskSizer:
    """Risk `risk_pct` of equity on a stop `atr_multiple` ATRs away; the ATR is the row's `atr`."""

    risk_pct: Decimal
    atr_multiple: Decimal = TWO

    def __post_init__(self) -> None:
        _require_non_negative(self.risk_pct, "risk_pct")
        _require_positive(self.atr_multiple, "atr_multiple")

    def size(self, row: ScanRow, equity: Decimal) -> Decimal:
        if row.atr is None:
            raise ValueError(f"{row.symbol} has no atr, which ATR sizing needs: add the atr to the scan "
                             f"row or set its position_size by hand")
        return atr_risk(equity, self.risk_pct, row.atr, self.atr_multiple)
