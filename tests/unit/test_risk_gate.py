"""The trading-state table (every edge and every non-edge) and the RiskGate that owns the state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from core.orders import OrderRequest
from core.risk import RiskGate, RiskLimits
from core.trading_state import (
    TRADING_TRANSITIONS,
    InvalidTradingTransition,
    TradingEvent,
    next_trading_state,
)
from core.values import OrderRef, OrderType, Side, TradingState

A, R, H = TradingState.ACTIVE, TradingState.REDUCING, TradingState.HALTED
E = TradingEvent
NOW = datetime(2026, 1, 2, 14, 30, tzinfo=UTC)
D = Decimal

# Written out by hand, independently of the module, so a change to the table must change this too.
EXPECTED_EDGES = {
    (A, E.DAILY_LOSS_BREACHED): R, (A, E.HALT): H, (A, E.RESUME): A, (A, E.NEW_DAY): A,
    (R, E.DAILY_LOSS_BREACHED): R, (R, E.HALT): H, (R, E.NEW_DAY): A,
    (H, E.DAILY_LOSS_BREACHED): H, (H, E.HALT): H, (H, E.RESUME): A, (H, E.NEW_DAY): H,
}
NON_EDGES = [(s, e) for s in TradingState for e in TradingEvent if (s, e) not in EXPECTED_EDGES]


def test_the_table_is_exactly_the_expected_one() -> None:
    assert TRADING_TRANSITIONS == EXPECTED_EDGES
    assert NON_EDGES == [(R, E.RESUME)]


@pytest.mark.parametrize(("edge", "target"), sorted(EXPECTED_EDGES.items()))
def test_every_edge(edge: tuple[TradingState, TradingEvent], target: TradingState) -> None:
    assert next_trading_state(*edge) is target


@pytest.mark.parametrize(("state", "event"), NON_EDGES)
def test_every_non_edge_raises(state: TradingState, event: TradingEvent) -> None:
    with pytest.raises(InvalidTradingTransition, match=f"trading is {state.value}"):
        next_trading_state(state, event)


def test_resuming_reducing_says_when_trading_comes_back() -> None:
    with pytest.raises(InvalidTradingTransition, match="new trading day"):
        next_trading_state(R, E.RESUME)


# --- the gate ------------------------------------------------------------------------------------

LIMITS = RiskLimits(max_order_quantity=None, max_order_notional=None, max_position_per_symbol=None,
                    max_open_positions=None, price_band_pct=None, max_daily_loss=D(1000),
                    max_orders_per_second=2)


def buy(quantity: str = "10", symbol: str = "AAPL") -> OrderRequest:
    return OrderRequest(OrderRef(f"t:{symbol}"), symbol, Side.BUY, D(quantity))


def sell(quantity: str = "10", symbol: str = "AAPL", stop: str | None = None) -> OrderRequest:
    kind = OrderType.STOP if stop else OrderType.MARKET
    return OrderRequest(OrderRef(f"t:{symbol}:s"), symbol, Side.SELL, D(quantity), kind,
                        stop_price=D(stop) if stop else None)


def test_a_loss_at_the_limit_trips_reducing_and_it_latches_for_the_day() -> None:
    gate = RiskGate(LIMITS)
    assert gate.record_pnl(D(-999)) is A
    assert gate.record_pnl(D(-1000)) is R
    assert gate.record_pnl(D(-10)) is R  # a recovery does not reopen trading the same day
    assert gate.new_day() is A
    assert gate.daily_pnl == 0


def test_reducing_gate_rejects_new_risk_and_accepts_reductions() -> None:
    gate = RiskGate(LIMITS, daily_pnl=D(-1500))
    assert gate.state is R
    positions = {"AAPL": D(10)}
    assert not gate.check(buy(), D(100), positions, NOW).approved
    assert gate.check(sell(), D(100), positions, NOW).approved


def test_halt_and_resume() -> None:
    gate = RiskGate(LIMITS)
    assert gate.halt() is H
    v = gate.check(buy(), D(100), {}, NOW)
    assert "HALTED" in v.reasons[0]
    assert gate.check(sell(stop="90"), D(100), {"AAPL": D(10)}, NOW).approved
    assert gate.resume() is A
    assert gate.check(buy(), D(100), {}, NOW + timedelta(seconds=1)).approved


def test_resuming_a_halt_keeps_the_days_loss_breach() -> None:
    gate = RiskGate(LIMITS)
    gate.record_pnl(D(-1200))
    gate.halt()
    assert gate.resume() is R


def test_a_loss_breach_while_halted_shows_after_resume() -> None:
    gate = RiskGate(LIMITS, state=H)
    assert gate.record_pnl(D(-1200)) is H
    assert gate.resume() is R


def test_a_loss_that_recovers_while_halted_still_counts_after_resume() -> None:
    gate = RiskGate(LIMITS)
    gate.halt()
    gate.record_pnl(D(-1000))
    gate.record_pnl(D(0))
    assert gate.resume() is R
    gate.halt()
    gate.new_day()
    assert gate.resume() is A


def test_a_halt_survives_a_new_day() -> None:
    gate = RiskGate(LIMITS, state=H)
    assert gate.new_day() is H


def test_resume_while_reducing_is_refused() -> None:
    gate = RiskGate(LIMITS, daily_pnl=D(-1000))
    with pytest.raises(InvalidTradingTransition):
        gate.resume()
    assert gate.state is R


def test_no_daily_loss_limit_means_no_reducing() -> None:
    gate = RiskGate(RiskLimits.unlimited())
    assert gate.record_pnl(D(-10**9)) is A


def test_the_orders_per_second_window_slides_with_the_injected_time() -> None:
    gate = RiskGate(LIMITS)
    assert gate.check(buy(), D(100), {}, NOW).approved
    assert gate.check(buy(), D(100), {}, NOW + timedelta(milliseconds=500)).approved
    third = gate.check(buy(), D(100), {}, NOW + timedelta(milliseconds=900))
    assert "max_orders_per_second" in third.reasons[0]
    # The rejection did not count; at +1 s the first order has left the window.
    assert gate.check(buy(), D(100), {}, NOW + timedelta(seconds=1)).approved
    assert not gate.check(buy(), D(100), {}, NOW + timedelta(milliseconds=1400)).approved
    assert gate.check(buy(), D(100), {}, NOW + timedelta(milliseconds=1500)).approved


def test_rejected_orders_do_not_use_up_the_rate() -> None:
    gate = RiskGate(LIMITS, state=H)
    for _ in range(5):
        assert not gate.check(buy(), D(100), {}, NOW).approved
    gate.resume()
    assert gate.snapshot({}, NOW).recent_order_times == ()
    assert gate.check(buy(), D(100), {}, NOW).approved
