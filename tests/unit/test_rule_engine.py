"""RuleEngine: indexed matching, firing (priority, cooldown, one-shot), intentions to the handler."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from core.bus import EventBus
from core.clock import EPOCH
from core.events import OrderCancelledEvent, OrderEvent, PredictionSignalEvent, PriceEvent, Signal
from core.orders import OrderType
from core.rules import (
    CloseAll,
    CreateOrderAction,
    EventCondition,
    Intention,
    LinkedCloseAllAction,
    LinkedCreateOrderAction,
    LinkedScaleInAction,
    PlaceBracket,
    PlaceOrder,
    Rule,
    RuleEngine,
    RuleFiring,
    ScaleIn,
)
from core.values import OrderRef, Side


@dataclass
class RecordingHandler:
    """A fake CommandHandler: records what it is asked to do; can be told to fail on a symbol."""

    received: list[tuple[Intention, RuleFiring]] = field(default_factory=list)
    fail_on: str | None = None

    async def handle(self, intention: Intention, firing: RuleFiring) -> None:
        if intention.symbol == self.fail_on:
            raise RuntimeError(f"refusing {intention.symbol}")
        self.received.append((intention, firing))

    @property
    def intentions(self) -> list[Intention]:
        return [intention for intention, _ in self.received]


def signal(
    symbol: str = "AAPL", sig: str = "BUY", confidence: float = 0.8, at: datetime = EPOCH,
    price: str | None = None,
) -> PredictionSignalEvent:
    return PredictionSignalEvent(
        symbol, Signal(sig), confidence, None if price is None else Decimal(price), timestamp=at
    )


def price_event(symbol: str = "AAPL", value: str = "100", at: datetime = EPOCH) -> PriceEvent:
    return PriceEvent(symbol, Decimal(value), timestamp=at)


def buy_rule(rule_id: str = "aapl_buy_rule", symbol: str = "AAPL", **options: object) -> Rule:
    """The rule of the seed's example."""
    condition = EventCondition(
        event_type=PredictionSignalEvent,
        field_conditions={"signal": "BUY", "symbol": symbol, "confidence": lambda c: c > 0.75},
    )
    action = CreateOrderAction(symbol=symbol, quantity=10, order_type=OrderType.MARKET)
    return Rule(rule_id=rule_id, name=f"{symbol} Buy on High Confidence", condition=condition,
                action=action, **options)  # type: ignore[arg-type]


def price_rule(rule_id: str, symbol: str | None = "AAPL", priority: int = 0) -> Rule:
    fields: dict[str, object] = {"price": lambda p: p > 0}
    if symbol is not None:
        fields["symbol"] = symbol
    return Rule(rule_id, rule_id, EventCondition(PriceEvent, fields), CreateOrderAction(symbol or "ANY", 1),
                priority=priority)


async def test_the_seed_example_places_a_market_order_through_the_bus() -> None:
    bus = EventBus()
    handler = RecordingHandler()
    engine = RuleEngine(bus, command_handler=handler)
    engine.update_context({"order_manager": object(), "account": {"equity": 100000}, "prices": {}})
    engine.register_rule(buy_rule())
    await engine.start()

    await bus.publish(signal(confidence=0.9))
    await bus.publish(signal(confidence=0.5))  # not confident enough
    await bus.publish(signal(symbol="MSFT", confidence=0.99))  # another symbol
    await bus.drain()

    assert handler.intentions == [PlaceOrder("AAPL", Side.BUY, Decimal(10), OrderType.MARKET)]
    _, firing = handler.received[0]
    assert firing.rule_id == "aapl_buy_rule" and firing.event == signal(confidence=0.9)
    await engine.stop()
    await bus.close()


