"""Conditions: field tests, composition, and the index keys that decide where a rule is filed."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.clock import EPOCH
from core.events import Event, OrderEvent, OrderFilledEvent, PredictionSignalEvent, PriceEvent, Signal
from core.rules import ANY_SYMBOL, AllOf, AnyOf, Condition, EventCondition, Not
from core.values import ExecId, OrderRef, Side


def signal(symbol: str = "AAPL", sig: str = "BUY", confidence: float = 0.8) -> PredictionSignalEvent:
    return PredictionSignalEvent(symbol, Signal(sig), confidence, timestamp=EPOCH)


def price(symbol: str = "AAPL", value: str = "100") -> PriceEvent:
    return PriceEvent(symbol, Decimal(value), timestamp=EPOCH)


SEED_CONDITION = EventCondition(
    event_type=PredictionSignalEvent,
    field_conditions={"signal": "BUY", "symbol": "AAPL", "confidence": lambda c: c > 0.75},
)


def test_the_seed_condition_matches_a_confident_buy_for_its_symbol_only() -> None:
    assert SEED_CONDITION.matches(signal())
    assert not SEED_CONDITION.matches(signal(confidence=0.75))
    assert not SEED_CONDITION.matches(signal(sig="SELL"))
    assert not SEED_CONDITION.matches(signal(symbol="MSFT"))
    assert not SEED_CONDITION.matches(price())


def test_an_event_without_conditions_matches_by_type_including_subclasses() -> None:
    fill = OrderFilledEvent(
        "AAPL", OrderRef("o1"), ExecId("e1"), Side.BUY, Decimal(1), Decimal(10), Decimal(1), Decimal(0),
        timestamp=EPOCH,
    )
    assert EventCondition(OrderEvent).matches(fill)
    assert EventCondition(Event).matches(price())
    assert not EventCondition(OrderEvent).matches(price())


def test_an_event_lacking_the_field_does_not_match() -> None:
    class Bare:
        pass

    assert not EventCondition(object, {"symbol": "AAPL"}).matches(Bare())


def test_a_misspelt_field_is_refused_when_the_condition_is_built() -> None:
    with pytest.raises(ValueError, match=r"PriceEvent has no field 'sybmol'.*symbol, price"):
        EventCondition(PriceEvent, {"sybmol": "AAPL"})


def test_properties_of_events_can_be_tested() -> None:
    fill = OrderFilledEvent(
        "AAPL", OrderRef("o1"), ExecId("e1"), Side.BUY, Decimal(1), Decimal(10), Decimal(1), Decimal(0),
        timestamp=EPOCH,
    )
    assert EventCondition(OrderFilledEvent, {"is_complete": True}).matches(fill)


def test_composition_with_operators_and_classes() -> None:
    buy = EventCondition(PredictionSignalEvent, {"signal": "BUY"})
    aapl = EventCondition(PredictionSignalEvent, {"symbol": "AAPL"})
    confident = EventCondition(PredictionSignalEvent, {"confidence": lambda c: c >= 0.9})
    assert (buy & aapl).matches(signal())
    assert not (buy & aapl).matches(signal(symbol="MSFT"))
    assert (buy | confident).matches(signal(sig="SELL", confidence=0.95))
    assert not (buy | confident).matches(signal(sig="SELL", confidence=0.5))
    assert (~buy).matches(signal(sig="SELL"))
    assert (~buy).matches(price())  # not a BUY signal: anything else is
    assert isinstance(buy & aapl & confident, AllOf)
    assert len((buy & aapl & confident).conditions) == 3  # flattened
    assert AnyOf(buy, aapl).conditions == (buy, aapl)
    with pytest.raises(ValueError, match="at least one"):
        AllOf()
    with pytest.raises(TypeError, match="Conditions"):
        AnyOf(buy, "AAPL")  # type: ignore[arg-type]


def test_index_keys_pin_the_symbol_only_for_an_exact_string() -> None:
    assert SEED_CONDITION.index_keys() == {(PredictionSignalEvent, "AAPL")}
    assert SEED_CONDITION.symbol == "AAPL"
    by_predicate = EventCondition(PriceEvent, {"symbol": lambda s: s.startswith("A")})
    assert by_predicate.index_keys() == {(PriceEvent, ANY_SYMBOL)}
    assert EventCondition(PriceEvent).index_keys() == {(PriceEvent, ANY_SYMBOL)}


def test_index_keys_of_compositions() -> None:
    aapl = EventCondition(PriceEvent, {"symbol": "AAPL"})
    msft = EventCondition(PriceEvent, {"symbol": "MSFT"})
    any_price = EventCondition(PriceEvent, {"price": lambda p: p > 1})
    assert (aapl | msft).index_keys() == {(PriceEvent, "AAPL"), (PriceEvent, "MSFT")}
    # AllOf files under its most selective part
    assert (any_price & aapl).index_keys() == {(PriceEvent, "AAPL")}
    assert (~aapl & msft).index_keys() == {(PriceEvent, "MSFT")}
    # Not alone can match any event at all
    assert (~aapl).index_keys() == {(object, ANY_SYMBOL)}


def test_a_custom_condition_is_filed_under_every_event_by_default() -> None:
    class Always(Condition):
        def matches(self, event: object) -> bool:
            return True

    assert Always().index_keys() == {(object, ANY_SYMBOL)}
    assert Always().matcher_for(PriceEvent, None)(price())


@pytest.mark.parametrize(
    ("event", "expected"),
    [(price("AAPL", "150"), True), (price("AAPL", "50"), False), (price("MSFT", "150"), True)],
)
def test_matcher_for_a_class_and_symbol_agrees_with_matches(event: PriceEvent, expected: bool) -> None:
    condition = EventCondition(PriceEvent, {"symbol": event.symbol, "price": lambda p: p > 100})
    matcher = condition.matcher_for(PriceEvent, event.symbol)
    assert matcher(event) is expected is condition.matches(event)
    assert condition.matcher_for(OrderFilledEvent, event.symbol)(event) is False


def test_repr_names_the_type_and_fields() -> None:
    text = repr(SEED_CONDITION & ~EventCondition(PriceEvent))
    assert "PredictionSignalEvent" in text and "signal='BUY'" in text
    assert "Not(EventCondition(PriceEvent))" in text
    assert "Not(" in repr(Not(SEED_CONDITION))


def test_conditions_compare_by_content() -> None:
    def above(p: Decimal) -> bool:
        return p > 1

    def make() -> EventCondition:
        return EventCondition(PriceEvent, {"symbol": "AAPL", "price": above})

    assert make() == make() and hash(make()) == hash(make())
    assert make() != EventCondition(PriceEvent, {"symbol": "MSFT", "price": above})
    assert make() != EventCondition(PriceEvent, {"symbol": "AAPL", "price": lambda p: p > 1})
    assert make() & ~make() == make() & ~make()
    assert make() | make() != make() & make()
