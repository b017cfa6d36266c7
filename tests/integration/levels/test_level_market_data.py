"""Level `market_data`: prices and bars, read-only."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from decimal import Decimal

import pytest
import pytest_asyncio

from adapters.ibkr import IbkrMarketData, TWSConnection
from tests.integration.levels.conftest import Target

pytestmark = pytest.mark.level_market_data


@pytest_asyncio.fixture
async def market_data(target: Target) -> AsyncIterator[IbkrMarketData]:
    connection = TWSConnection(target.config)
    assert await connection.connect(), connection.last_error
    try:
        yield IbkrMarketData(connection)
    finally:
        connection.disconnect()


async def test_last_price(target: Target, market_data: IbkrMarketData) -> None:
    if target.market is not None:
        target.market.set_price(target.symbol, Decimal(150))
    price = await market_data.last_price(target.symbol)
    assert price > 0
    if target.market is not None:
        assert abs(price - 150) <= Decimal("0.01")


async def test_daily_bars_oldest_first(target: Target, market_data: IbkrMarketData) -> None:
    bars = await market_data.bars(target.symbol, 5)
    assert len(bars) == 5
    assert [b.time for b in bars] == sorted(b.time for b in bars)
    assert all(b.low <= min(b.open, b.close) and b.high >= max(b.open, b.close) for b in bars)


async def test_an_unknown_symbol_is_a_lookup_error(target: Target, market_data: IbkrMarketData) -> None:
    if target.market is None:
        pytest.skip("a real TWS may know any symbol we could invent")
    target.market.set_price("AAPL", Decimal(150))  # the fake answers 200 only when told to
    fake = getattr(target.market, "set_unknown_symbols_error", None)
    assert fake is not None
    fake(True)
    with pytest.raises(LookupError):
        await market_data.last_price("ZZZZNOTASYMBOL")
    fake(False)


async def test_streaming_prices(target: Target, market_data: IbkrMarketData) -> None:
    seen: list[tuple[str, Decimal, datetime]] = []
    stop = market_data.subscribe_prices(target.symbol, lambda s, p, t: seen.append((s, p, t)))
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (5 if target.market is not None else 20)
        while not seen and loop.time() < deadline:
            if target.market is not None:
                target.market.set_price(target.symbol, Decimal(151))
            await asyncio.sleep(0.05)
    finally:
        stop()
    if not seen and target.market is None:
        pytest.skip("no tick within 20 s (market closed?)")
    assert seen and seen[-1][0] == target.symbol and seen[-1][1] > 0
