"""Price rules: when an order triggers and at what price it fills (MKT, LMT, STP, STP LMT).

A marketable order fills at the current price, which is at or better than its limit; a stop
becomes a market (STP) or limit (STP LMT) order once the price touches it.
"""

from __future__ import annotations

from decimal import Decimal

from tests.fake_tws.model import OrderRecord

SUPPORTED_ORDER_TYPES = frozenset({"MKT", "LMT", "STP", "STP LMT"})
STOP_TYPES = frozenset({"STP", "STP LMT"})


def is_stop(order: OrderRecord) -> bool:
    """Whether the order waits for a stop price before it can fill."""
    return order.order_type in STOP_TYPES


def stop_touched(order: OrderRecord, price: Decimal) -> bool:
    """Whether `price` reaches the stop price (buy stops trigger at or above, sell stops below)."""
    stop = order.aux_price
    if stop is None:
        return False
    return price >= stop if order.is_buy else price <= stop


def fill_price(order: OrderRecord, price: Decimal) -> Decimal | None:
    """The price an order (already triggered, if a stop) fills at now, or None if it rests."""
    if order.order_type in ("MKT", "STP"):
        return price
    limit = order.limit_price
    if limit is None:
        return None
    marketable = price <= limit if order.is_buy else price >= limit
    return price if marketable else None
