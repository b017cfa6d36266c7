"""`SimulatedMarketData`: the MarketData port over the simulated price feed."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from adapters.simulated.prices import PriceFeed
from core.ports import PriceListener, Unsubscribe
from core.values import Bar


class SimulatedMarketData:
    """Prices and bars from a `PriceFeed`, usually the one a `SimulatedBroker` matches against
    (`broker.market_data()`), so strategies and orders see the same market."""

    def __init__(self, feed: PriceFeed) -> None:
        self._feed = feed

    async def last_price(self, symbol: str) -> Decimal:
        price = self._feed.prices.get(symbol)
        if price is None:
            raise LookupError(
                f"no price for {symbol} in the simulated market yet; set one with set_price({symbol!r}, ...)"
            )
        return price

    async def bars(self, symbol: str, count: int) -> Sequence[Bar]:
        return self._feed.bars(symbol, count)

    def subscribe_prices(self, symbol: str, listener: PriceListener) -> Unsubscribe:
        return self._feed.subscribe(symbol, listener)
