"""When an order matches a price, and at what price it fills.

- MKT fills at the current price.
- LMT fills once the price reaches the limit. An order that was resting when the price jumped
  through its limit fills at the limit (that is where it stood in the book); an order that is
  marketable the moment it starts working fills at the current price (better than its limit).
- STP triggers when the price reaches the stop (at or above for a buy, at or below for a sell)
  and then fills at the current price, like a market order.
- STP LMT triggers like a stop and from then on works as a limit order.
"""

from __future__ import annotations

from decimal import Decimal

from adapters.simulated.book import SimOrder
from core.values import OrderType, Side

_MARKET = OrderType.MARKET
_LIMIT = OrderType.LIMIT
_STOP = OrderType.STOP
_BUY = Side.BUY


def fill_price(order: SimOrder, price: Decimal, previous: Decimal | None) -> Decimal | None:
    """The price `order` fills at when the market is at `price`, or None if it does not match.

    `previous` is the price before this move, or None when the order has not seen a price since it
    started working (it is "arriving"). Triggers a stop as a side effect: once triggered, a stop
    stays triggered.
    """
    request = order.request
    order_type = request.order_type
    if order_type is _LIMIT:  # most orders: tested first
        limit = request.limit_price
    elif order_type is _MARKET:
        return price
    else:
        if not order.triggered:
            stop = request.stop_price
            assert stop is not None  # OrderRequest guarantees a stop price for STP and STP LMT
            if not (price >= stop if request.side is _BUY else price <= stop):
                return None
            order.triggered = True
            previous = None  # a triggered stop-limit is a new limit order, arriving now
        if order_type is _STOP:
            return price
        limit = request.limit_price
    assert limit is not None  # OrderRequest guarantees a limit price for LMT and STP LMT
    if request.side is _BUY:
        if price > limit:
            return None
        return limit if previous is not None and previous > limit else price
    if price < limit:
        return None
    return limit if previous is not None and previous < limit else price