def test_match_returns_only_rules_for_the_events_class_and_symbol_in_priority_order() -> None:
    engine = RuleEngine()
    engine.register_rule(price_rule("aapl-low", "AAPL", priority=0))
    engine.register_rule(price_rule("any-mid", None, priority=5))
    engine.register_rule(price_rule("aapl-high", "AAPL", priority=9))
    engine.register_rule(price_rule("aapl-low-2", "AAPL", priority=0))
    engine.register_rule(price_rule("msft", "MSFT", priority=9))
    engine.register_rule(buy_rule("aapl-signal"))

    assert [r.rule_id for r in engine.match(price_event("AAPL"))] == [
        "aapl-high", "any-mid", "aapl-low", "aapl-low-2",
    ]
    assert [r.rule_id for r in engine.match(price_event("TSLA"))] == ["any-mid"]
    assert [r.rule_id for r in engine.match(signal("AAPL"))] == ["aapl-signal"]
    assert engine.match(OrderCancelledEvent("AAPL", OrderRef("x"), timestamp=EPOCH)) == []


def test_register_and_unregister() -> None:
    engine = RuleEngine()
    rule = buy_rule()
    engine.register_rule(rule)
    with pytest.raises(ValueError, match="'aapl_buy_rule' is already registered"):
        engine.register_rule(buy_rule())
    assert engine.unregister_rule("aapl_buy_rule") is rule
    assert engine.match(signal()) == []
    with pytest.raises(KeyError, match="no rule 'aapl_buy_rule'"):
        engine.unregister_rule("aapl_buy_rule")
    engine.register_rules([buy_rule("a"), buy_rule("b")])
    assert [r.rule_id for r in engine.rules] == ["a", "b"]


def test_disabled_rules_do_not_match_until_enabled() -> None:
    engine = RuleEngine()
    engine.register_rule(buy_rule(enabled=False))
    assert engine.match(signal()) == []
    engine.enable_rule("aapl_buy_rule")
    assert [r.rule_id for r in engine.match(signal())] == ["aapl_buy_rule"]
    engine.disable_rule("aapl_buy_rule")
    assert engine.match(signal()) == []
    assert engine.get_rule("aapl_buy_rule").enabled is False


async def test_cooldown_is_judged_by_the_event_timestamps() -> None:
    handler = RecordingHandler()
    engine = RuleEngine(command_handler=handler)
    engine.register_rule(buy_rule(cooldown_seconds=60))
    fired = [
        bool(await engine.process(signal(at=EPOCH + timedelta(seconds=s))))
        for s in (0, 30, 59.999, 60, 61, 125)
    ]
    assert fired == [True, False, False, True, False, True]
    assert len(handler.received) == 3


async def test_a_one_shot_rule_fires_once_and_is_then_disabled() -> None:
    handler = RecordingHandler()
    engine = RuleEngine(command_handler=handler)
    engine.register_rule(buy_rule(one_shot=True))
    assert len(await engine.process(signal())) == 1
    assert await engine.process(signal()) == []
    assert engine.get_rule("aapl_buy_rule").enabled is False
    engine.enable_rule("aapl_buy_rule")
    assert len(await engine.process(signal())) == 1


async def test_without_a_handler_intentions_are_kept_and_a_warning_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = RuleEngine()
    engine.register_rule(buy_rule())
    with caplog.at_level(logging.WARNING, logger="core.rules.engine"):
        firings = await engine.process(signal())
    assert engine.unhandled == firings
    assert engine.unhandled[0].intentions == (PlaceOrder("AAPL", Side.BUY, Decimal(10)),)
    assert "no command handler is configured" in caplog.text
    # Setting a handler later does not replay them (a stale order must not be placed).
    handler = RecordingHandler()
    engine.set_command_handler(handler)
    assert engine.command_handler is handler
    assert handler.received == []


def linked_buy_rule(**action_options: object) -> Rule:
    action = LinkedCreateOrderAction(
        symbol="AAPL", quantity=100, side="BUY", auto_create_stops=True, stop_loss_pct=0.03,
        take_profit_pct=0.08, **action_options,  # type: ignore[arg-type]
    )
    condition = EventCondition(PredictionSignalEvent, {"symbol": "AAPL", "signal": "BUY"})
    return Rule("linked", "linked buy", condition, action, cooldown_seconds=60)


