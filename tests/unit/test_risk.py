"""Pre-trade risk: every limit one unit below, at and above; every reason; the trading states."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from core.orders import OrderRequest
from core.risk import (
    APPROVED,
    RiskLimits,
    RiskState,
    RiskVerdict,
    check_order,
    is_protective,
    reduces,
)
from core.values import OrderRef, OrderType, Side, TradingState

NOW = datetime(2026, 1, 2, 14, 30, tzinfo=UTC)
D = Decimal


def order(
    side: Side = Side.BUY,
    quantity: str = "10",
    symbol: str = "AAPL",
    order_type: OrderType = OrderType.MARKET,
    limit: str | None = None,
    stop: str | None = None,
) -> OrderRequest:
    return OrderRequest(
        OrderRef(f"t:{symbol}"), symbol, side, D(quantity), order_type,
        limit_price=D(limit) if limit else None, stop_price=D(stop) if stop else None,
    )


def limits(**only: object) -> RiskLimits:
    """No limits except the ones named."""
    return dataclasses.replace(RiskLimits.unlimited(), **only)  # type: ignore[arg-type]


def state(
    trading: TradingState = TradingState.ACTIVE,
    positions: dict[str, Decimal] | None = None,
    pnl: str = "0",
    times: tuple[datetime, ...] = (),
) -> RiskState:
    return RiskState(trading, positions or {}, D(pnl), times)


def verdict(
    o: OrderRequest, lim: RiskLimits, st: RiskState | None = None, ref: str | None = "100"
) -> RiskVerdict:
    return check_order(o, lim, st or state(), D(ref) if ref else None, NOW)


def assert_rejected_for(v: RiskVerdict, limit_name: str, *values: str) -> None:
    assert not v.approved
    named = [reason for reason in v.reasons if limit_name in reason]
    assert len(named) == 1, v.reasons
    for value in values:
        assert value in named[0], (value, named[0])


# --- every limit: one unit below and at pass, one unit above is rejected naming the limit --------

@pytest.mark.parametrize(("quantity", "passes"), [("99", True), ("100", True), ("101", False)])
def test_max_order_quantity(quantity: str, passes: bool) -> None:
    v = verdict(order(quantity=quantity), limits(max_order_quantity=D(100)))
    if passes:
        assert v == APPROVED
    else:
        assert_rejected_for(v, "max_order_quantity", "101", "100", "split")


@pytest.mark.parametrize(("quantity", "passes"), [("99", True), ("100", True), ("101", False)])
def test_max_order_notional_at_the_reference_price(quantity: str, passes: bool) -> None:
    v = verdict(order(quantity=quantity), limits(max_order_notional=D(10_000)), ref="100")
    if passes:
        assert v.approved
    else:
        assert_rejected_for(v, "max_order_notional", "10100", "10000", "reduce the quantity")


@pytest.mark.parametrize(("limit_price", "passes"), [("99.99", True), ("100.00", True), ("100.01", False)])
def test_max_order_notional_uses_the_limit_price_over_the_reference(limit_price: str, passes: bool) -> None:
    o = order(quantity="100", order_type=OrderType.LIMIT, limit=limit_price)
    v = verdict(o, limits(max_order_notional=D(10_000)), ref="50")
    assert v.approved is passes
    if not passes:
        assert_rejected_for(v, "max_order_notional", "10001.00")


@pytest.mark.parametrize(("stop_price", "passes"), [("99.99", True), ("100.00", True), ("100.01", False)])
def test_max_order_notional_uses_the_stop_price_of_a_stop(stop_price: str, passes: bool) -> None:
    o = order(quantity="100", order_type=OrderType.STOP, stop=stop_price)
    assert verdict(o, limits(max_order_notional=D(10_000)), ref="50").approved is passes


@pytest.mark.parametrize(("quantity", "passes"), [("99", True), ("100", True), ("101", False)])
@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
def test_max_position_per_symbol_long_and_short(quantity: str, passes: bool, side: Side) -> None:
    held = D(400) * side.sign
    v = verdict(order(side=side, quantity=quantity), limits(max_position_per_symbol=D(500)),
                state(positions={"AAPL": held}))
    if passes:
        assert v.approved
    else:
        assert_rejected_for(v, "max_position_per_symbol", f"{held + D(101) * side.sign}", "500")


@pytest.mark.parametrize(
    ("others", "passes"),
    [({"MSFT": D(5)}, True), ({"MSFT": D(5), "IBM": D(-3)}, True),
     ({"MSFT": D(5), "IBM": D(-3), "TSLA": D(1)}, False)],
    ids=["below", "at", "above"],
)
def test_max_open_positions(others: dict[str, Decimal], passes: bool) -> None:
    v = verdict(order(), limits(max_open_positions=3), state(positions=others))
    if passes:
        assert v.approved
    else:
        assert_rejected_for(v, "max_open_positions", "4 open positions", "3")


def test_flat_symbols_do_not_count_as_open_positions() -> None:
    positions = {"MSFT": D(5), "IBM": D(0), "TSLA": D(0)}
    assert verdict(order(), limits(max_open_positions=2), state(positions=positions)).approved


def test_adding_to_an_open_position_does_not_open_a_new_one() -> None:
    positions = {"AAPL": D(5), "MSFT": D(5), "IBM": D(5)}
    assert verdict(order(), limits(max_open_positions=2), state(positions=positions)).approved


@pytest.mark.parametrize(
    ("price", "passes"),
    [("104.99", True), ("105.00", True), ("105.01", False), ("95.01", True), ("95.00", True),
     ("94.99", False)],
)
def test_price_band_on_the_limit_price(price: str, passes: bool) -> None:
    o = order(order_type=OrderType.LIMIT, limit=price)
    v = verdict(o, limits(price_band_pct=D("0.05")), ref="100")
    if passes:
        assert v.approved
    else:
        assert_rejected_for(v, "price_band_pct", price, "0.05", "100")


def test_price_band_checks_both_prices_of_a_stop_limit() -> None:
    o = order(order_type=OrderType.STOP_LIMIT, limit="120", stop="80")
    v = verdict(o, limits(price_band_pct=D("0.05")), ref="100")
    assert len(v.reasons) == 2
    assert "limit price 120" in v.reasons[0] and "stop price 80" in v.reasons[1]


@pytest.mark.parametrize(("pnl", "passes"), [("-999", True), ("-1000", True), ("-1001", False)])
def test_max_daily_loss(pnl: str, passes: bool) -> None:
    v = verdict(order(), limits(max_daily_loss=D(1000)), state(pnl=pnl))
    if passes:
        assert v.approved
    else:
        assert_rejected_for(v, "max_daily_loss", "1001", "1000", "reduce a position")


@pytest.mark.parametrize(("earlier", "passes"), [(3, True), (4, True), (5, False)])
def test_max_orders_per_second(earlier: int, passes: bool) -> None:
    times = tuple(NOW - timedelta(milliseconds=100 * i) for i in range(earlier))
    v = verdict(order(), limits(max_orders_per_second=5), state(times=times))
    if passes:
        assert v.approved
    else:
        assert_rejected_for(v, "max_orders_per_second", "order 6", "5", "wait a second")


def test_orders_one_second_old_or_older_leave_the_window() -> None:
    times = (NOW - timedelta(seconds=1), NOW - timedelta(seconds=5), NOW - timedelta(milliseconds=999))
    assert verdict(order(), limits(max_orders_per_second=2), state(times=times)).approved
    one_more = (*times, NOW - timedelta(milliseconds=1))
    assert not verdict(order(), limits(max_orders_per_second=2), state(times=one_more)).approved


# --- several reasons, missing prices, exemptions -------------------------------------------------

def test_every_breach_gives_its_own_reason() -> None:
    lim = limits(max_order_quantity=D(100), max_order_notional=D(5_000), max_position_per_symbol=D(150),
                 max_open_positions=1, max_daily_loss=D(100), max_orders_per_second=1)
    st = state(positions={"MSFT": D(1)}, pnl="-500", times=(NOW,))
    v = verdict(order(quantity="200"), lim, st, ref="100")
    names = ["max_order_quantity", "max_order_notional", "max_position_per_symbol", "max_open_positions",
             "max_daily_loss", "max_orders_per_second"]
    assert len(v.reasons) == len(names)
    for name in names:
        assert sum(name in reason for reason in v.reasons) == 1, name


def test_missing_reference_price_is_a_reason_when_a_band_is_set() -> None:
    v = verdict(order(order_type=OrderType.LIMIT, limit="100"), limits(price_band_pct=D("0.05")), ref=None)
    assert_rejected_for(v, "price_band_pct", "no valid reference price", "get a current price")
    assert verdict(order(), limits(), ref=None).approved


def test_missing_price_for_a_market_order_is_a_reason_when_a_notional_limit_is_set() -> None:
    v = verdict(order(), limits(max_order_notional=D(1_000_000)), ref=None)
    assert_rejected_for(v, "max_order_notional", "reference price")
    priced = order(order_type=OrderType.LIMIT, limit="10")
    assert verdict(priced, limits(max_order_notional=D(1_000_000)), ref=None).approved


def test_a_reducing_order_is_exempt_from_the_exposure_limits_but_not_from_size() -> None:
    lim = limits(max_position_per_symbol=D(10), max_open_positions=0, price_band_pct=D("0.01"),
                 max_daily_loss=D(1), max_order_quantity=D(50))
    st = state(positions={"AAPL": D(100)}, pnl="-1000")
    stop_far_away = order(Side.SELL, "50", order_type=OrderType.STOP, stop="80")
    assert verdict(stop_far_away, lim, st, ref=None).approved
    too_big = order(Side.SELL, "60", order_type=OrderType.STOP, stop="80")
    assert_rejected_for(verdict(too_big, lim, st, ref=None), "max_order_quantity")


def test_a_reason_names_the_order() -> None:
    v = verdict(order(Side.SELL, "101", "MSFT"), limits(max_order_quantity=D(100)))
    assert v.reasons[0].startswith("MKT SELL 101 MSFT: ")


# --- REDUCING and HALTED -------------------------------------------------------------------------

REDUCING = state(TradingState.REDUCING, positions={"AAPL": D(100), "MSFT": D(-50)})
HALTED = dataclasses.replace(REDUCING, trading_state=TradingState.HALTED)


@pytest.mark.parametrize(
    "o",
    [order(Side.SELL, "100"), order(Side.SELL, "1"), order(Side.BUY, "50", "MSFT"),
     order(Side.SELL, "40", order_type=OrderType.LIMIT, limit="500")],
    ids=["flatten", "trim", "cover-short", "limit-exit"],
)
def test_reducing_accepts_orders_that_reduce(o: OrderRequest) -> None:
    assert verdict(o, limits(max_daily_loss=D(1000)), REDUCING).approved


@pytest.mark.parametrize(
    "o",
    [order(Side.BUY, "1"), order(Side.SELL, "101"), order(Side.BUY, "10", "TSLA"),
     order(Side.SELL, "10", "MSFT")],
    ids=["add", "flip", "open", "add-short"],
)
def test_reducing_rejects_new_risk(o: OrderRequest) -> None:
    v = verdict(o, limits(max_daily_loss=D(1000)), REDUCING)
    assert len(v.reasons) == 1
    assert "reducing-only" in v.reasons[0] and "daily loss limit" in v.reasons[0]
    assert "max_daily_loss 1000" in v.reasons[0]


@pytest.mark.parametrize(
    "o",
    [order(Side.SELL, "100", order_type=OrderType.STOP, stop="90"),
     order(Side.SELL, "30", order_type=OrderType.STOP_LIMIT, stop="90", limit="89"),
     order(Side.SELL, "100"),
     order(Side.BUY, "50", "MSFT")],
    ids=["stop-exit", "stop-limit-exit", "flatten-long", "flatten-short"],
)
def test_halted_accepts_protective_orders(o: OrderRequest) -> None:
    assert verdict(o, limits(), HALTED).approved


@pytest.mark.parametrize(
    "o",
    [order(Side.SELL, "40"),
     order(Side.SELL, "40", order_type=OrderType.LIMIT, limit="110"),
     order(Side.BUY, "1"),
     order(Side.BUY, "10", "TSLA", order_type=OrderType.STOP, stop="100"),
     order(Side.SELL, "101", order_type=OrderType.STOP, stop="90")],
    ids=["partial-market", "limit-exit", "add", "opening-stop", "flipping-stop"],
)
def test_halted_rejects_everything_else(o: OrderRequest) -> None:
    v = verdict(o, limits(), HALTED)
    assert len(v.reasons) == 1
    assert "trading is HALTED (kill switch)" in v.reasons[0]
    assert "resume with `tradebridge executor resume-trading`" in v.reasons[0]


def test_halted_also_lists_the_other_breaches() -> None:
    v = verdict(order(quantity="500", symbol="TSLA"), limits(max_order_quantity=D(100)), HALTED)
    assert len(v.reasons) == 2


@pytest.mark.parametrize(
    ("position", "side", "quantity", "expected"),
    [("100", Side.SELL, "100", True), ("100", Side.SELL, "1", True), ("100", Side.SELL, "101", False),
     ("100", Side.BUY, "1", False), ("-5", Side.BUY, "5", True), ("-5", Side.BUY, "6", False),
     ("-5", Side.SELL, "1", False), ("0", Side.SELL, "1", False), ("0", Side.BUY, "1", False)],
)
def test_reduces(position: str, side: Side, quantity: str, expected: bool) -> None:
    assert reduces(D(position), order(side, quantity)) is expected


def test_is_protective() -> None:
    assert is_protective(D(10), order(Side.SELL, "10"))
    assert not is_protective(D(10), order(Side.SELL, "9"))
    assert is_protective(D(10), order(Side.SELL, "9", order_type=OrderType.STOP, stop="1"))
    assert not is_protective(D(10), order(Side.SELL, "9", order_type=OrderType.LIMIT, limit="1"))
    assert not is_protective(D(0), order(Side.SELL, "9", order_type=OrderType.STOP, stop="1"))


# --- the value types -----------------------------------------------------------------------------

def test_a_verdict_is_either_approved_or_has_reasons() -> None:
    with pytest.raises(ValueError):
        RiskVerdict(True, ("why",))
    with pytest.raises(ValueError):
        RiskVerdict(False, ())
    assert RiskVerdict.reject("a", "b").reasons == ("a", "b")
    assert RiskVerdict.approve() is APPROVED


def test_limits_refuse_negative_values_and_default_to_sane_ones() -> None:
    with pytest.raises(ValueError, match="max_order_quantity"):
        RiskLimits(max_order_quantity=D(-1))
    defaults = RiskLimits()
    assert all(getattr(defaults, f.name) is not None for f in dataclasses.fields(RiskLimits))
    assert all(getattr(RiskLimits.unlimited(), f.name) is None for f in dataclasses.fields(RiskLimits))


def test_a_state_snapshot_does_not_change_with_its_source() -> None:
    source = {"AAPL": D(1)}
    snapshot = RiskState(positions=source)
    source["AAPL"] = D(1000)
    assert snapshot.position("AAPL") == D(1)
    assert snapshot.position("MSFT") == D(0)
    with pytest.raises(TypeError):
        snapshot.positions["AAPL"] = D(2)  # type: ignore[index]
