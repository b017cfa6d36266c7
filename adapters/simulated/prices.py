"""The simulated price feed: last prices, daily bars, and who to tell when a price moves.

One feed drives both the simulated broker (matching) and the simulated market data, so an order
and a strategy always see the same market. Time comes from the injected clock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal

from core.ports import Clock, PriceListener, Unsubscribe
from core.values import ZERO, Bar, to_decimal

PriceWatcher = Callable[[str, Decimal], None]
"""An internal listener (the matching engine): symbol and new price, called before subscribers."""


class _DayBar:
    """The bar of the current day, built tick by tick."""

    __slots__ = ("close", "day", "high", "low", "open", "seen")

    def __init__(self, day: date, price: Decimal, seen: datetime) -> None:
        self.day = day
        self.open = self.high = self.low = self.close = price
        # The last clock reading of this day: a clock that has not moved (a ManualClock hands out
        # the same datetime) is still on this day without working out the date again.
        self.seen = seen


class PriceFeed:
    """Prices set by hand (tests, replays, the demo) and fanned out in a fixed order:
    watchers first (the broker matches orders), then per-symbol subscribers."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.prices: dict[str, Decimal] = {}
        self._history: dict[str, list[Bar]] = {}
        self._today: dict[str, _DayBar] = {}
        self._watchers: list[PriceWatcher] = []
        self._subscribers: dict[str, list[PriceListener]] = {}

    def set_price(self, symbol: str, price: Decimal | int | str) -> None:
        """Move the market of `symbol` to `price` (a positive number; floats are refused)."""
        if type(price) is not Decimal:
            if isinstance(price, float):
                raise TypeError(
                    f"price of {symbol} must be a Decimal, int or str, not the float {price!r}; "
                    f"write Decimal('{price!r}')"
                )
            price = to_decimal(price, f"price of {symbol}")
        if not price > ZERO:
            raise ValueError(f"price of {symbol} must be above 0, got {price}")
        now = self._clock.now()
        self.prices[symbol] = price
        today = self._today.get(symbol)
        if today is not None and (now is today.seen or now.date() == today.day):
            if price > today.high:  # the same day: one more tick into its bar
                today.high = price
            elif price < today.low:
                today.low = price
            today.close = price
            today.seen = now
        else:
            self._new_day(symbol, price, now)
        for watcher in self._watchers:
            watcher(symbol, price)
        subscribers = self._subscribers.get(symbol)
        if subscribers:
            for listener in list(subscribers):
                listener(symbol, price, now)

    def watch(self, watcher: PriceWatcher) -> None:
        """Call `watcher` on every price of every symbol, before subscribers hear of it."""
        self._watchers.append(watcher)

    def subscribe(self, symbol: str, listener: PriceListener) -> Unsubscribe:
        """Call `listener(symbol, price, time)` on every new price of `symbol`."""
        listeners = self._subscribers.setdefault(symbol, [])
        listeners.append(listener)

        def unsubscribe() -> None:
            if listener in listeners:
                listeners.remove(listener)

        return unsubscribe

    def load_bars(self, symbol: str, bars: Sequence[Bar]) -> None:
        """Seed the history of `symbol` with completed bars, oldest first (e.g. for ATR sizing)."""
        self._history[symbol] = list(bars)
        if bars and symbol not in self.prices:
            self.prices[symbol] = bars[-1].close

    def bars(self, symbol: str, count: int) -> list[Bar]:
        """The last `count` daily bars, oldest first, including today's bar so far."""
        bars = list(self._history.get(symbol, ()))
        today = self._today.get(symbol)
        if today is not None:
            bars.append(self._as_bar(today))
        return bars[-count:] if count > 0 else []

    def _new_day(self, symbol: str, price: Decimal, now: datetime) -> None:
        """The first price of `symbol` on a new day: yesterday's bar (if any) goes to history."""
        today = self._today.get(symbol)
        if today is not None:
            self._history.setdefault(symbol, []).append(self._as_bar(today))
        self._today[symbol] = _DayBar(now.date(), price, now)

    def _as_bar(self, today: _DayBar) -> Bar:
        start = self._clock.now().replace(
            year=today.day.year, month=today.day.month, day=today.day.day, hour=0, minute=0, second=0,
            microsecond=0,
        )
        return Bar(start, today.open, today.high, today.low, today.close)  # no volume is simulated
