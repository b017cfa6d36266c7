"""Broker harnesses: a Broker adapter plus the two things a contract test needs from outside it,
moving the market and waiting until the broker's reports have arrived.

A new adapter joins the contract suite by adding its harness to `HARNESSES` (the IBKR adapter over
the fake TWS will: its `settle()` waits for the socket, its `close()` stops the server).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Protocol

from adapters.simulated import SimulatedBroker
from core.clock import ManualClock
from core.ports import Broker
from tests.fakes.broker import FakeBroker


class BrokerHarness(Protocol):
    """What the contract suite drives: the broker under test and the market around it."""

    name: str

    @property
    def broker(self) -> Broker: ...

    async def set_price(self, symbol: str, price: Decimal) -> None:
        """Move the market of `symbol` (orders match against it)."""
        ...

    async def settle(self) -> None:
        """Return once every report caused so far has reached the subscribers."""
        ...

    async def start(self) -> None:
        """Start whatever the broker needs and connect it."""
        ...

    async def close(self) -> None:
        """Disconnect and release whatever `start` started."""
        ...


class FakeBrokerHarness:
    """The in-memory fake: synchronous, so nothing is ever in flight."""

    name = "fake"

    def __init__(self) -> None:
        self._broker = FakeBroker(ManualClock())

    @property
    def broker(self) -> FakeBroker:
        return self._broker

    async def set_price(self, symbol: str, price: Decimal) -> None:
        self._broker.set_price(symbol, price)

    async def settle(self) -> None:
        return None

    async def start(self) -> None:
        await self._broker.connect()

    async def close(self) -> None:
        await self._broker.disconnect()


class SimulatedBrokerHarness:
    """The simulated broker with its defaults (full fills, IB-like commissions): synchronous too."""

    name = "simulated"

    def __init__(self) -> None:
        self._broker = SimulatedBroker(ManualClock())

    @property
    def broker(self) -> SimulatedBroker:
        return self._broker

    async def set_price(self, symbol: str, price: Decimal) -> None:
        self._broker.set_price(symbol, price)

    async def settle(self) -> None:
        return None

    async def start(self) -> None:
        await self._broker.connect()

    async def close(self) -> None:
        await self._broker.disconnect()


HARNESSES: dict[str, Callable[[], BrokerHarness]] = {
    FakeBrokerHarness.name: FakeBrokerHarness,
    SimulatedBrokerHarness.name: SimulatedBrokerHarness,
}
