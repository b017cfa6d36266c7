"""Broker harnesses: a Broker adapter plus the two things a contract test needs from outside it,
moving the market and waiting until the broker's reports have arrived.

A new adapter joins the contract suite by adding its harness to `HARNESSES` (the IBKR adapter over
the fake TWS will: its `settle()` waits for the socket, its `close()` stops the server).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Protocol

from adapters.ibkr import IbkrBroker, TWSConfig
from adapters.simulated import SimulatedBroker
from core.clock import ManualClock
from core.ports import Broker
from tests.fake_tws import FakeTWS
from tests.fake_tws.pytest_helpers import IbLogGuard
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


class InProcessHarness:
    """A broker that runs in the test's own thread (the fake, the simulated broker): synchronous,
    so nothing is ever in flight and `settle` has nothing to wait for."""

    def __init__(self, name: str, broker: FakeBroker | SimulatedBroker) -> None:
        self.name = name
        self._broker = broker

    @property
    def broker(self) -> FakeBroker | SimulatedBroker:
        return self._broker

    async def set_price(self, symbol: str, price: Decimal) -> None:
        self._broker.set_price(symbol, price)

    async def settle(self) -> None:
        return None

    async def start(self) -> None:
        await self._broker.connect()

    async def close(self) -> None:
        await self._broker.disconnect()


class IbkrHarness:
    """The IBKR adapter over ib_async, talking to an in-process fake TWS on a free port. Reports
    travel over a socket, so `settle()` waits for them (a round trip as a barrier, then any fill
    still waiting for its commission report). A wire error ib_async logs fails the test at close."""

    name = "ibkr"

    def __init__(self) -> None:
        self.fake = FakeTWS(prices={"AAPL": 100})
        self._broker: IbkrBroker | None = None
        self._guard = IbLogGuard()
        self._guarded = [logging.getLogger("ib_async"), logging.getLogger("tests.fake_tws")]

    @property
    def broker(self) -> IbkrBroker:
        assert self._broker is not None, "start() the harness first"
        return self._broker

    async def set_price(self, symbol: str, price: Decimal) -> None:
        await self.settle()  # orders sent so far reach the fake before the market moves
        self.fake.set_price(symbol, price)

    async def settle(self) -> None:
        await self.broker.sync()

    async def start(self) -> None:
        for logger in self._guarded:
            logger.addHandler(self._guard)
        port = await self.fake.start()
        self._broker = IbkrBroker(TWSConfig(port=port, client_id=1, timeout=5), backoff=None)
        await self._broker.connect()

    async def close(self) -> None:
        await self.broker.disconnect()
        await self.fake.stop()
        for logger in self._guarded:
            logger.removeHandler(self._guard)
        errors = self._guard.wire_errors
        assert not errors, f"ib_async could not handle the fake's messages: {errors}"


HARNESSES: dict[str, Callable[[], BrokerHarness]] = {
    "fake": lambda: InProcessHarness("fake", FakeBroker(ManualClock())),
    # The simulated broker with its defaults (full fills, IB-like commissions).
    "simulated": lambda: InProcessHarness("simulated", SimulatedBroker(ManualClock())),
    IbkrHarness.name: IbkrHarness,
}
