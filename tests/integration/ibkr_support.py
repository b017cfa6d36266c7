"""Helpers for tests of the IBKR adapter against the in-process fake TWS.

`reject_live_order` stands in for a control operation the fake lacks: rejecting an order that is
already live (TWS does this, e.g. 201 when a bracket's stop fails a margin check as it activates).
It uses the fake engine's own rejection path, so the wire messages are the fake's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal

from adapters.ibkr import IbkrBroker, TWSConfig
from adapters.ibkr.reconnect import Backoff
from core.broker_events import BrokerEvent, ConnectionEvent, ConnectionState, Fill, OrderStatusUpdate
from core.order_status import OrderStatus
from core.orders import BracketRequest, OrderRequest
from core.values import OrderRef, OrderType, Side
from tests.fake_tws import FakeTWS

D = Decimal
FAST_BACKOFF = Backoff(initial=0.01, factor=2.0, maximum=0.2, max_attempts=50)


def make_broker(fake: FakeTWS, client_id: int = 1, backoff: Backoff | None = FAST_BACKOFF) -> IbkrBroker:
    """An adapter configured for the fake (not connected yet)."""
    return IbkrBroker(TWSConfig(port=fake.port, client_id=client_id, timeout=5), backoff=backoff)


class Events:
    """Everything a broker reported, in order."""

    def __init__(self, broker: IbkrBroker) -> None:
        self.all: list[BrokerEvent] = []
        broker.subscribe(self.all.append)

    def statuses(self, ref: str) -> list[OrderStatusUpdate]:
        return [e for e in self.all if isinstance(e, OrderStatusUpdate) and e.order_ref == ref]

    def last_status(self, ref: str) -> OrderStatus | None:
        found = self.statuses(ref)
        return found[-1].status if found else None

    def fills(self, ref: str) -> list[Fill]:
        return [e for e in self.all if isinstance(e, Fill) and e.order_ref == ref]

    def connection_states(self) -> list[ConnectionState]:
        return [e.state for e in self.all if isinstance(e, ConnectionEvent)]


async def wait_for(condition: Callable[[], object], what: str, timeout: float = 5.0) -> None:
    """Poll until `condition()` holds; the timeout only bounds a hang."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


def reject_live_order(fake: FakeTWS, order_ref: str, code: int, reason: str) -> None:
    """Make the fake reject an order it already holds (error `code`, then Inactive for 201)."""
    fake.reject_order(order_ref, code, reason)


def limit(ref: str, side: Side, quantity: int, price: str, symbol: str = "AAPL") -> OrderRequest:
    return OrderRequest(OrderRef(ref), symbol, side, D(quantity), OrderType.LIMIT, D(price))


def bracket(ref: str, entry: str, target: str, stop: str, quantity: int = 10, symbol: str = "AAPL"
            ) -> BracketRequest:
    """A long bracket with a limit entry."""
    return BracketRequest(
        OrderRequest(OrderRef(ref), symbol, Side.BUY, D(quantity), OrderType.LIMIT, D(entry)),
        OrderRequest(OrderRef(f"{ref}.tp"), symbol, Side.SELL, D(quantity), OrderType.LIMIT, D(target),
                     parent_ref=OrderRef(ref), oca_group=f"oca-{ref}"),
        OrderRequest(OrderRef(f"{ref}.sl"), symbol, Side.SELL, D(quantity), OrderType.STOP, None, D(stop),
                     parent_ref=OrderRef(ref), oca_group=f"oca-{ref}"),
    )
