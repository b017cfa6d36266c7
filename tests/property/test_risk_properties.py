"""Properties of the risk check and the risk gate, over random limits, positions and orders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from random import Random

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from core.orders import OrderRequest
from core.risk import RiskGate, RiskLimits, RiskState, check_order, is_protective, reduces
from core.trading_state import InvalidTradingTransition
from core.values import OrderRef, OrderType, Side, TradingState

D = Decimal
NOW = datetime(2026, 1, 2, 14, 30, tzinfo=UTC)
SYMBOLS = ("AAPL", "MSFT", "IBM", "TSLA")

prices = st.integers(1, 100_000).map(lambda cents: D(cents) / 100)
quantities = st.integers(1, 5_000).map(D)
maybe = st.none().__or__


@st.composite
def limit_sets(draw: st.DrawFn, fat_finger: bool = True) -> RiskLimits:
    """Random limits; with fat_finger=False the limits that apply to every order are off."""
    return RiskLimits(
        max_order_quantity=draw(maybe(quantities)) if fat_finger else None,
        max_order_notional=draw(maybe(st.integers(0, 10**7).map(D))) if fat_finger else None,
        max_position_per_symbol=draw(maybe(st.integers(0, 10_000).map(D))),
        max_open_positions=draw(maybe(st.integers(0, 5))),
        price_band_pct=draw(maybe(st.integers(0, 50).map(lambda p: D(p) / 100))),
        max_daily_loss=draw(maybe(st.integers(0, 10_000).map(D))),
        max_orders_per_second=draw(maybe(st.integers(0, 5))) if fat_finger else None,
    )


@st.composite
def states(draw: st.DrawFn, trading: TradingState | None = None) -> RiskState:
    positions = draw(st.dictionaries(st.sampled_from(SYMBOLS), st.integers(-3_000, 3_000).map(D)))
    times = draw(st.lists(st.integers(-3_000, 0).map(lambda ms: NOW + timedelta(milliseconds=ms)),
                          max_size=8))
    return RiskState(
        trading or draw(st.sampled_from(TradingState)), positions,
        draw(st.integers(-20_000, 20_000).map(D)), tuple(times),
    )


@st.composite
def orders(draw: st.DrawFn, side: Side | None = None, quantity: Decimal | None = None,
           symbol: str | None = None) -> OrderRequest:
    kind = draw(st.sampled_from(OrderType))
    sym = symbol or draw(st.sampled_from(SYMBOLS))
    return OrderRequest(
        OrderRef(f"p:{sym}"), sym, side or draw(st.sampled_from(Side)), quantity or draw(quantities), kind,
        limit_price=draw(prices) if kind.needs_limit_price else None,
        stop_price=draw(prices) if kind.needs_stop_price else None,
    )


@st.composite
def reducing_orders(draw: st.DrawFn) -> tuple[RiskState, OrderRequest]:
    st_ = draw(states(TradingState.REDUCING))
    symbol = draw(st.sampled_from(SYMBOLS))
    held = draw(st.integers(1, 3_000)) * draw(st.sampled_from((1, -1)))
    positions = {**st_.positions, symbol: D(held)}
    quantity = D(draw(st.integers(1, abs(held))))
    order = draw(orders(Side.SELL if held > 0 else Side.BUY, quantity, symbol))
    return RiskState(st_.trading_state, positions, st_.daily_pnl, st_.recent_order_times), order


@given(reducing_orders(), limit_sets(fat_finger=False), maybe(prices))
def test_an_order_that_reduces_always_passes_in_reducing(
    case: tuple[RiskState, OrderRequest], limits: RiskLimits, reference: Decimal | None
) -> None:
    state, order = case
    assert reduces(state.position(order.symbol), order)
    assert check_order(order, limits, state, reference, NOW).approved


@given(orders(), limit_sets(), states(TradingState.REDUCING), maybe(prices))
def test_new_risk_never_passes_in_reducing(
    order: OrderRequest, limits: RiskLimits, state: RiskState, reference: Decimal | None
) -> None:
    verdict = check_order(order, limits, state, reference, NOW)
    if not reduces(state.position(order.symbol), order):
        assert not verdict.approved
        assert any("reducing-only" in reason for reason in verdict.reasons)


@given(orders(), limit_sets(), states(TradingState.HALTED), maybe(prices))
def test_only_protective_orders_pass_when_halted(
    order: OrderRequest, limits: RiskLimits, state: RiskState, reference: Decimal | None
) -> None:
    if check_order(order, limits, state, reference, NOW).approved:
        assert is_protective(state.position(order.symbol), order)


@given(orders(), limit_sets(), states(), maybe(prices), st.randoms(use_true_random=False))
def test_the_check_is_deterministic(
    order: OrderRequest, limits: RiskLimits, state: RiskState, reference: Decimal | None, rnd: Random
) -> None:
    first = check_order(order, limits, state, reference, NOW)
    items = list(state.positions.items())
    times = list(state.recent_order_times)
    rnd.shuffle(items)
    rnd.shuffle(times)
    shuffled = RiskState(state.trading_state, dict(items), state.daily_pnl, tuple(times))
    assert check_order(order, limits, shuffled, reference, NOW) == first
    assert check_order(order, limits, state, reference, NOW) == first


@given(orders(), limit_sets(), states(TradingState.ACTIVE), maybe(prices))
def test_an_approved_order_breaks_no_limit(
    order: OrderRequest, limits: RiskLimits, state: RiskState, reference: Decimal | None
) -> None:
    if not check_order(order, limits, state, reference, NOW).approved:
        return
    position = state.position(order.symbol)
    after = position + order.quantity * order.side.sign
    price = order.limit_price or order.stop_price or reference
    if limits.max_order_quantity is not None:
        assert order.quantity <= limits.max_order_quantity
    if limits.max_order_notional is not None:
        assert price is not None and order.quantity * price <= limits.max_order_notional
    if limits.max_orders_per_second is not None:
        recent = [t for t in state.recent_order_times if t > NOW - timedelta(seconds=1)]
        assert len(recent) < limits.max_orders_per_second
    if reduces(position, order):
        return
    if limits.max_position_per_symbol is not None:
        assert abs(after) <= limits.max_position_per_symbol
    if limits.max_daily_loss is not None:
        assert state.daily_pnl >= -limits.max_daily_loss
    if limits.price_band_pct is not None:
        assert reference is not None
        for p in (order.limit_price, order.stop_price):
            assert p is None or abs(p - reference) <= limits.price_band_pct * reference
    if limits.max_open_positions is not None and position == 0:
        others = sum(1 for s, q in state.positions.items() if q != 0 and s != order.symbol)
        assert others + 1 <= limits.max_open_positions


@given(st.integers(1, 5), st.lists(st.integers(0, 700), min_size=1, max_size=60))
def test_the_gate_never_lets_more_orders_through_in_one_second_than_the_limit(
    limit: int, gaps_ms: list[int]
) -> None:
    gate = RiskGate(RiskLimits(max_order_quantity=None, max_order_notional=None, max_position_per_symbol=None,
                               max_open_positions=None, price_band_pct=None, max_daily_loss=None,
                               max_orders_per_second=limit))
    order = OrderRequest(OrderRef("p:AAPL"), "AAPL", Side.BUY, D(1))
    now, approved = NOW, []
    for gap in gaps_ms:
        now += timedelta(milliseconds=gap)
        if gate.check(order, D(100), {}, now).approved:
            approved.append(now)
    for start in approved:
        assert sum(1 for t in approved if start <= t < start + timedelta(seconds=1)) <= limit


class GateMachine(RuleBasedStateMachine):
    """The gate against a two-flag model: halted (until resumed) and loss breached (until a new day)."""

    def __init__(self) -> None:
        super().__init__()
        self.limit = D(1000)
        self.gate = RiskGate(RiskLimits(max_daily_loss=self.limit))
        self.halted = False
        self.breached = False

    @rule(pnl=st.integers(-3_000, 3_000).map(D))
    def record_pnl(self, pnl: Decimal) -> None:
        self.gate.record_pnl(pnl)
        self.breached = self.breached or pnl <= -self.limit

    @rule()
    def halt(self) -> None:
        self.gate.halt()
        self.halted = True

    @rule()
    def resume(self) -> None:
        if not self.halted and self.breached:
            try:
                self.gate.resume()
            except InvalidTradingTransition:
                return
            raise AssertionError("resume while REDUCING must be refused")
        self.gate.resume()
        self.halted = False

    @rule()
    def new_day(self) -> None:
        self.gate.new_day()
        self.breached = False

    @invariant()
    def state_follows_the_model(self) -> None:
        expected = (TradingState.HALTED if self.halted
                    else TradingState.REDUCING if self.breached else TradingState.ACTIVE)
        assert self.gate.state is expected


TestGateMachine = GateMachine.TestCase
TestGateMachine.settings = settings(stateful_step_count=25)


@settings(max_examples=200)
@given(
    limit_sets(),
    st.lists(
        st.tuples(orders(), maybe(prices), st.integers(0, 700),
                  st.dictionaries(st.sampled_from(SYMBOLS), st.integers(-3_000, 3_000).map(D))),
        max_size=12,
    ),
    st.sampled_from(TradingState),
)
def test_the_gate_decides_as_check_order_on_its_snapshot(
    limits: RiskLimits,
    steps: list[tuple[OrderRequest, Decimal | None, int, dict[str, Decimal]]],
    trading: TradingState,
) -> None:
    """`RiskGate.check` is `check_order` over the gate's snapshot (its window of approvals
    included), however it builds the state it checks against (with or without a rate limit)."""
    gate = RiskGate(limits, trading)
    now = NOW
    for order, reference, step_ms, positions in steps:
        now += timedelta(milliseconds=step_ms)
        expected = check_order(order, limits, gate.snapshot(positions, now), reference, now)
        assert gate.check(order, reference, positions, now) == expected
    assert gate.snapshot({}, now).recent_order_times == tuple(
        t for t in gate.snapshot({}, now).recent_order_times if t > now - timedelta(seconds=1)
    )