async def test_a_bracket_takes_its_reference_price_from_the_event_then_the_context() -> None:
    handler = RecordingHandler()
    engine = RuleEngine(command_handler=handler)
    engine.register_rule(linked_buy_rule())

    await engine.process(signal(price="150.00"))
    engine.update_context({"prices": {"AAPL": 200.5}})
    await engine.process(signal(at=EPOCH + timedelta(minutes=5)))

    first, second = handler.intentions
    assert first == PlaceBracket(
        "AAPL", Side.BUY, Decimal(100), Decimal("0.03"), Decimal("0.08"), Decimal("150.00")
    )
    assert (first.stop_loss_price, first.take_profit_price) == (Decimal("145.50"), Decimal("162.00"))
    assert isinstance(second, PlaceBracket) and second.reference_price == Decimal("200.5")


async def test_without_a_known_price_the_bracket_fails_with_a_reason_and_does_not_count_as_fired(
    caplog: pytest.LogCaptureFixture,
) -> None:
    handler = RecordingHandler()
    engine = RuleEngine(command_handler=handler)
    engine.update_context({"prices": {}})
    engine.register_rule(linked_buy_rule())
    with caplog.at_level(logging.ERROR, logger="core.rules.engine"):
        assert await engine.process(signal()) == []
    failure = engine.failures[-1]
    assert (failure.rule_id, failure.stage) == ("linked", "action")
    assert "no price known for AAPL" in failure.reason and "update_context" in failure.reason
    assert "no price known for AAPL" in caplog.text
    # The failed attempt did not start the cooldown: a priced signal a second later fires.
    assert len(await engine.process(signal(price="10", at=EPOCH + timedelta(seconds=1)))) == 1


async def test_a_limit_entry_brackets_around_its_limit_price() -> None:
    handler = RecordingHandler()
    engine = RuleEngine(command_handler=handler)
    engine.register_rule(linked_buy_rule(order_type=OrderType.LIMIT, limit_price="99.50"))
    await engine.process(signal())  # no price anywhere: the limit price is the reference
    (bracket,) = handler.intentions
    assert isinstance(bracket, PlaceBracket)
    assert bracket.reference_price == bracket.limit_price == Decimal("99.50")


async def test_linked_actions_return_their_intentions() -> None:
    handler = RecordingHandler()
    engine = RuleEngine(command_handler=handler)
    short = LinkedCreateOrderAction("TSLA", 25, side="SELL", stop_loss_pct=0.04, take_profit_pct=0.12)
    no_stops = LinkedCreateOrderAction("NVDA", 5, "BUY", auto_create_stops=False)
    scale = LinkedScaleInAction("AAPL", scale_quantity=50)
    close = LinkedCloseAllAction(symbol="AAPL", reason="Sell signal")
    for n, action in enumerate((short, no_stops, scale, close)):
        condition = EventCondition(PriceEvent, {"symbol": action.symbol})
        engine.register_rule(Rule(f"r{n}", f"rule {n}", condition, action))
    for symbol in ("TSLA", "NVDA", "AAPL"):
        await engine.process(price_event(symbol, "100"))

    tsla, nvda, aapl_scale, aapl_close = handler.intentions
    assert isinstance(tsla, PlaceBracket) and tsla.side is Side.SELL
    assert (tsla.stop_loss_price, tsla.take_profit_price) == (Decimal("104.00"), Decimal("88.00"))
    assert nvda == PlaceOrder("NVDA", Side.BUY, Decimal(5), linked=True)
    assert aapl_scale == ScaleIn("AAPL", Decimal(50), Decimal("0.02"), Decimal("100"))
    assert aapl_close == CloseAll("AAPL", "Sell signal")


