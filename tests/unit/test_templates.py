"""The built-in rule templates and basic strategy: what they match, what they intend, how they are
registered as a plugin, and the seed's "Method 1-3" registering together without clashes."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.bus import EventBus
from core.clock import EPOCH
from core.events import PredictionSignalEvent, Signal
from core.rules import CloseAll, PlaceBracket, RuleEngine, ScaleIn
from core.values import Side
from plugins.builtin.templates import (
    StrategyBuilder,
    create_buy_rule,
    create_close_rule,
    create_scale_in_rule,
    create_sell_rule,
)
from plugins.manager import build_plugin_manager

D = Decimal


def signal(sig: str, confidence: float, symbol: str = "AAPL", price: str = "100") -> PredictionSignalEvent:
    return PredictionSignalEvent(symbol, Signal(sig), confidence, D(price), timestamp=EPOCH)


def test_a_buy_rule_matches_confident_buy_signals_of_its_symbol_and_intends_a_long_bracket() -> None:
    rule = create_buy_rule("AAPL", quantity=100, confidence_threshold=0.85, stop_loss_pct=0.03,
                           take_profit_pct=0.08)
    condition = rule.condition
    assert condition.matches(signal("BUY", 0.85)) and condition.matches(signal("BUY", 0.99))
    assert not condition.matches(signal("BUY", 0.84))
    assert not condition.matches(signal("SELL", 0.99)) and not condition.matches(signal("BUY", 0.9, "MSFT"))
    (bracket,) = rule.action.intentions(signal("BUY", 0.9), {})
    assert isinstance(bracket, PlaceBracket) and bracket.side is Side.BUY and bracket.quantity == D(100)
    assert (bracket.stop_loss_price, bracket.take_profit_price) == (D(97), D(108))


def test_a_sell_rule_intends_a_short_bracket_with_the_stop_above() -> None:
    rule = create_sell_rule("TSLA", 10, 0.7, 0.05, 0.1)
    assert rule.condition.matches(signal("SELL", 0.7, "TSLA"))
    (bracket,) = rule.action.intentions(signal("SELL", 0.7, "TSLA", "200"), {})
    assert isinstance(bracket, PlaceBracket) and bracket.side is Side.SELL
    assert (bracket.stop_loss_price, bracket.take_profit_price) == (D(210), D(180))


def test_scale_in_and_close_rules() -> None:
    scale = create_scale_in_rule("AAPL", scale_quantity=50)
    assert scale.condition.matches(signal("BUY", 0.9)) and not scale.condition.matches(signal("BUY", 0.89))
    (intention,) = scale.action.intentions(signal("BUY", 0.95), {})
    assert intention == ScaleIn("AAPL", D(50), D("0.02"), D(100), Side.BUY)
    close = create_close_rule("AAPL")
    assert close.condition.matches(signal("SELL", 0.8)) and close.priority > scale.priority
    assert close.action.intentions(signal("SELL", 0.8), {}) == (CloseAll("AAPL", "Sell signal"),)


def test_the_basic_strategy_buys_closes_and_optionally_scales_in() -> None:
    rules = StrategyBuilder.create_basic_strategy("TSLA", quantity=25, confidence_threshold=0.90,
                                                  stop_loss_pct=0.04, take_profit_pct=0.12,
                                                  enable_scale_in=True)
    assert [r.rule_id for r in rules] == ["tsla_basic_buy", "tsla_basic_close", "tsla_basic_scale_in"]
    entry = rules[0].action.intentions(signal("BUY", 0.95, "TSLA", "250"), {})[0]
    assert isinstance(entry, PlaceBracket) and entry.stop_loss_price == D(240)
    scale = rules[2].action.intentions(signal("BUY", 0.95, "TSLA", "250"), {})[0]
    assert isinstance(scale, ScaleIn) and scale.quantity == D(12)
    assert len(StrategyBuilder.create_basic_strategy("MSFT", quantity=50, confidence_threshold=0.80)) == 2


def test_bad_settings_fail_when_the_rule_is_built() -> None:
    with pytest.raises(ValueError, match="confidence_threshold is a probability"):
        create_buy_rule("AAPL", 10, confidence_threshold=85)
    with pytest.raises(ValueError, match="stop_loss_pct is a fraction"):
        create_buy_rule("AAPL", 10, stop_loss_pct=3)


def test_the_seeds_three_methods_register_together_in_one_engine() -> None:
    engine = RuleEngine(EventBus())
    engine.register_rule(create_buy_rule(symbol="AAPL", quantity=100, confidence_threshold=0.85,
                                         stop_loss_pct=0.03, take_profit_pct=0.08))
    engine.register_rule(create_scale_in_rule("AAPL", scale_quantity=50))
    engine.register_rules(StrategyBuilder.create_basic_strategy(
        symbol="TSLA", quantity=25, confidence_threshold=0.90, stop_loss_pct=0.04, take_profit_pct=0.12,
        enable_scale_in=True,
    ))
    for symbol in ["AAPL", "MSFT", "NVDA"]:
        engine.register_rules(StrategyBuilder.create_basic_strategy(symbol=symbol, quantity=50,
                                                                    confidence_threshold=0.80))
    assert len(engine.rules) == 2 + 3 + 3 * 2
    fired = [rule.rule_id for rule in engine.match(signal("BUY", 0.95))]
    assert fired == ["aapl_buy_100_at_0.85", "aapl_scale_in_50_at_0.9", "aapl_basic_buy"]


def test_the_templates_are_a_built_in_plugin() -> None:
    host = build_plugin_manager(load_entry_points=False)
    assert host.rule_templates.names() == ("buy", "close", "scale_in", "sell")
    assert host.strategies.owner("basic") == "builtin.templates"
    rules = host.strategies.create("basic", symbol="NVDA", quantity=10, enable_scale_in=True)
    assert [r.rule_id for r in rules] == ["nvda_basic_buy", "nvda_basic_close", "nvda_basic_scale_in"]
    assert host.rule_templates.create("buy", "AAPL", 5).action.quantity == D(5)  # type: ignore[attr-defined]
