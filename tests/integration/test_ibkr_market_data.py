"""IbkrMarketData against the fake TWS: prices, bars, unknown symbols, and price streams that are
renewed after TWS lost market data (1101) and after a reconnect."""

# ruff: noqa: F811 - the fake TWS fixtures are imported and then requested as parameters

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from decimal import Decimal

import pytest
import pytest_asyncio

from adapters.ibkr import IbkrBroker, IbkrMarketData
from core.broker_events import ConnectionState
from tests.fake_tws.fake import FakeTWS
from tests.fake_tws.pytest_helpers import fake_tws, ib_log_guard  # noqa: F401
from tests.integration.ibkr_support import Events, make_broker, wait_for

REQ_MKT_DATA = 1
CANCEL_MKT_DATA = 2


@pytest_asyncio.fixture
async def broker(fake_tws: FakeTWS) -> AsyncIterator[IbkrBroker]:
    adapter = make_broker(fake_tws)
    await adapter.connect()
    try:
        yield adapter
    finally:
        await adapter.disconnect()


async def test_last_price_and_bars(fake_tws: FakeTWS, broker: IbkrBroker) -> None:
    prices = IbkrMarketData(broker.connection)
    fake_tws.set_price("MSFT", Decimal("301.25"))
    assert abs(await prices.last_price("MSFT") - Decimal("301.25")) <= Decimal("0.01")
    bars = await prices.bars("MSFT", 10)
    assert len(bars) == 10 and [b.time for b in bars] == sorted(b.time for b in bars)
    assert all(isinstance(b.close, Decimal) for b in bars)


async def test_an_unknown_symbol_is_a_lookup_error(fake_tws: FakeTWS, broker: IbkrBroker) -> None:
    fake_tws.set_unknown_symbols_error(True)
    with pytest.raises(LookupError, match="NOPE"):
        await IbkrMarketData(broker.connection).last_price("NOPE")


async def test_a_stream_survives_1101_and_a_reconnect(fake_tws: FakeTWS, broker: IbkrBroker) -> None:
    seen: list[tuple[str, Decimal, datetime]] = []
    events = Events(broker)
    stop = IbkrMarketData(broker.connection).subscribe_prices("AAPL", lambda s, p, t: seen.append((s, p, t)))
    await wait_for(lambda: len(fake_tws.requests_of(REQ_MKT_DATA)) == 1, "the subscription")
    await broker.sync()
    fake_tws.set_price("AAPL", 151)
    await wait_for(lambda: any(p == 151 for _, p, _ in seen), "a price of 151")

    fake_tws.send_error(1101)  # TWS: "restored - data lost": subscriptions are gone
    await wait_for(lambda: len(fake_tws.requests_of(REQ_MKT_DATA)) == 2, "the renewed subscription")

    fake_tws.drop_connections()
    await wait_for(lambda: ConnectionState.RESTORED in events.connection_states()[-1:], "the reconnect")
    await wait_for(lambda: len(fake_tws.requests_of(REQ_MKT_DATA)) == 3, "the subscription after reconnect")
    await broker.sync()
    fake_tws.set_price("AAPL", 152)
    await wait_for(lambda: any(p == 152 for _, p, _ in seen), "a price of 152 after the reconnect")

    cancels = len(fake_tws.requests_of(CANCEL_MKT_DATA))  # one already: the renewal after 1101
    stop()
    await wait_for(lambda: len(fake_tws.requests_of(CANCEL_MKT_DATA)) == cancels + 1, "the cancel")
    count = len(seen)
    fake_tws.set_price("AAPL", 153)
    await broker.sync()
    assert len(seen) == count
    assert all(symbol == "AAPL" and when.tzinfo is not None for symbol, _, when in seen)
