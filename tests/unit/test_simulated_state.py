"""Snapshots of the simulated broker, and its MarketData port over the same price feed."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal

import pytest

from adapters.simulated import SimulatedBroker, SimulationConfig
from core.broker_events import ConnectionEvent
from core.clock import ManualClock
from core.ports import BrokerError
from core.values import Bar, OrderRef, OrderType, Side
from tests.fakes.orders import Recorder, bracket, order

D = Decimal
PATH_AFTER_SNAPSHOT = ["96", "97", "111", "89", "120", "121"]


async def busy_broker() -> SimulatedBroker:
    """A broker holding one of everything: partial fills, held and working exits, a triggered
    stop-limit, cancelled, rejected and filled orders, a short position, commissions."""
    broker = SimulatedBroker(ManualClock(), SimulationConfig(partial_fill_quantity=D(3)))
    await broker.connect()
    broker.set_price("AAA", D(100))
    broker.set_price("BBB", D(50))
    await broker.place_bracket(bracket("L1", quantity=7, entry=100, take_profit=125, stop_loss=90))
    await broker.place_bracket(bracket("H1", quantity=5, entry=95, take_profit=112, stop_loss=85))
    await broker.place_order(order("SL", Side.SELL, 4, OrderType.STOP_LIMIT, limit=118, stop=119))
    await broker.place_order(order("X", Side.SELL, 2, OrderType.MARKET, symbol="BBB"))
    await broker.place_order(order("C", Side.BUY, 1, OrderType.LIMIT, limit=10, symbol="BBB"))
    await broker.cancel_order(OrderRef("C"))
    broker.faults.reject_next()
    await broker.place_order(order("R", Side.BUY, 1, symbol="BBB"))
    clock_of(broker).advance(60)
    broker.set_price("AAA", D(117))  # SL triggered on arrival (price under its stop); 117 < its limit
    return broker


def clock_of(broker: SimulatedBroker) -> ManualClock:
    assert isinstance(broker.clock, ManualClock)
    return broker.clock


def replay(broker: SimulatedBroker) -> list[object]:
    events: list[object] = []
    broker.subscribe(events.append)
    for price in PATH_AFTER_SNAPSHOT:
        clock_of(broker).advance(1)
        broker.set_price("AAA", D(price))
        broker.step()
    return [e for e in events if not isinstance(e, ConnectionEvent)]


async def test_a_snapshot_round_trips_through_json() -> None:
    broker = await busy_broker()
    state = broker.state_dict()
    text = json.dumps(state)
    restored = SimulatedBroker.from_state(json.loads(text))
    assert restored.state_dict() == state
    assert {o["status"] for o in state["orders"]} >= {"FILLED", "CANCELLED", "REJECTED", "WORKING"}


async def test_a_restored_broker_carries_on_exactly_like_the_original() -> None:
    original = await busy_broker()
    restored = SimulatedBroker.from_state(json.loads(json.dumps(original.state_dict())))
    assert not restored.is_connected()
    with pytest.raises(BrokerError):
        await restored.open_orders()
    await restored.connect()

    assert await restored.open_orders() == await original.open_orders()
    assert await restored.completed_orders() == await original.completed_orders()
    assert await restored.executions() == await original.executions()
    assert await restored.positions() == await original.positions()
    assert await restored.account_summary() == await original.account_summary()

    assert replay(restored) == replay(original)
    assert restored.state_dict() == original.state_dict()
    exec_ids = [f.exec_id for f in await restored.executions()]
    assert len(exec_ids) == len(set(exec_ids))  # id counters continue, never repeat


def test_a_snapshot_from_another_version_is_refused() -> None:
    state = SimulatedBroker().state_dict()
    state["version"] = 99
    with pytest.raises(ValueError, match="version 99 is not supported"):
        SimulatedBroker.from_state(state)


# -- market data -----------------------------------------------------------------------------------


async def test_last_price_comes_from_the_shared_feed() -> None:
    broker = SimulatedBroker()
    market = broker.market_data()
    with pytest.raises(LookupError, match="no price for AAA"):
        await market.last_price("AAA")
    broker.set_price("AAA", D("12.5"))
    assert await market.last_price("AAA") == D("12.5")


async def test_price_subscribers_hear_their_symbol_after_the_broker_matched() -> None:
    clock = ManualClock()
    broker = SimulatedBroker(clock)
    rec = Recorder(broker)
    await broker.connect()
    heard: list[tuple[str, Decimal, datetime, int]] = []
    unsubscribe = broker.market_data().subscribe_prices(
        "AAA", lambda symbol, price, when: heard.append((symbol, price, when, len(rec.fills())))
    )
    await broker.place_order(order("M", quantity=1))
    broker.set_price("AAA", D(10))
    broker.set_price("BBB", D(20))
    unsubscribe()
    broker.set_price("AAA", D(11))
    assert heard == [("AAA", D(10), clock.now(), 1)]  # the fill was already delivered


async def test_daily_bars_are_built_from_prices_and_seeded_history() -> None:
    clock = ManualClock()
    broker = SimulatedBroker(clock)
    seeded = Bar(datetime(2026, 1, 1, tzinfo=clock.now().tzinfo), D(1), D(2), D("0.5"), D("1.5"))
    broker.feed.load_bars("AAA", [seeded])
    for price in ("10", "12", "9", "11"):
        broker.set_price("AAA", D(price))
    clock.advance(24 * 3600)
    broker.set_price("AAA", D(13))
    bars = await broker.market_data().bars("AAA", 5)
    expected = [("1", "2", "0.5", "1.5"), ("10", "12", "9", "11"), ("13", "13", "13", "13")]
    assert [(b.open, b.high, b.low, b.close) for b in bars] == [tuple(map(D, row)) for row in expected]
    assert [b.time.date().isoformat() for b in bars] == ["2026-01-01", "2026-01-02", "2026-01-03"]
    assert await broker.market_data().bars("AAA", 1) == bars[-1:]


@pytest.mark.parametrize(("price", "error"), [(1.5, TypeError), (0, ValueError), ("-1", ValueError)])
def test_bad_prices_are_refused(price: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="price of AAA"):
        SimulatedBroker().set_price("AAA", price)  # type: ignore[arg-type]
