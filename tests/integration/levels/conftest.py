"""The seed's integration test levels (`basic`, `market_data`, `orders`, `e2e`), against a TWS.

Which TWS:
* `TRADEBRIDGE_FAKE_TWS_CONTROL=host:port` set (run_integration_tests.py does this): the fake TWS
  process the runner started, at `TWS_HOST`/`TWS_PORT`, moved through its control socket;
* else `TWS_HOST` or `TWS_PORT` set: a real TWS / IB Gateway. `orders` and `e2e` then run only with
  `TWS_ENABLE_ORDER_TESTS=true` (they place orders: use a paper account);
* else (the normal `make test` run): an in-process fake TWS per test.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Protocol

import pytest
import pytest_asyncio

from adapters.ibkr import TWSConfig
from tests.fake_tws import FakeTWS, FakeTWSControl
from tests.fake_tws.pytest_helpers import IbLogGuard

LEVELS = {
    "basic": "connectivity: connect, current time, accounts, positions, account summary (read-only)",
    "market_data": "prices and daily bars (read-only)",
    "orders": "place, query and cancel orders and brackets (places orders!)",
    "e2e": "a bracket's whole life: entry, exits, fills, positions, account (places orders!)",
}
ORDER_LEVELS = ("orders", "e2e")
FAKE_CONTROL = "TRADEBRIDGE_FAKE_TWS_CONTROL"
ENABLE_ORDERS = "TWS_ENABLE_ORDER_TESTS"
_client_ids = itertools.count()


def pytest_configure(config: pytest.Config) -> None:
    for level, what in LEVELS.items():
        config.addinivalue_line("markers", f"level_{level}: integration level '{level}': {what}")


class Market(Protocol):
    """Moves a fake market; a real TWS has none."""

    def set_price(self, symbol: str, price: Decimal) -> None: ...


@dataclass(frozen=True)
class Target:
    """The TWS a level test talks to."""

    config: TWSConfig
    description: str
    market: Market | None  # None for a real TWS: prices cannot be moved
    is_fake: bool
    symbol: str = "AAPL"

    def unique(self, name: str) -> str:
        """An order_ref no earlier run used (a real TWS keeps today's completed orders)."""
        return f"IT-{name}-{datetime.now(UTC).strftime('%H%M%S%f')}"


def real_tws_configured() -> bool:
    return bool(os.environ.get("TWS_HOST") or os.environ.get("TWS_PORT")) and not os.environ.get(FAKE_CONTROL)


def _next_client_id(config: TWSConfig) -> TWSConfig:
    # A fresh client id per test: TWS may not have noticed the previous test's disconnect yet (326).
    return replace(config, client_id=config.client_id + next(_client_ids))


@pytest.fixture
def wire_guard() -> Iterator[IbLogGuard]:
    """Fails the test if ib_async could not decode something TWS sent."""
    guard = IbLogGuard()
    loggers = [logging.getLogger("ib_async"), logging.getLogger("tests.fake_tws")]
    for logger in loggers:
        logger.addHandler(guard)
    yield guard
    for logger in loggers:
        logger.removeHandler(guard)
    assert not guard.wire_errors, "ib_async could not handle TWS's messages:\n" + "\n".join(guard.wire_errors)


@pytest_asyncio.fixture
async def target(request: pytest.FixtureRequest, wire_guard: IbLogGuard) -> AsyncIterator[Target]:
    """The TWS for this test (see the module docstring); order levels skip on a real TWS unless
    TWS_ENABLE_ORDER_TESTS=true."""
    places_orders = any(request.node.get_closest_marker(f"level_{level}") for level in ORDER_LEVELS)
    control = os.environ.get(FAKE_CONTROL)
    if control:
        host, control_port = control.rsplit(":", 1)
        with FakeTWSControl(host, int(control_port)) as market:
            config = _next_client_id(TWSConfig.from_env())
            yield Target(config, f"fake TWS process at {config.host}:{config.port}", market, True)
        return
    if real_tws_configured():
        config = _next_client_id(TWSConfig.from_env())
        where = f"TWS at {config.host}:{config.port}"
        if places_orders and os.environ.get(ENABLE_ORDERS, "").lower() != "true":
            pytest.skip(f"order tests place real orders: set {ENABLE_ORDERS}=true to run them against "
                        f"{where} (use a paper account)")
        yield Target(config, where, None, False, os.environ.get("TWS_TEST_SYMBOL", "AAPL"))
        return
    fake = FakeTWS(prices={"AAPL": Decimal(150), "MSFT": Decimal(300)})
    port = await fake.start()
    try:
        yield Target(TWSConfig(port=port, client_id=1, timeout=5), "in-process fake TWS", fake, True)
    finally:
        await fake.stop()
