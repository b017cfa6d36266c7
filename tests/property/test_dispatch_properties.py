"""Indexed dispatch finds exactly what a linear scan over every rule finds, in the same order,
whatever the rules (composed conditions, base classes, pinned and unpinned symbols, custom
conditions), and however they were registered, disabled or removed along the way."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from core.clock import EPOCH
from core.events import (
    Event,
    OrderCancelledEvent,
    OrderEvent,
    OrderRejectedEvent,
    PredictionSignalEvent,
    PriceEvent,
    Signal,
)
from core.rules import AllOf, AnyOf, Condition, CreateOrderAction, EventCondition, Not, Rule, RuleEngine
from core.values import OrderRef

SYMBOLS = ["AAPL", "MSFT", "TSLA"]
EVENT_SYMBOLS = [*SYMBOLS, "NVDA"]  # NVDA: no rule pins it


class SymbolStartsWith(Condition):
    """A custom condition that does not say where to file it (so it is filed under every event)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def matches(self, event: object) -> bool:
        return str(getattr(event, "symbol", "")).startswith(self.prefix)


def symbol_field() -> st.SearchStrategy[dict[str, object]]:
    return st.one_of(
        st.just({}),
        st.sampled_from(SYMBOLS).map(lambda s: {"symbol": s}),
        st.sampled_from(["A", "M"]).map(lambda p: {"symbol": lambda s, p=p: s.startswith(p)}),
    )


def event_conditions() -> st.SearchStrategy[Condition]:
    prices = st.builds(
        lambda sym, threshold: EventCondition(
            PriceEvent, {**sym, **({} if threshold is None else {"price": lambda p, t=threshold: p > t})}
        ),
        symbol_field(),
        st.none() | st.integers(90, 110).map(Decimal),
    )
    signals = st.builds(
        lambda sym, sig: EventCondition(
            PredictionSignalEvent, {**sym, **({} if sig is None else {"signal": sig})}
        ),
        symbol_field(),
        st.none() | st.sampled_from(["BUY", "SELL"]),
    )
    orders = st.builds(
        lambda cls, sym: EventCondition(cls, sym),
        st.sampled_from([OrderEvent, OrderCancelledEvent]),
        symbol_field(),
    )
    anything = st.just(EventCondition(Event))
    custom = st.sampled_from(["A", "T"]).map(SymbolStartsWith)
    return st.one_of(prices, signals, orders, anything, custom)


_LEAVES = event_conditions()
_KINDS = st.sampled_from(["leaf", "leaf", "all", "any", "not"])


def _one_level_up(parts: st.SearchStrategy[Condition]) -> st.SearchStrategy[Condition]:
    """A leaf, or AllOf / AnyOf / Not of `parts`, in even proportions."""
    groups = st.lists(parts, min_size=1, max_size=3)

    @st.composite
    def level(draw: st.DrawFn) -> Condition:
        kind = draw(_KINDS)
        if kind == "leaf":
            return draw(_LEAVES)
        if kind == "not":
            return Not(draw(parts))
        return AllOf(*draw(groups)) if kind == "all" else AnyOf(*draw(groups))

    return level()


conditions = _one_level_up(_one_level_up(_LEAVES))

events = st.one_of(
    st.builds(
        lambda sym, price: PriceEvent(sym, Decimal(price), timestamp=EPOCH),
        st.sampled_from(EVENT_SYMBOLS), st.integers(85, 115),
    ),
    st.builds(
        lambda sym, sig, conf: PredictionSignalEvent(sym, sig, conf, timestamp=EPOCH),
        st.sampled_from(EVENT_SYMBOLS), st.sampled_from(list(Signal)), st.floats(0, 1),
    ),
    st.builds(
        lambda cls, sym: cls(sym, OrderRef("o1"), reason="r", timestamp=EPOCH),
        st.sampled_from([OrderCancelledEvent, OrderRejectedEvent]), st.sampled_from(EVENT_SYMBOLS),
    ),
)

rule_specs = st.tuples(conditions, st.integers(-2, 2), st.booleans())

operations = st.lists(
    st.one_of(
        st.tuples(st.just("register"), rule_specs),
        st.tuples(st.just("unregister"), st.integers(0, 40)),
        st.tuples(st.just("toggle"), st.integers(0, 40)),
        st.tuples(st.just("match"), events),
    ),
    max_size=20,
)


def linear_scan(engine: RuleEngine, event: object) -> list[str]:
    """Every enabled rule whose condition holds, by priority then registration order."""
    found = [rule for rule in engine.rules if rule.enabled and rule.condition.matches(event)]
    return [rule.rule_id for rule in sorted(found, key=lambda rule: -rule.priority)]


@given(
    st.lists(rule_specs, min_size=1, max_size=20),
    operations,
    st.lists(events, min_size=5, max_size=12),
)
def test_indexed_dispatch_equals_a_linear_scan(
    initial_rules: list[tuple[Condition, int, bool]],
    ops: list[tuple[object, ...]],
    final_events: list[object],
) -> None:
    engine = RuleEngine()
    next_id = 0

    def register(spec: tuple[Condition, int, bool]) -> None:
        nonlocal next_id
        condition, priority, enabled = spec
        action = CreateOrderAction("AAPL", 1)
        engine.register_rule(Rule(f"r{next_id}", "r", condition, action, priority=priority, enabled=enabled))
        next_id += 1

    for spec in initial_rules:
        register(spec)
    for op in ops:
        kind, argument = op
        registered = [rule.rule_id for rule in engine.rules]
        if kind == "register":
            register(argument)  # type: ignore[arg-type]
        elif kind == "unregister" and registered:
            engine.unregister_rule(registered[argument % len(registered)])  # type: ignore[operator]
        elif kind == "toggle" and registered:
            rule = engine.get_rule(registered[argument % len(registered)])  # type: ignore[operator]
            (engine.disable_rule if rule.enabled else engine.enable_rule)(rule.rule_id)
        elif kind == "match":
            assert [rule.rule_id for rule in engine.match(argument)] == linear_scan(engine, argument)
    for event in final_events:
        assert [rule.rule_id for rule in engine.match(event)] == linear_scan(engine, event)
