"""Pre-trade risk: the limits, the facts a check needs, and the pure check every order passes.

`check_order` is a pure function of (order, limits, state, reference price, now): it returns an
approval, or a rejection listing EVERY limit the order breaks, each saying the limit, the value
and what to do. Limits exist to cap new risk, so an order that only shrinks a position is never
blocked by the exposure limits (position per symbol, open positions, price band, daily loss);
the fat-finger and runaway limits (quantity, notional, orders per second) apply to every order.

`RiskGate` owns the mutable trading state (ACTIVE / REDUCING / HALTED); its transitions are the
one table in `core.trading_state`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from types import MappingProxyType

from core.orders import OrderRequest
from core.trading_state import TradingEvent, next_trading_state
from core.values import ZERO, OrderType, TradingState

ONE_SECOND = timedelta(seconds=1)
RESUME_HINT = "resume with `tradebridge executor resume-trading`"


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """The executor's own limits. Each limit is optional: None means unlimited.

    The defaults suit a small account trading US stocks and are deliberately conservative:
    at most 10,000 shares and $100,000 per order, 20,000 shares per symbol, 50 open positions,
    limit/stop prices within 10% of the reference price, a $5,000 daily loss, and 10 orders per
    second (a bracket is 3 orders; TWS accepts at most 50 messages per second).
    `price_band_pct` is a fraction: 0.05 means 5%.
    """

    max_order_quantity: Decimal | None = Decimal(10_000)
    max_order_notional: Decimal | None = Decimal(100_000)
    max_position_per_symbol: Decimal | None = Decimal(20_000)
    max_open_positions: int | None = 50
    price_band_pct: Decimal | None = Decimal("0.10")
    max_daily_loss: Decimal | None = Decimal(5_000)
    max_orders_per_second: int | None = 10

    def __post_init__(self) -> None:
        for name in ("max_order_quantity", "max_order_notional", "max_position_per_symbol",
                     "price_band_pct", "max_daily_loss", "max_open_positions", "max_orders_per_second"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"risk limit {name} must be 0 or more (or None for no limit), got {value}")

    @classmethod
    def unlimited(cls) -> RiskLimits:
        """No limit at all: for tests and for callers that enforce limits elsewhere."""
        return cls(None, None, None, None, None, None, None)


@dataclass(frozen=True, slots=True)
class RiskState:
    """An immutable snapshot of what a check needs to know about the account.

    `positions` are signed share counts (negative is short); `daily_pnl` is today's realized plus
    unrealized P&L (negative is a loss); `recent_order_times` are the times of recently approved
    orders, for the orders-per-second limit.
    """

    trading_state: TradingState = TradingState.ACTIVE
    positions: Mapping[str, Decimal] = field(default_factory=dict)
    daily_pnl: Decimal = ZERO
    recent_order_times: tuple[datetime, ...] = ()

    def __post_init__(self) -> None:
        # A read-only copy: a snapshot must not change under the check that reads it.
        object.__setattr__(self, "positions", MappingProxyType(dict(self.positions)))

    def position(self, symbol: str) -> Decimal:
        """The signed position in `symbol`, 0 when there is none."""
        return self.positions.get(symbol, ZERO)


@dataclass(frozen=True, slots=True)
class RiskVerdict:
    """Approved, or rejected with every reason that applies."""

    approved: bool
    reasons: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.approved == bool(self.reasons):
            raise ValueError("an approval has no reasons and a rejection has at least one")

    @classmethod
    def approve(cls) -> RiskVerdict:
        return APPROVED

    @classmethod
    def reject(cls, *reasons: str) -> RiskVerdict:
        return cls(False, tuple(reasons))


APPROVED = RiskVerdict(True)


def signed_quantity(order: OrderRequest) -> Decimal:
    """The order's effect on the position: +quantity for a buy, -quantity for a sell."""
    return order.quantity * order.side.sign


def reduces(position: Decimal, order: OrderRequest) -> bool:
    """Whether the order moves the position toward zero without crossing it (reaching 0 counts)."""
    delta = signed_quantity(order)
    return position != ZERO and (position > ZERO) != (delta > ZERO) and abs(delta) <= abs(position)


def is_protective(position: Decimal, order: OrderRequest) -> bool:
    """A reducing stop exit, or a reducing market order that flattens: what a halt still allows."""
    if not reduces(position, order):
        return False
    if order.order_type in (OrderType.STOP, OrderType.STOP_LIMIT):
        return True
    return order.order_type is OrderType.MARKET and position + signed_quantity(order) == ZERO


def order_price(order: OrderRequest, reference_price: Decimal | None) -> Decimal | None:
    """The price used for notional: the limit price, else the stop price, else the reference."""
    if order.limit_price is not None:
        return order.limit_price
    if order.stop_price is not None:
        return order.stop_price
    return reference_price


