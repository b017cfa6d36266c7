"""What the engine reports happened; the publisher turns each event into wire messages.

Keeping the engine free of sockets lets it decide *what* happened while `publisher.py` decides
*how it looks on the wire* and *who hears it* (the owning client, subscribers).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from tests.fake_tws.messages.orders import WhatIfEstimate
from tests.fake_tws.model import ExecutionRecord, Instrument, OrderRecord


@dataclass(frozen=True, slots=True)
class OrderChanged:
    """An order's state changed: OPEN_ORDER (when `with_open_order`) and ORDER_STATUS to its owner."""

    order: OrderRecord
    with_open_order: bool = True


@dataclass(frozen=True, slots=True)
class OrderError:
    """An error about an order: ERR_MSG to the owning client with reqId = the order id."""

    client_id: int
    order_id: int
    code: int
    message: str


@dataclass(frozen=True, slots=True)
class Filled:
    """An execution: EXECUTION_DATA, OPEN_ORDER (when complete), ORDER_STATUS, COMMISSION_REPORT."""

    order: OrderRecord
    execution: ExecutionRecord


@dataclass(frozen=True, slots=True)
class PortfolioChanged:
    """A position or its market value changed: pushes to position and account subscribers."""

    account: str
    instrument: Instrument


@dataclass(frozen=True, slots=True)
class PriceChanged:
    """A new last price: ticks to market data subscribers, bar updates to keepUpToDate requests."""

    instrument: Instrument
    price: Decimal


@dataclass(frozen=True, slots=True)
class WhatIfAnswered:
    """The answer to a what-if order: one OPEN_ORDER with margins, no status, no live order."""

    client_id: int
    order: OrderRecord
    estimate: WhatIfEstimate


EngineEvent = OrderChanged | OrderError | Filled | PortfolioChanged | PriceChanged | WhatIfAnswered