def test_linked_action_arguments_are_checked_when_the_rule_is_built() -> None:
    assert LinkedScaleInAction("AAPL", quantity=50).quantity == Decimal(50)
    with pytest.raises(ValueError, match="once, as scale_quantity or quantity"):
        LinkedScaleInAction("AAPL", 50, quantity=50)
    with pytest.raises(ValueError, match="needs both stop_loss_pct and take_profit_pct"):
        LinkedCreateOrderAction("AAPL", 10, "BUY", take_profit_pct=None)
    with pytest.raises(ValueError, match="between 0 and 1"):
        LinkedCreateOrderAction("AAPL", 10, "BUY", stop_loss_pct=3)
    with pytest.raises(ValueError, match="side must be 'BUY' or 'SELL'"):
        LinkedCreateOrderAction("AAPL", 10, "HOLD")
    with pytest.raises(ValueError, match="whole number"):
        CreateOrderAction("AAPL", 10.5)
    with pytest.raises(ValueError, match="limit_price is required"):
        CreateOrderAction("AAPL", 10, order_type=OrderType.LIMIT)
    action = CreateOrderAction("AAPL", 10, OrderType.LIMIT, side="sell", limit_price=12.3)
    assert (action.side, action.limit_price) == (Side.SELL, Decimal("12.3"))


async def test_failures_in_conditions_actions_and_the_handler_are_recorded_and_isolated() -> None:
    handler = RecordingHandler(fail_on="MSFT")
    engine = RuleEngine(command_handler=handler)

    class Exploding:
        def intentions(self, event: object, context: object) -> list[Intention]:
            raise ZeroDivisionError("bad maths")

    class Stray:
        def intentions(self, event: object, context: object) -> list[object]:
            return ["buy AAPL"]

    bad_condition = EventCondition(PriceEvent, {"symbol": "AAPL", "price": lambda p: p / 0 > 1})
    good = EventCondition(PriceEvent, {"symbol": "AAPL"})
    engine.register_rule(Rule("bad-condition", "c", bad_condition, CreateOrderAction("AAPL", 1), priority=9))
    engine.register_rule(Rule("bad-action", "a", good, Exploding(), priority=8))  # type: ignore[arg-type]
    engine.register_rule(Rule("stray", "s", good, Stray(), priority=7))  # type: ignore[arg-type]
    engine.register_rule(Rule("refused", "h", good, CreateOrderAction("MSFT", 1), priority=6))
    engine.register_rule(Rule("fine", "f", good, CreateOrderAction("AAPL", 2), priority=5))

    firings = await engine.process(price_event("AAPL"))

    assert [f.rule_id for f in firings] == ["refused", "fine"]
    assert handler.intentions == [PlaceOrder("AAPL", Side.BUY, Decimal(2))]
    stages = {f.rule_id: (f.stage, f.reason) for f in engine.failures}
    assert stages["bad-condition"][0] == "condition"
    assert "decimal.DivisionByZero" in stages["bad-condition"][1]
    assert stages["bad-action"] == ("action", "ZeroDivisionError: bad maths")
    assert stages["stray"][0] == "action" and "an action returns intentions" in stages["stray"][1]
    assert stages["refused"][0] == "handler" and "refusing MSFT" in stages["refused"][1]


async def test_context_is_merged_and_read_only_for_actions() -> None:
    seen: list[object] = []

    class Peek:
        def intentions(self, event: object, context: dict[str, object]) -> list[Intention]:
            seen.append(dict(context))
            with pytest.raises(TypeError):
                context["account"] = "stolen"
            return []

    engine = RuleEngine(context={"account": {"equity": 1}})
    engine.update_context({"prices": {"AAPL": 1}})
    engine.update_context({"account": {"equity": 2}})
    engine.register_rule(Rule("peek", "peek", EventCondition(PriceEvent), Peek()))  # type: ignore[arg-type]
    assert len(await engine.process(price_event())) == 1
    # The PriceEvent itself updated context["prices"] before the rule saw it.
    assert seen == [{"account": {"equity": 2}, "prices": {"AAPL": Decimal("100")}}]
    assert engine.unhandled == []  # a firing without intentions has nothing to hand over


