"""The momentum strategy: rules built from tradebridge's conditions and linked-order actions.

A strategy is a function from settings to a list of `core.rules.Rule`. Its rules return
intentions; the host's command handler checks them (linked state, risk) and places the orders.
The strategy never sees a broker.
"""

from decimal import Decimal

from core.events import PredictionSignalEvent
from core.rules import Condition, EventCondition, LinkedCloseAllAction, LinkedCreateOrderAction, Rule
from core.values import to_decimal


class UpsideAtLeast(Condition):
    """A signal whose `target_price` is at least `pct` above its `price`: the momentum filter.

    A custom condition only needs `matches`; `index_keys` tells the engine which events can
    match, so it is only asked about those (combined with `&`, the engine uses the narrower
    condition's keys anyway)."""

    __slots__ = ("pct",)

    def __init__(self, pct: Decimal) -> None:
        self.pct = pct

    def matches(self, event: object) -> bool:
        price = getattr(event, "price", None)
        target = getattr(event, "target_price", None)
        if not isinstance(price, Decimal) or not isinstance(target, Decimal):
            return False
        return target >= price * (1 + self.pct)

    def index_keys(self):
        return frozenset({(PredictionSignalEvent, None)})


def create_momentum_strategy(
    symbol: str,
    quantity: int = 10,
    min_upside_pct: float = 0.03,
    confidence_threshold: float = 0.7,
    stop_loss_pct: float = 0.02,
    take_profit_pct: float = 0.05,
) -> list[Rule]:
    """Buy `symbol` on a confident BUY signal whose target is at least `min_upside_pct` above the
    price (a bracket: stop `stop_loss_pct` below, target `take_profit_pct` above); close everything
    on any SELL signal."""
    key = f"momentum_{symbol.lower()}"
    confident_buy = EventCondition(
        PredictionSignalEvent,
        {"signal": "BUY", "symbol": symbol, "confidence": lambda c: c >= confidence_threshold},
    )
    entry = Rule(
        rule_id=f"{key}_entry",
        name=f"{symbol} momentum entry",
        condition=confident_buy & UpsideAtLeast(to_decimal(min_upside_pct)),
        action=LinkedCreateOrderAction(symbol, quantity, side="BUY", stop_loss_pct=stop_loss_pct,
                                       take_profit_pct=take_profit_pct),
    )
    exit_rule = Rule(
        rule_id=f"{key}_exit",
        name=f"{symbol} momentum exit",
        condition=EventCondition(PredictionSignalEvent, {"signal": "SELL", "symbol": symbol}),
        action=LinkedCloseAllAction(symbol, "momentum faded (SELL signal)"),
        priority=1,
    )
    return [entry, exit_rule]
