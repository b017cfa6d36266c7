"""`IbkrMarketData`: the MarketData port on ib_async (last price, daily bars, streaming prices).

Shares the broker's `TWSConnection`, so its requests count against the same pacing budget.
Unknown symbols raise LookupError, as the port says.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal

from ib_async import Contract, Ticker

from adapters.ibkr.connection import TWSConnection
from adapters.ibkr.pacing import Priority
from adapters.ibkr.translate import decimal_of
from core.ports import BrokerError, PriceListener, Unsubscribe
from core.values import Bar

log = logging.getLogger(__name__)
MARKET_DATA_LOST = 1101


def _price(value: float | None) -> Decimal | None:
    if value is None or math.isnan(value) or value <= 0:
        return None
    return decimal_of(value, "price")


def ticker_price(ticker: Ticker) -> Decimal | None:
    """The last trade, else the bid/ask midpoint, else the close."""
    for value in (ticker.last, ticker.midpoint(), ticker.close):
        price = _price(value)
        if price is not None:
            return price
    return None


def bar_time(value: date | datetime) -> datetime:
    """A bar's date as a UTC datetime (daily bars come as dates)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.combine(value, time(), tzinfo=UTC)


class _Stream:
    """One streaming subscription; restartable, because TWS forgets market data subscriptions
    when its link to IB was lost (1101) and ib_async forgets them on a reconnect."""

    def __init__(self, market_data: IbkrMarketData, symbol: str, listener: PriceListener) -> None:
        self._market_data = market_data
        self._symbol = symbol
        self._listener = listener
        self._contract: Contract | None = None
        self._ticker: Ticker | None = None
        self._task: asyncio.Future[None] | None = None
        self.stopped = False

    def start(self) -> None:
        """(Re)subscribe in the background, within the pacing budget."""
        if self.stopped or not self._market_data.connection.is_connected():
            return  # the connectedEvent starts it once TWS is there
        if self._task is not None and not self._task.done():
            return
        self._task = asyncio.ensure_future(self._subscribe())
        self._task.add_done_callback(self._report_failure)

    def restart(self) -> None:
        """Cancel and renew the subscription (TWS lost it: 1101)."""
        if self.stopped or (self._task is not None and not self._task.done()):
            return
        self._task = asyncio.ensure_future(self._resubscribe())
        self._task.add_done_callback(self._report_failure)

    async def _resubscribe(self) -> None:
        connection = self._market_data.connection
        if self._ticker is not None and self._contract is not None and connection.is_connected():
            await connection.budget.acquire(1, Priority.QUERY)
            connection.ib.cancelMktData(self._contract)
        await self._subscribe()

    async def _subscribe(self) -> None:
        connection = self._market_data.connection
        self._detach()
        self._contract = await self._market_data.contract_of(self._symbol)
        await connection.budget.acquire(1, Priority.QUERY)
        if self.stopped or not connection.is_connected():
            return
        self._ticker = connection.ib.reqMktData(self._contract, "", False, False)
        self._ticker.updateEvent += self._on_update

    def _report_failure(self, task: asyncio.Future[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("price stream of %s could not start: %s", self._symbol, task.exception())

    def _on_update(self, ticker: Ticker) -> None:
        price = ticker_price(ticker)
        if price is not None:
            when = ticker.time or datetime.now(UTC)
            self._listener(self._symbol, price, when if when.tzinfo else when.replace(tzinfo=UTC))

    def _detach(self) -> None:
        if self._ticker is not None:
            self._ticker.updateEvent -= self._on_update
            self._ticker = None

    def stop(self) -> None:
        """Stop streaming; the cancel request goes through the budget too."""
        self.stopped = True
        if self._task is not None:
            self._task.cancel()
        had_ticker, contract = self._ticker is not None, self._contract
        self._detach()
        connection = self._market_data.connection
        if had_ticker and contract is not None and connection.is_connected():
            async def cancel() -> None:
                await connection.budget.acquire(1, Priority.QUERY)
                if connection.is_connected():
                    connection.ib.cancelMktData(contract)

            self._task = asyncio.ensure_future(cancel())  # kept: a pending task must be referenced


class IbkrMarketData:
    """Prices and bars from TWS."""

    def __init__(self, connection: TWSConnection) -> None:
        self.connection = connection
        self._ib = connection.ib
        self._streams: list[_Stream] = []
        self._ib.connectedEvent += self._renew_streams
        self._ib.errorEvent += self._on_error

    async def contract_of(self, symbol: str) -> Contract:
        """The qualified contract; LookupError for a symbol IB does not know."""
        try:
            return await self.connection.contract(symbol)
        except BrokerError as error:
            if error.code == 200:
                raise LookupError(f"{symbol}: {error}") from None
            raise

    async def last_price(self, symbol: str) -> Decimal:
        contract = await self.contract_of(symbol)
        await self.connection.budget.acquire(1, Priority.QUERY)
        [ticker] = await self._ib.reqTickersAsync(contract)
        price = ticker_price(ticker)
        if price is None:
            raise LookupError(f"{symbol}: TWS sent no price (check market data permissions or market hours)")
        return price

    async def bars(self, symbol: str, count: int) -> Sequence[Bar]:
        if count <= 0:
            raise ValueError(f"bars of {symbol}: count must be above 0, got {count}")
        contract = await self.contract_of(symbol)
        await self.connection.budget.acquire(1, Priority.QUERY)
        days = count * 7 // 5 + 7  # calendar days holding `count` trading days, with slack
        duration = f"{days} D" if days <= 365 else f"{math.ceil(days / 365)} Y"
        ib_bars = await self._ib.reqHistoricalDataAsync(
            contract, endDateTime="", durationStr=duration, barSizeSetting="1 day", whatToShow="TRADES",
            useRTH=True, formatDate=1,
        )
        bars = [
            Bar(bar_time(b.date), decimal_of(b.open, "open"), decimal_of(b.high, "high"),
                decimal_of(b.low, "low"), decimal_of(b.close, "close"),
                decimal_of(max(b.volume, 0), "volume"))
            for b in ib_bars
        ]
        return bars[-count:]

    def subscribe_prices(self, symbol: str, listener: PriceListener) -> Unsubscribe:
        """Stream `symbol`'s prices to `listener` until the returned function is called; the
        subscription is renewed after 1101 (TWS lost market data) and after a reconnect."""
        stream = _Stream(self, symbol, listener)
        self._streams.append(stream)
        stream.start()

        def unsubscribe() -> None:
            stream.stop()
            if stream in self._streams:
                self._streams.remove(stream)

        return unsubscribe

    def _renew_streams(self) -> None:
        for stream in list(self._streams):
            stream.start()

    def _on_error(self, req_id: int, code: int, text: str, contract: object) -> None:
        if code == MARKET_DATA_LOST:
            log.warning("TWS lost market data subscriptions (1101); renewing %d price stream(s)",
                        len(self._streams))
            for stream in list(self._streams):
                stream.restart()
