"""Built-in plugin: the seed's reusable rule templates and its basic strategy.

    from plugins.builtin.templates import create_buy_rule, create_scale_in_rule, StrategyBuilder

    rule_engine.register_rule(create_buy_rule("AAPL", quantity=100, confidence_threshold=0.85))
    for rule in StrategyBuilder.create_basic_strategy("TSLA", quantity=25, enable_scale_in=True):
        rule_engine.register_rule(rule)

Every template returns rules whose actions are the linked-order actions (a bracket with its stop
and target; scale-ins only on the open side; close-all), so the trading command handler keeps each
symbol on one side. Rule ids say what the rule does and with which settings, so the same template
used twice with other settings (the seed registers AAPL from a template and from a strategy) does
not clash; pass `rule_id=` to choose one. Signals must carry a price (or the engine context a
`prices` entry for the symbol): stops and targets are placed from it.

Registered through `tradebridge_register_rule_templates` ("buy", "sell", "scale_in", "close") and
`tradebridge_register_strategies` ("basic"), exactly as a third-party plugin registers its own.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from core.events import PredictionSignalEvent, Signal
from core.rules import (
    EventCondition,
    LinkedCloseAllAction,
    LinkedCreateOrderAction,
    LinkedScaleInAction,
    Rule,
)
from core.rules.actions import Number
from core.values import Side, to_decimal
from plugins.registry import Registrar
from plugins.spec import hookimpl

__all__ = [
    "StrategyBuilder",
    "create_buy_rule",
    "create_close_rule",
    "create_scale_in_rule",
    "create_sell_rule",
]

DEFAULT_QUANTITY = 100
DEFAULT_CONFIDENCE = 0.8
DEFAULT_STOP_LOSS_PCT = 0.03
DEFAULT_TAKE_PROFIT_PCT = 0.08
DEFAULT_SCALE_CONFIDENCE = 0.9
DEFAULT_SCALE_TRIGGER_PCT = 0.02


def _at_least(threshold: float, what: str) -> Callable[[object], bool]:
    number = isinstance(threshold, int | float | Decimal) and not isinstance(threshold, bool)
    if not number or not 0 <= threshold <= 1:
        raise ValueError(f"{what}: confidence_threshold is a probability between 0 and 1, got {threshold!r}")
    limit = float(threshold)

    def confident(confidence: object) -> bool:
        return isinstance(confidence, float) and confidence >= limit

    confident.__qualname__ = f"confidence >= {limit:g}"
    return confident


def _signal_condition(symbol: str, signal: Signal, threshold: float, what: str) -> EventCondition:
    return EventCondition(
        event_type=PredictionSignalEvent,
        field_conditions={"signal": signal, "symbol": symbol, "confidence": _at_least(threshold, what)},
    )


def _key(symbol: str) -> str:
    return symbol.lower().replace(" ", "_")


def _entry_rule(
    side: Side, symbol: str, quantity: Number, confidence_threshold: float, stop_loss_pct: Number,
    take_profit_pct: Number, rule_id: str | None, cooldown_seconds: float,
) -> Rule:
    what = f"create_{side.value.lower()}_rule({symbol!r})"
    action = LinkedCreateOrderAction(symbol=symbol, quantity=quantity, side=side, auto_create_stops=True,
                                     stop_loss_pct=stop_loss_pct, take_profit_pct=take_profit_pct)
    held = "long" if side is Side.BUY else "short"
    default_id = f"{_key(symbol)}_{side.value.lower()}_{action.quantity}_at_{confidence_threshold:g}"
    return Rule(
        rule_id=rule_id or default_id,
        name=f"{symbol} {side.value.title()} on confidence >= {confidence_threshold:g}",
        condition=_signal_condition(symbol, Signal(side.value), confidence_threshold, what),
        action=action,
        cooldown_seconds=cooldown_seconds,
        description=(f"open a {held} of {action.quantity} {symbol} as a bracket: stop "
                     f"{to_decimal(stop_loss_pct):%} and target {to_decimal(take_profit_pct):%} away"),
    )


def create_buy_rule(
    symbol: str,
    quantity: Number = DEFAULT_QUANTITY,
    confidence_threshold: float = DEFAULT_CONFIDENCE,
    stop_loss_pct: Number = DEFAULT_STOP_LOSS_PCT,
    take_profit_pct: Number = DEFAULT_TAKE_PROFIT_PCT,
    *,
    rule_id: str | None = None,
    cooldown_seconds: float = 0,
) -> Rule:
    """On a BUY signal for `symbol` with at least `confidence_threshold`: open a long of
    `quantity` shares as a bracket, stop `stop_loss_pct` below and target `take_profit_pct` above
    the signal's price."""
    return _entry_rule(Side.BUY, symbol, quantity, confidence_threshold, stop_loss_pct, take_profit_pct,
                       rule_id, cooldown_seconds)


