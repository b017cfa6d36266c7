"""Domain events: immutable, Decimal money, injected timezone-aware time."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from decimal import Decimal

import pytest

from core.clock import EPOCH
from core.events import (
    OrderFilledEvent,
    PositionChangedEvent,
    PredictionSignalEvent,
    PriceEvent,
    Signal,
)
from core.values import ExecId, OrderRef, Side


def test_events_are_frozen_and_slotted() -> None:
    event = PriceEvent("AAPL", Decimal("187.20"), timestamp=EPOCH)
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.price = Decimal(1)  # type: ignore[misc]
    assert not hasattr(event, "__dict__")


def test_the_timestamp_is_required_keyword_only_and_timezone_aware() -> None:
    with pytest.raises(TypeError):
        PriceEvent("AAPL", Decimal(1))  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        PriceEvent("AAPL", Decimal(1), EPOCH)  # type: ignore[misc]
    with pytest.raises(ValueError, match="timezone-aware"):
        PriceEvent("AAPL", Decimal(1), timestamp=datetime(2026, 1, 2))


def test_money_must_be_decimal() -> None:
    with pytest.raises(TypeError, match=r"must be a Decimal.*to_decimal"):
        PriceEvent("AAPL", 187.2, timestamp=EPOCH)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="above 0"):
        PriceEvent("AAPL", Decimal(0), timestamp=EPOCH)


def test_a_prediction_accepts_the_signal_as_text_and_checks_the_confidence() -> None:
    event = PredictionSignalEvent("AAPL", "buy", 0.8, timestamp=EPOCH)  # type: ignore[arg-type]
    assert event.signal is Signal.BUY and event.signal == "BUY"
    with pytest.raises(ValueError, match="BUY, SELL or HOLD"):
        PredictionSignalEvent("AAPL", "maybe", 0.8, timestamp=EPOCH)  # type: ignore[arg-type]
    for bad in (1.5, -0.1, float("nan"), True):
        with pytest.raises(ValueError, match="probability"):
            PredictionSignalEvent("AAPL", Signal.BUY, bad, timestamp=EPOCH)
    with pytest.raises(TypeError, match="price must be a Decimal"):
        PredictionSignalEvent("AAPL", Signal.BUY, 0.9, 10.0, timestamp=EPOCH)  # type: ignore[arg-type]


def test_a_fill_says_whether_it_completed_the_order() -> None:
    def fill(remaining: int) -> OrderFilledEvent:
        return OrderFilledEvent(
            "AAPL", OrderRef("o1"), ExecId("e1"), Side.BUY, Decimal(5), Decimal(10), Decimal(5),
            Decimal(remaining), timestamp=EPOCH,
        )

    assert fill(0).is_complete and not fill(5).is_complete


@pytest.mark.parametrize(
    ("before", "after", "side", "opened", "closed"),
    [(0, 10, Side.BUY, True, False), (10, 0, None, False, True), (-5, -10, Side.SELL, False, False)],
)
def test_position_changes_describe_themselves(
    before: int, after: int, side: Side | None, opened: bool, closed: bool
) -> None:
    event = PositionChangedEvent("AAPL", Decimal(after), Decimal(100), Decimal(before), timestamp=EPOCH)
    assert (event.side, event.opened, event.closed, event.is_flat) == (side, opened, closed, after == 0)