def check_order(
    order: OrderRequest,
    limits: RiskLimits,
    state: RiskState,
    reference_price: Decimal | None,
    now: datetime,
) -> RiskVerdict:
    """Approve the order, or reject it with every reason that applies. Pure and deterministic."""
    position = state.position(order.symbol)
    reducing = reduces(position, order)
    reasons = [*_state_reasons(order, limits, state, position, reducing)]
    reasons += _size_reasons(order, limits, reference_price)
    if not reducing:
        reasons += _exposure_reasons(order, limits, state, position, reference_price)
    reasons += _rate_reasons(order, limits, state, now)
    return RiskVerdict.reject(*reasons) if reasons else APPROVED


def _state_reasons(
    order: OrderRequest, limits: RiskLimits, state: RiskState, position: Decimal, reducing: bool
) -> list[str]:
    if state.trading_state is TradingState.HALTED and not is_protective(position, order):
        what = f"{_describe(order)} (position {position})"
        return [f"{what}: trading is HALTED (kill switch): only stop exits and market orders that "
                f"flatten a position are accepted; {RESUME_HINT}"]
    if state.trading_state is TradingState.REDUCING and not reducing:
        what = f"{_describe(order)} (position {position})"
        return [f"{what}: trading is reducing-only (REDUCING) because the daily loss limit "
                f"(max_daily_loss {limits.max_daily_loss}) was crossed: only orders that reduce a "
                f"position are accepted until the next trading day"]
    return []


def _size_reasons(order: OrderRequest, limits: RiskLimits, reference_price: Decimal | None) -> list[str]:
    reasons: list[str] = []
    if limits.max_order_quantity is not None and order.quantity > limits.max_order_quantity:
        reasons.append(f"{_describe(order)}: quantity {order.quantity} is above max_order_quantity "
                       f"{limits.max_order_quantity}: send at most {limits.max_order_quantity} shares "
                       f"per order (split it) or raise the limit")
    if limits.max_order_notional is not None:
        price = order_price(order, reference_price)
        if price is None:
            reasons.append(f"{_describe(order)}: cannot check max_order_notional "
                           f"{limits.max_order_notional}: a {order.order_type.value} order needs a "
                           f"reference price; "
                           f"get a current price for {order.symbol} first")
        elif order.quantity * price > limits.max_order_notional:
            reasons.append(f"{_describe(order)}: notional {order.quantity * price} "
                           f"({order.quantity} x {price}) is above max_order_notional "
                           f"{limits.max_order_notional}: reduce the quantity or raise the limit")
    return reasons


def _exposure_reasons(
    order: OrderRequest,
    limits: RiskLimits,
    state: RiskState,
    position: Decimal,
    reference_price: Decimal | None,
) -> list[str]:
    reasons: list[str] = []
    after = position + signed_quantity(order)
    if limits.max_position_per_symbol is not None and abs(after) > limits.max_position_per_symbol:
        reasons.append(f"{_describe(order)}: position would be {after} shares (now {position}), "
                       f"above max_position_per_symbol {limits.max_position_per_symbol}: reduce the order "
                       f"or raise the limit")
    if limits.max_open_positions is not None and position == ZERO:
        open_after = 1 + sum(1 for sym, qty in state.positions.items() if qty != ZERO and sym != order.symbol)
        if open_after > limits.max_open_positions:
            reasons.append(f"{_describe(order)}: opening {order.symbol} would make {open_after} open "
                           f"positions, above max_open_positions {limits.max_open_positions}: close a "
                           f"position first or raise the limit")
    # In REDUCING the state reason already says the daily loss limit was crossed.
    loss_limit = limits.max_daily_loss
    if (loss_limit is not None and state.trading_state is not TradingState.REDUCING
            and state.daily_pnl < -loss_limit):
        reasons.append(f"{_describe(order)}: today's loss {-state.daily_pnl} is beyond "
                       f"max_daily_loss {loss_limit}: only orders that reduce a position are accepted "
                       f"until the next trading day")
    reasons += _band_reasons(order, limits, reference_price)
    return reasons


def _band_reasons(order: OrderRequest, limits: RiskLimits, reference_price: Decimal | None) -> list[str]:
    band = limits.price_band_pct
    if band is None:
        return []
    if reference_price is None or reference_price <= ZERO:
        return [f"{_describe(order)}: cannot check price_band_pct {band}: no valid reference price "
                f"(got {reference_price}); get a current price for {order.symbol} first"]
    reasons = []
    for name, price in (("limit price", order.limit_price), ("stop price", order.stop_price)):
        if price is not None and abs(price - reference_price) > band * reference_price:
            reasons.append(f"{_describe(order)}: {name} {price} is more than price_band_pct {band} "
                           f"({band * 100}%) away from the reference price {reference_price}: "
                           f"check the price, or widen the band")
    return reasons


