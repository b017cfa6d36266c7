"""When the durable simulated broker rewrites its state file (`refresh_due`): after a quiet moment,
or once it lags a second while the executor's orders pause, but not between the calls of batches
sent back to back (a batch arriving would wait for the rewrite), unless it lags far behind."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest

from core.clock import ManualClock
from core.orders import BracketRequest
from core.values import Side
from entrypoints.executor.sim import (
    ORDERS_QUIET_SECONDS,
    REFRESH_MAX_LAG_SECONDS,
    REFRESH_QUIET_SECONDS,
    REFRESH_SECONDS,
    DurableSimulatedBroker,
)
from tests.e2e.test_sim_journal import bracket


def order(ref: str) -> BracketRequest:
    return bracket(ref, "AAPL", Side.BUY, 2, Decimal(100))


class Monotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def monotonic(monkeypatch: pytest.MonkeyPatch) -> Monotonic:
    clock = Monotonic()
    # The clock `entrypoints.executor.sim` reads (not the event loop's, which stays the real one).
    monkeypatch.setattr("entrypoints.executor.sim.time", SimpleNamespace(monotonic=clock))
    return clock


async def test_batches_back_to_back_defer_the_rewrite_until_they_pause(
    tmp_path: Path, monotonic: Monotonic
) -> None:
    broker = DurableSimulatedBroker(ManualClock(), tmp_path / "sim.json", "SIM1")
    await broker.connect()
    broker.set_prices({"AAPL": Decimal(100)})
    assert not broker.refresh_due()  # just changed
    gap = ORDERS_QUIET_SECONDS / 2
    number = 0
    while monotonic.now < 1000.0 + REFRESH_MAX_LAG_SECONDS - gap:
        number += 1
        await broker.place_bracket(order(f"b{number}"))
        monotonic.now += gap
        broker.set_price("AAPL", Decimal(100 + number % 2))  # the market moves too
        assert not broker.refresh_due(), f"rewritten amid the orders, {monotonic.now - 1000.0:.2f}s in"
    monotonic.now += gap
    assert broker.refresh_due()  # far behind: rewritten anyway
    broker.refresh_state_file()
    assert not broker.refresh_due()
    await broker.place_bracket(order("late"))
    monotonic.now += REFRESH_SECONDS
    broker.set_price("AAPL", Decimal(103))  # the market moves, the orders have paused
    assert broker.refresh_due()


async def test_a_quiet_broker_is_rewritten_soon_after_a_change(tmp_path: Path, monotonic: Monotonic) -> None:
    broker = DurableSimulatedBroker(ManualClock(), tmp_path / "sim.json", "SIM1")
    await broker.connect()
    broker.set_prices({"AAPL": Decimal(100)})
    await broker.place_bracket(order("b1"))
    monotonic.now += REFRESH_QUIET_SECONDS / 2
    assert not broker.refresh_due()
    monotonic.now += REFRESH_QUIET_SECONDS / 2
    assert broker.refresh_due()
    broker.refresh_state_file()
    monotonic.now += REFRESH_MAX_LAG_SECONDS
    assert not broker.refresh_due()  # nothing changed since
