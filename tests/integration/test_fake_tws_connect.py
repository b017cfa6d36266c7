"""ib_async connects to the fake TWS and uses its session, account and market data features."""

# ruff: noqa: F811 - the fake TWS fixtures are imported and then requested as parameters

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

from ib_async import IB, Contract, LimitOrder, Stock

from tests.fake_tws.fake import FakeTWS
from tests.fake_tws.ids import In
from tests.fake_tws.pytest_helpers import (  # noqa: F401
    IbLogGuard,
    connect,
    fake_tws,
    ib,
    ib_log_guard,
    qualified,
    wait_until,
)

FIXED_NOW = dt.datetime(2025, 1, 2, 15, 30, tzinfo=dt.UTC)


async def test_connect_sends_the_startup_requests_and_none_times_out(
    fake_tws: FakeTWS, ib: IB, ib_log_guard: IbLogGuard
) -> None:
    assert ib.isConnected()
    assert ib_log_guard.timeouts == []
    startup = [r.msg_id for r in fake_tws.requests]
    assert startup == [In.START_API, 61, 5, 99, 6, 76, 7]
    assert ib.managedAccounts() == ["DU123456"]
    values = {v.tag: v.value for v in ib.accountValues() if not v.modelCode}
    assert values["NetLiquidation"] == "1000000.00" and values["AccountType"] == "INDIVIDUAL"


async def test_readonly_connect_skips_order_requests(fake_tws: FakeTWS, ib_log_guard: IbLogGuard) -> None:
    client = await connect(fake_tws, 3, readonly=True)
    try:
        assert [r.msg_id for r in fake_tws.requests] == [In.START_API, 61, 6, 76, 7]
        assert ib_log_guard.timeouts == []
    finally:
        client.disconnect()


async def test_current_time_comes_from_the_fake_clock(ib_log_guard: IbLogGuard) -> None:
    fake = FakeTWS(clock=lambda: FIXED_NOW)
    await fake.start()
    client = await connect(fake)
    try:
        assert await client.reqCurrentTimeAsync() == FIXED_NOW
    finally:
        client.disconnect()
        await fake.stop()


async def test_qualify_known_and_unknown_symbols(fake_tws: FakeTWS, ib: IB) -> None:
    errors: list[tuple[int, int]] = []
    ib.errorEvent += lambda req_id, code, *_: errors.append((req_id, code))
    fake_tws.set_unknown_symbols_error(True)
    aapl, nope = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"), Stock("NOPE", "SMART", "USD"))
    instrument = fake_tws.instruments.by_symbol("AAPL")
    assert instrument is not None and isinstance(aapl, Contract)
    assert (aapl.conId, aapl.primaryExchange, aapl.exchange) == (instrument.con_id, "NASDAQ", "SMART")
    assert nope is None
    assert [code for _, code in errors] == [200]


async def test_any_symbol_qualifies_by_default(ib: IB) -> None:
    contract = await qualified(ib, "ZZZZ")
    assert contract.conId > 0


async def test_snapshot_ticks(ib: IB) -> None:
    contract = await qualified(ib)
    [ticker] = await ib.reqTickersAsync(contract)
    assert (ticker.bid, ticker.ask, ticker.last) == (149.99, 150.01, 150.0)
    assert ticker.marketDataType == 1


async def test_streaming_ticks_follow_set_price(fake_tws: FakeTWS, ib: IB) -> None:
    contract = await qualified(ib, "MSFT")
    ticker = ib.reqMktData(contract)
    await wait_until(lambda: ticker.last == 300.0, "the first tick")
    fake_tws.set_price("MSFT", "301.25")
    await wait_until(lambda: ticker.last == 301.25, "the streamed tick")
    assert (ticker.bid, ticker.ask) == (301.24, 301.26)
    ib.cancelMktData(contract)


async def test_delayed_market_data_uses_delayed_ticks(ib: IB) -> None:
    ib.reqMarketDataType(3)
    contract = await qualified(ib)
    [ticker] = await ib.reqTickersAsync(contract)
    assert ticker.marketDataType == 3
    assert ticker.last == 150.0


async def test_daily_bars_end_at_the_current_price(fake_tws: FakeTWS, ib: IB) -> None:
    contract = await qualified(ib)
    bars = await ib.reqHistoricalDataAsync(contract, "", "10 D", "1 day", "TRADES", True)
    assert len(bars) == 10
    assert all(isinstance(b.date, dt.date) for b in bars)
    assert [b.date for b in bars] == sorted(b.date for b in bars)
    assert bars[-1].close == 150.0
    assert all(b.low <= min(b.open, b.close) and b.high >= max(b.open, b.close) for b in bars)


async def test_intraday_bars_stream_updates(fake_tws: FakeTWS, ib: IB) -> None:
    contract = await qualified(ib)
    bars = await ib.reqHistoricalDataAsync(contract, "", "1 D", "1 hour", "TRADES", True, keepUpToDate=True)
    assert 1 <= len(bars) <= 7  # a full session has 7 hourly bars; a running one fewer
    assert all(isinstance(b.date, dt.datetime) and b.date.tzinfo is not None for b in bars)
    fake_tws.set_price("AAPL", 155)
    await wait_until(lambda: bars[-1].close == 155.0, "the keepUpToDate bar update")
    assert bars[-1].high >= 155.0


async def test_unsupported_bar_size_ends_the_request_with_162(ib: IB) -> None:
    contract = await qualified(ib)
    codes: list[int] = []
    ib.errorEvent += lambda req_id, code, *_: codes.append(code)
    bars = await ib.reqHistoricalDataAsync(contract, "", "1 Y", "1 month", "TRADES", True)
    assert list(bars) == [] and codes == [162]


async def test_account_summary_and_what_if(fake_tws: FakeTWS, ib: IB) -> None:
    summary = {v.tag: v.value for v in await ib.accountSummaryAsync()}
    assert summary["TotalCashValue"] == "1000000.00" and "BuyingPower" in summary
    contract = await qualified(ib)
    state = await ib.whatIfOrderAsync(contract, LimitOrder("BUY", 100, 150.0))
    assert float(state.initMarginChange) == 3750.0 and not math.isclose(state.commission, 0)
    assert fake_tws.orders == []  # a what-if never becomes an order
    assert Decimal(str(state.commission)) == Decimal("1")
