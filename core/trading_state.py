"""The trading state machine (ACTIVE / REDUCING / HALTED), as one transition table.

Every change of the executor's trading state goes through `next_trading_state`, so tests can
enumerate the table. Repeating an event that is already in force (a second halt, a loss breach
while REDUCING) maps to the same state on purpose: kill switches get pressed twice.
"""

from __future__ import annotations

from enum import StrEnum

from core.values import TradingState


class TradingEvent(StrEnum):
    """What moves the trading state."""

    DAILY_LOSS_BREACHED = "daily_loss_breached"  # today's loss reached max_daily_loss
    HALT = "halt"  # the kill switch, or reconciliation not (yet) done
    RESUME = "resume"  # a person (or a successful reconciliation) lifts the halt
    NEW_DAY = "new_day"  # a new trading day: the daily loss starts again at 0


A = TradingState.ACTIVE
R = TradingState.REDUCING
H = TradingState.HALTED
E = TradingEvent

# (state, event) -> next state. A halt survives a new day: only a resume lifts it. Resuming a halt
# goes to ACTIVE; the gate then re-applies the day's loss, so a halt never launders a loss breach.
TRADING_TRANSITIONS: dict[tuple[TradingState, TradingEvent], TradingState] = {
    (A, E.DAILY_LOSS_BREACHED): R,
    (A, E.HALT): H,
    (A, E.RESUME): A,
    (A, E.NEW_DAY): A,
    (R, E.DAILY_LOSS_BREACHED): R,
    (R, E.HALT): H,
    (R, E.NEW_DAY): A,
    (H, E.DAILY_LOSS_BREACHED): H,
    (H, E.HALT): H,
    (H, E.RESUME): A,
    (H, E.NEW_DAY): H,
}

del A, R, H, E


class InvalidTradingTransition(Exception):
    """A trading-state change the table does not allow."""

    def __init__(self, state: TradingState, event: TradingEvent) -> None:
        if state is TradingState.REDUCING and event is TradingEvent.RESUME:
            hint = ("trading is REDUCING because the daily loss limit was crossed, not halted: it "
                    "becomes ACTIVE again on a new trading day (or raise max_daily_loss)")
        else:
            allowed = sorted(e.value for (s, e) in TRADING_TRANSITIONS if s is state)
            hint = f"allowed: {', '.join(allowed)}"
        super().__init__(f"trading is {state.value} and cannot take '{event.value}': {hint}")
        self.state = state
        self.event = event


def next_trading_state(state: TradingState, event: TradingEvent) -> TradingState:
    """The state after `event`, or InvalidTradingTransition if the table has no such edge."""
    try:
        return TRADING_TRANSITIONS[(state, event)]
    except KeyError:
        raise InvalidTradingTransition(state, event) from None