def create_sell_rule(
    symbol: str,
    quantity: Number = DEFAULT_QUANTITY,
    confidence_threshold: float = DEFAULT_CONFIDENCE,
    stop_loss_pct: Number = DEFAULT_STOP_LOSS_PCT,
    take_profit_pct: Number = DEFAULT_TAKE_PROFIT_PCT,
    *,
    rule_id: str | None = None,
    cooldown_seconds: float = 0,
) -> Rule:
    """On a SELL signal for `symbol` with at least `confidence_threshold`: open a short of
    `quantity` shares as a bracket, stop `stop_loss_pct` above and target `take_profit_pct` below
    the signal's price. While the symbol is long the short is refused (close it first)."""
    return _entry_rule(Side.SELL, symbol, quantity, confidence_threshold, stop_loss_pct, take_profit_pct,
                       rule_id, cooldown_seconds)


def create_scale_in_rule(
    symbol: str,
    scale_quantity: Number = 50,
    confidence_threshold: float = DEFAULT_SCALE_CONFIDENCE,
    trigger_profit_pct: Number = DEFAULT_SCALE_TRIGGER_PCT,
    *,
    side: Side | str = Side.BUY,
    rule_id: str | None = None,
    cooldown_seconds: float = 0,
) -> Rule:
    """On a `side` signal for `symbol` with at least `confidence_threshold`: add `scale_quantity`
    shares to the open `side` position if it is at least `trigger_profit_pct` in profit; the
    addition gets its own stop and target. Never on the other side, never onto nothing."""
    what = f"create_scale_in_rule({symbol!r})"
    action = LinkedScaleInAction(symbol, scale_quantity, trigger_profit_pct, side=side)
    scale_side = action.side or Side.BUY
    return Rule(
        rule_id=rule_id or f"{_key(symbol)}_scale_in_{action.scale_quantity}_at_{confidence_threshold:g}",
        name=f"{symbol} scale in {action.scale_quantity} on {scale_side.value} >= {confidence_threshold:g}",
        condition=_signal_condition(symbol, Signal(scale_side.value), confidence_threshold, what),
        action=action,
        cooldown_seconds=cooldown_seconds,
        description=(f"add {action.scale_quantity} {symbol} to an open {scale_side.value} position that is "
                     f"at least {action.trigger_profit_pct:%} in profit"),
    )


def create_close_rule(
    symbol: str,
    signal: Signal | str = Signal.SELL,
    confidence_threshold: float = DEFAULT_CONFIDENCE,
    *,
    reason: str | None = None,
    rule_id: str | None = None,
) -> Rule:
    """On a `signal` for `symbol` with at least `confidence_threshold`: cancel every linked order
    of the symbol and flatten it (the seed's `LinkedCloseAllAction(symbol, reason="Sell signal")`)."""
    wanted = Signal(str(signal).strip().upper())
    what = f"create_close_rule({symbol!r})"
    return Rule(
        rule_id=rule_id or f"{_key(symbol)}_close_on_{wanted.value.lower()}_at_{confidence_threshold:g}",
        name=f"{symbol} close all on {wanted.value} >= {confidence_threshold:g}",
        condition=_signal_condition(symbol, wanted, confidence_threshold, what),
        action=LinkedCloseAllAction(symbol, reason or f"{wanted.value.title()} signal"),
        priority=1,  # before any entry rule on the same signal: close first
        description=f"cancel every linked order of {symbol} and flatten it",
    )


class StrategyBuilder:
    """Whole strategies made of the templates."""

    @staticmethod
    def create_basic_strategy(
        symbol: str,
        quantity: Number = DEFAULT_QUANTITY,
        confidence_threshold: float = DEFAULT_CONFIDENCE,
        stop_loss_pct: Number = DEFAULT_STOP_LOSS_PCT,
        take_profit_pct: Number = DEFAULT_TAKE_PROFIT_PCT,
        enable_scale_in: bool = False,
        scale_quantity: Number | None = None,
    ) -> list[Rule]:
        """Long-only: buy on a confident BUY signal (a bracket with stop and target), close
        everything on a confident SELL signal, and, with `enable_scale_in`, add `scale_quantity`
        (half the quantity by default) on a very confident BUY signal once the position is 2 % in
        profit."""
        key = f"{_key(symbol)}_basic"
        rules = [
            create_buy_rule(symbol, quantity, confidence_threshold, stop_loss_pct, take_profit_pct,
                            rule_id=f"{key}_buy"),
            create_close_rule(symbol, Signal.SELL, confidence_threshold, reason="Sell signal",
                              rule_id=f"{key}_close"),
        ]
        if enable_scale_in:
            amount = scale_quantity if scale_quantity is not None else max(1, int(to_decimal(quantity)) // 2)
            scale_threshold = max(float(confidence_threshold), DEFAULT_SCALE_CONFIDENCE)
            rules.append(create_scale_in_rule(symbol, amount, scale_threshold, rule_id=f"{key}_scale_in"))
        return rules


@hookimpl
def tradebridge_register_rule_templates(registry: Registrar) -> None:
    registry.register("buy", create_buy_rule, description="open a long bracket on a confident BUY signal")
    registry.register("sell", create_sell_rule, description="open a short bracket on a confident SELL signal")
    registry.register("scale_in", create_scale_in_rule,
                      description="add to an open position in profit, on its own side only")
    registry.register("close", create_close_rule,
                      description="cancel every linked order and flatten on a signal")


@hookimpl
def tradebridge_register_strategies(registry: Registrar) -> None:
    registry.register("basic", StrategyBuilder.create_basic_strategy,
                      description="long-only: buy on BUY, close on SELL, optional scale-in")
