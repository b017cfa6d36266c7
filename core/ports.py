"""Ports: what the core needs from the outside world, as `typing.Protocol`s.

Adapters implement them (`adapters/simulated`, `adapters/ibkr`, `adapters/storage`, ...); the
composition root (`entrypoints/container.py`) picks which. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from core.broker_events import (
    AccountSnapshot,
    BrokerEvent,
    BrokerOrder,
    BrokerPosition,
    Fill,
)
from core.orders import BracketRequest, OrderRequest
from core.values import Bar, OrderRef

BrokerListener = Callable[[BrokerEvent], None]
PriceListener = Callable[[str, Decimal, datetime], None]
Unsubscribe = Callable[[], None]


class Clock(Protocol):
    """The time. Injected so that tests and the simulator can step it."""

    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...


class IdGenerator(Protocol):
    """New unique ids. Injected so that tests and replays are deterministic."""

    def next_id(self, prefix: str = "") -> str:
        """A new id, unique for this generator, starting with `prefix`."""
        ...


class BrokerError(Exception):
    """A broker refused or failed a request. `code` is the broker's own error code, if any;
    the message says which order, what the broker said, and what to do."""

    def __init__(self, message: str, *, code: int | None = None, order_ref: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.order_ref = order_ref


class Broker(Protocol):
    """An account at a broker that takes orders and reports what became of them.

    Orders are identified by their `order_ref` (the deterministic leg key), never by the broker's
    own ids, so a restarted executor can find its orders again. Status reports and fills arrive
    through `subscribe`, in the order the broker sent them; the query methods answer what the
    broker holds now, which is what reconciliation compares against the journal.
    """

    @property
    def account(self) -> str:
        """The broker account id."""
        ...

    async def connect(self) -> None:
        """Connect, or raise BrokerError saying why not."""
        ...

    async def disconnect(self) -> None:
        """Disconnect; safe to call when not connected."""
        ...

    def is_connected(self) -> bool:
        """Whether requests can be sent now."""
        ...

    def subscribe(self, listener: BrokerListener) -> Unsubscribe:
        """Receive every status update, fill and connection event; returns the unsubscribe."""
        ...

    async def place_bracket(self, bracket: BracketRequest) -> None:
        """Place entry, take profit and stop loss as one bracket: the exits stay inactive until
        the entry fills and are one OCA group. Raises BrokerError if the broker refuses it."""
        ...

    async def place_order(self, order: OrderRequest) -> None:
        """Place one order (a rebuilt stop, a flattening market order, a missing leg)."""
        ...

    async def cancel_order(self, order_ref: OrderRef) -> None:
        """Ask to cancel an order; the outcome arrives as a status update."""
        ...

    async def open_orders(self) -> Sequence[BrokerOrder]:
        """Every order that is not finished yet (working or held)."""
        ...

    async def completed_orders(self) -> Sequence[BrokerOrder]:
        """Orders that finished: filled, cancelled, rejected or expired."""
        ...

    async def executions(self) -> Sequence[Fill]:
        """Every execution the broker still reports (at IB: since midnight)."""
        ...

    async def positions(self) -> Sequence[BrokerPosition]:
        """Every non-zero position in the account."""
        ...

    async def account_summary(self) -> AccountSnapshot:
        """Net liquidation, cash and P&L of the account."""
        ...


class MarketData(Protocol):
    """Prices and bars for symbols."""

    async def last_price(self, symbol: str) -> Decimal:
        """The latest trade (or mid) price; raises LookupError for an unknown symbol."""
        ...

    async def bars(self, symbol: str, count: int) -> Sequence[Bar]:
        """The last `count` daily bars, oldest first."""
        ...

    def subscribe_prices(self, symbol: str, listener: PriceListener) -> Unsubscribe:
        """Receive every new price of `symbol`; returns the unsubscribe."""
        ...


# The order-file ports live beside their row type; re-exported so every port is found here.
from core.order_file import OrderFileReader, OrderFileWriter  # noqa: E402
from core.stores import BatchStore, Outbox, ScanStore  # noqa: E402

__all__ = [
    "BatchStore",
    "Broker",
    "BrokerError",
    "BrokerListener",
    "Clock",
    "IdGenerator",
    "MarketData",
    "OrderFileReader",
    "OrderFileWriter",
    "Outbox",
    "PriceListener",
    "ScanStore",
    "Unsubscribe",
]
