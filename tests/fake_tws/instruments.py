"""The stocks the fake TWS knows, their contract ids and their current prices."""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from decimal import Decimal

from tests.fake_tws.model import ContractRef, Instrument

PriceLike = Decimal | int | float | str
"""Prices from tests may be given loosely; they are stored as Decimal (floats via their text)."""


def to_price(value: PriceLike) -> Decimal:
    """A test-supplied price as Decimal; floats go through `str` so 101.1 stays 101.1."""
    return Decimal(str(value)) if isinstance(value, float) else Decimal(value)


class InstrumentBook:
    """Known stocks and last prices.

    By default any stock symbol qualifies (it is registered on first sight, without a price). With
    `unknown_symbols_error` set, only symbols registered explicitly (by `add` or `set_price`) do;
    the others get error 200, as an unknown ticker does at IB.
    """

    def __init__(
        self, prices: Mapping[str, PriceLike] | None = None, unknown_symbols_error: bool = False
    ) -> None:
        self._by_symbol: dict[str, Instrument] = {}
        self._by_con_id: dict[int, Instrument] = {}
        self._prices: dict[str, Decimal] = {}
        self.unknown_symbols_error = unknown_symbols_error
        for symbol, price in (prices or {}).items():
            self.set_price(symbol, price)

    def add(self, symbol: str, primary_exchange: str = "NASDAQ", long_name: str = "") -> Instrument:
        """Register a stock (idempotent); its contract id is stable across processes."""
        known = self._by_symbol.get(symbol)
        if known is not None:
            return known
        con_id = 10_000 + zlib.crc32(symbol.encode()) % 900_000_000
        while con_id in self._by_con_id:
            con_id += 1
        instrument = Instrument(symbol, con_id, primary_exchange, "USD", long_name or f"{symbol} INC")
        self._by_symbol[symbol] = instrument
        self._by_con_id[con_id] = instrument
        return instrument

    def set_known_symbols(self, symbols: list[str]) -> None:
        """Make exactly these symbols known (prices of dropped symbols are forgotten)."""
        for symbol in list(self._by_symbol):
            if symbol not in symbols:
                instrument = self._by_symbol.pop(symbol)
                self._by_con_id.pop(instrument.con_id, None)
                self._prices.pop(symbol, None)
        for symbol in symbols:
            self.add(symbol)

    def set_price(self, symbol: str, price: PriceLike) -> Instrument:
        """Set the last price of a stock, registering it if needed."""
        value = to_price(price)
        if value <= 0:
            raise ValueError(f"price of {symbol} must be positive, got {value}")
        instrument = self.add(symbol)
        self._prices[symbol] = value
        return instrument

    def price(self, symbol: str) -> Decimal | None:
        """The last price, or None when no price was ever set."""
        return self._prices.get(symbol)

    def by_symbol(self, symbol: str) -> Instrument | None:
        """A registered stock by symbol."""
        return self._by_symbol.get(symbol)

    def resolve(self, contract: ContractRef) -> Instrument | None:
        """The stock a request means, or None when IB would answer "no security definition"."""
        if contract.sec_type not in ("STK", ""):
            return None
        if contract.con_id:
            return self._by_con_id.get(contract.con_id)
        if not contract.symbol:
            return None
        known = self._by_symbol.get(contract.symbol)
        if known is not None or self.unknown_symbols_error:
            return known
        return self.add(contract.symbol)
