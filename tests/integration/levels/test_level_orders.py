"""Level `orders`: place, query and cancel (orders rest far from the market, so a real paper
account only sees them come and go). Needs TWS_ENABLE_ORDER_TESTS=true against a real TWS."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
import pytest_asyncio

from adapters.ibkr import IbkrBroker, IbkrMarketData
from core.broker_events import OrderStatusUpdate
from core.order_status import OrderStatus
from core.orders import BracketRequest, OrderRequest
from core.ports import BrokerError
from core.values import OrderRef, OrderType, Side, quantize_price
from tests.integration.ibkr_support import wait_for
from tests.integration.levels.conftest import Target

pytestmark = pytest.mark.level_orders


@pytest_asyncio.fixture
async def broker(target: Target) -> AsyncIterator[IbkrBroker]:
    adapter = IbkrBroker(target.config, backoff=None)
    await adapter.connect()
    try:
        yield adapter
    finally:
        await adapter.disconnect()


async def far_below(target: Target, broker: IbkrBroker) -> Decimal:
    """A buy limit that will not fill: half the current price."""
    price = await IbkrMarketData(broker.connection).last_price(target.symbol)
    return quantize_price(price / 2)


def last_status(events: list[object], ref: str) -> OrderStatus | None:
    found = [e.status for e in events if isinstance(e, OrderStatusUpdate) and e.order_ref == ref]
    return found[-1] if found else None


async def test_a_resting_limit_order_is_listed_then_cancelled(target: Target, broker: IbkrBroker) -> None:
    events: list[object] = []
    broker.subscribe(events.append)
    ref = OrderRef(target.unique("limit"))
    price = await far_below(target, broker)
    await broker.place_order(OrderRequest(ref, target.symbol, Side.BUY, Decimal(1), OrderType.LIMIT, price))
    await wait_for(lambda: last_status(events, ref) is OrderStatus.WORKING, f"{ref} working", 15)
    listed = {o.request.order_ref: o for o in await broker.open_orders()}
    assert listed[ref].request.limit_price == price and listed[ref].status is OrderStatus.WORKING

    await broker.cancel_order(ref)
    await wait_for(lambda: last_status(events, ref) is OrderStatus.CANCELLED, f"{ref} cancelled", 15)
    assert ref not in {o.request.order_ref for o in await broker.open_orders()}
    assert ref in {o.request.order_ref for o in await broker.completed_orders()}


async def test_a_bracket_holds_its_exits_and_cancels_as_one(target: Target, broker: IbkrBroker) -> None:
    events: list[object] = []
    broker.subscribe(events.append)
    ref = OrderRef(target.unique("bracket"))
    entry = await far_below(target, broker)
    tp, sl = OrderRef(f"{ref}.tp"), OrderRef(f"{ref}.sl")
    await broker.place_bracket(BracketRequest(
        OrderRequest(ref, target.symbol, Side.BUY, Decimal(1), OrderType.LIMIT, entry),
        OrderRequest(tp, target.symbol, Side.SELL, Decimal(1), OrderType.LIMIT, quantize_price(entry * 3),
                     parent_ref=ref, oca_group=f"oca-{ref}"),
        OrderRequest(sl, target.symbol, Side.SELL, Decimal(1), OrderType.STOP, None,
                     quantize_price(entry * Decimal("0.9")), parent_ref=ref, oca_group=f"oca-{ref}"),
    ))
    await wait_for(lambda: last_status(events, sl) is not None, "the stop acknowledged", 15)
    listed = {o.request.order_ref: o for o in await broker.open_orders()}
    assert listed[ref].status is OrderStatus.WORKING
    assert listed[tp].status is OrderStatus.HELD and listed[sl].status is OrderStatus.HELD
    assert listed[tp].request.parent_ref == ref and listed[tp].request.oca_group == f"oca-{ref}"

    with pytest.raises(BrokerError) as duplicate:
        again = OrderRequest(ref, target.symbol, Side.BUY, Decimal(1), OrderType.LIMIT, entry)
        await broker.place_order(again)
    assert duplicate.value.code == 103

    await broker.cancel_order(ref)
    for leg in (ref, tp, sl):
        cancelled = lambda leg=leg: last_status(events, leg) is OrderStatus.CANCELLED  # noqa: E731
        await wait_for(cancelled, f"{leg} cancelled", 15)