async def test_start_subscribes_to_what_the_rules_need_and_follows_changes() -> None:
    bus = EventBus()
    handler = RecordingHandler()
    engine = RuleEngine(bus, command_handler=handler)
    await engine.start()
    (subscription,) = bus.subscriptions()  # no rules: only prices, to keep context["prices"]
    assert subscription.event_types == (PriceEvent,)

    engine.register_rule(buy_rule())
    (subscription,) = bus.subscriptions()
    assert set(subscription.event_types) == {PredictionSignalEvent, PriceEvent}

    engine.register_rule(price_rule("p", "AAPL"))
    engine.register_rule(Rule("o1", "o1", EventCondition(OrderCancelledEvent), LinkedCloseAllAction("AAPL")))
    engine.register_rule(Rule("o2", "o2", EventCondition(OrderEvent), LinkedCloseAllAction("AAPL")))
    (subscription,) = bus.subscriptions()
    # OrderCancelledEvent is covered by OrderEvent: listening to both would deliver it twice.
    assert set(subscription.event_types) == {PredictionSignalEvent, PriceEvent, OrderEvent}

    await bus.publish(OrderCancelledEvent("AAPL", OrderRef("x"), timestamp=EPOCH))
    await bus.publish(price_event())
    await bus.drain()
    assert [type(i).__name__ for i in handler.intentions] == ["CloseAll", "CloseAll", "PlaceOrder"]

    await engine.stop()
    assert bus.subscriptions() == ()
    await bus.publish(price_event())
    await bus.drain()
    assert len(handler.intentions) == 3
    await bus.close()


async def test_start_without_a_bus_says_how_to_feed_events() -> None:
    with pytest.raises(RuntimeError, match=r"engine\.process"):
        await RuleEngine().start()


def test_rules_refuse_wrong_parts_with_a_reason() -> None:
    condition = EventCondition(PriceEvent)

    class OldStyleAction:
        async def execute(self, context: object) -> bool:
            return True

    with pytest.raises(TypeError, match="intentions"):
        Rule("r", "r", condition, OldStyleAction())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Condition"):
        Rule("r", "r", lambda e: True, CreateOrderAction("A", 1))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cooldown"):
        Rule("r", "r", condition, CreateOrderAction("A", 1), cooldown_seconds=-1)
    with pytest.raises(ValueError, match="rule_id"):
        Rule("", "r", condition, CreateOrderAction("A", 1))



async def test_a_rule_with_a_cooldown_does_not_fire_on_events_without_a_timestamp() -> None:
    class Tick:
        symbol = "AAPL"

    handler = RecordingHandler()
    engine = RuleEngine(command_handler=handler)
    action = CreateOrderAction("AAPL", 1)
    engine.register_rule(Rule("cool", "c", EventCondition(Tick), action, cooldown_seconds=5))
    engine.register_rule(Rule("free", "f", EventCondition(Tick), CreateOrderAction("AAPL", 2)))
    assert [f.rule_id for f in await engine.process(Tick())] == ["free"]
    assert engine.failures[-1].stage == "cooldown" and "no timestamp" in engine.failures[-1].reason


async def test_price_events_keep_the_context_prices_current_for_signals_without_a_price() -> None:
    """A linked entry on a signal that carries no price sizes its stop from the last PriceEvent."""
    bus = EventBus()
    engine = RuleEngine(bus)
    engine.update_context({"prices": {}})
    engine.register_rule(
        Rule(
            rule_id="buy",
            name="buy AAPL",
            condition=EventCondition(event_type=PredictionSignalEvent, field_conditions={"symbol": "AAPL"}),
            action=LinkedCreateOrderAction(symbol="AAPL", quantity=10, side="BUY"),
        )
    )
    await engine.start()
    when = EPOCH
    await bus.publish(PriceEvent(symbol="AAPL", price=Decimal("200"), timestamp=when))
    assert engine.context["prices"] == {"AAPL": Decimal("200")}
    [firing] = await engine.process(
        PredictionSignalEvent(symbol="AAPL", signal="BUY", confidence=0.9, timestamp=when)
    )
    [intention] = firing.intentions
    assert isinstance(intention, PlaceBracket)
    assert intention.reference_price == Decimal("200")
    await engine.stop()