def _rate_reasons(order: OrderRequest, limits: RiskLimits, state: RiskState, now: datetime) -> list[str]:
    if limits.max_orders_per_second is None:
        return []
    in_window = sum(1 for t in state.recent_order_times if t > now - ONE_SECOND)
    if in_window + 1 <= limits.max_orders_per_second:
        return []
    return [f"{_describe(order)}: this would be order {in_window + 1} within one second, above "
            f"max_orders_per_second {limits.max_orders_per_second}: wait a second and send it "
            f"again (a runaway strategy trips this limit)"]


def _describe(order: OrderRequest) -> str:
    # Called only once a limit is broken: every order is checked, and the text costs more than
    # the checks that pass.
    return f"{order.order_type.value} {order.side.value} {order.quantity} {order.symbol}"


class RiskGate:
    """The executor's risk gate: owns the trading state and the recent order times.

    Every order passes `check` before any broker sees it. State changes go through the one table
    in `core.trading_state`; `record_pnl` trips REDUCING when today's loss reaches
    `max_daily_loss`, and trading stays reducing-only until a new day, even if the loss recovers
    or a halt comes in between. Time is whatever `now` the caller injects (from the Clock port),
    so the orders-per-second window is reproducible.
    """

    __slots__ = ("_daily_pnl", "_limits", "_loss_breached", "_order_times", "_state")

    def __init__(
        self, limits: RiskLimits, state: TradingState = TradingState.ACTIVE, daily_pnl: Decimal = ZERO
    ) -> None:
        self._limits = limits
        self._state = state
        self._daily_pnl = ZERO
        # Whether today's loss reached the limit at any moment: a later recovery, or a halt in
        # between, must not reopen trading before a new day.
        self._loss_breached = False
        self._order_times: deque[datetime] = deque()
        self.record_pnl(daily_pnl)

    @property
    def limits(self) -> RiskLimits:
        return self._limits

    @property
    def state(self) -> TradingState:
        return self._state

    @property
    def daily_pnl(self) -> Decimal:
        return self._daily_pnl

    def apply(self, event: TradingEvent) -> TradingState:
        """Move along the trading-state table; raises InvalidTradingTransition for a missing edge."""
        self._state = next_trading_state(self._state, event)
        return self._state

    def record_pnl(self, daily_pnl: Decimal) -> TradingState:
        """Record today's P&L (realized + unrealized); a loss at or beyond the limit trips REDUCING."""
        self._daily_pnl = daily_pnl
        limit = self._limits.max_daily_loss
        self._loss_breached = self._loss_breached or (limit is not None and daily_pnl <= -limit)
        if self._loss_breached:
            self.apply(TradingEvent.DAILY_LOSS_BREACHED)
        return self._state

    def halt(self) -> TradingState:
        """The kill switch: from now on only protective orders pass."""
        return self.apply(TradingEvent.HALT)

    def resume(self) -> TradingState:
        """Lift a halt. If today's loss reached the limit, trading resumes reducing-only."""
        self.apply(TradingEvent.RESUME)
        if self._loss_breached:
            self.apply(TradingEvent.DAILY_LOSS_BREACHED)
        return self._state

    def new_day(self) -> TradingState:
        """A new trading day: the daily P&L starts at 0 and REDUCING becomes ACTIVE (a halt stays)."""
        self._daily_pnl = ZERO
        self._loss_breached = False
        return self.apply(TradingEvent.NEW_DAY)

    def snapshot(self, positions: Mapping[str, Decimal], now: datetime) -> RiskState:
        """The facts a check needs, as of `now`."""
        self._leave_window(now)
        return RiskState(self._state, positions, self._daily_pnl, tuple(self._order_times))

    def _leave_window(self, now: datetime) -> None:
        """Forget the approvals that are a second or more before `now`."""
        times = self._order_times
        if times:
            start = now - ONE_SECOND
            while times and times[0] <= start:
                times.popleft()

    def check(
        self,
        order: OrderRequest,
        reference_price: Decimal | None,
        positions: Mapping[str, Decimal],
        now: datetime,
    ) -> RiskVerdict:
        """Check the order against the limits and the trading state; an approval counts toward the
        orders-per-second limit."""
        if self._limits.max_orders_per_second is None:
            # Without a rate limit the check never reads the recent approvals, and copying them
            # into its snapshot cost more than the rest of the check under a steady flow of
            # orders (thousands a second in the simulation): the same verdict without them.
            self._leave_window(now)
            state = RiskState(self._state, positions, self._daily_pnl)
        else:
            state = self.snapshot(positions, now)
        verdict = check_order(order, self._limits, state, reference_price, now)
        if verdict.approved:
            self._order_times.append(now)
        return verdict
