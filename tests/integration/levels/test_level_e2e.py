"""Level `e2e`: a bracket's whole life. On a fake TWS the market is moved: the entry fills, the
exits go live, the target fills and the stop is cancelled, and every query agrees. On a real TWS
(TWS_ENABLE_ORDER_TESTS=true, paper account) nothing may fill on purpose, so the test places a
resting bracket, reconciles it through every query after a reconnect, and cancels it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
import pytest_asyncio

from adapters.ibkr import IbkrBroker, IbkrMarketData
from core.broker_events import Fill, OrderStatusUpdate
from core.order_status import OrderStatus
from core.orders import BracketRequest, OrderRequest
from core.values import ZERO, OrderRef, OrderType, Side, quantize_price
from tests.integration.ibkr_support import wait_for
from tests.integration.levels.conftest import Target

pytestmark = pytest.mark.level_e2e


@pytest_asyncio.fixture
async def broker(target: Target) -> AsyncIterator[IbkrBroker]:
    adapter = IbkrBroker(target.config, backoff=None)
    await adapter.connect()
    try:
        yield adapter
    finally:
        await adapter.disconnect()


def make_bracket(
    ref: OrderRef, symbol: str, entry: Decimal, target: Decimal, stop: Decimal
) -> BracketRequest:
    tp, sl = OrderRef(f"{ref}.tp"), OrderRef(f"{ref}.sl")
    return BracketRequest(
        OrderRequest(ref, symbol, Side.BUY, Decimal(10), OrderType.LIMIT, entry),
        OrderRequest(tp, symbol, Side.SELL, Decimal(10), OrderType.LIMIT, target, parent_ref=ref,
                     oca_group=f"oca-{ref}"),
        OrderRequest(sl, symbol, Side.SELL, Decimal(10), OrderType.STOP, None, stop, parent_ref=ref,
                     oca_group=f"oca-{ref}"),
    )


def status(events: list[object], ref: str) -> OrderStatus | None:
    found = [e.status for e in events if isinstance(e, OrderStatusUpdate) and e.order_ref == ref]
    return found[-1] if found else None


async def position(broker: IbkrBroker, symbol: str) -> Decimal:
    return sum((p.quantity for p in await broker.positions() if p.symbol == symbol), ZERO)


async def test_a_bracket_from_entry_to_target(target: Target, broker: IbkrBroker) -> None:
    if target.market is None:
        pytest.skip("a real TWS cannot be made to fill; "
                    "test_a_resting_bracket_survives_a_reconnect covers a real TWS")
    market, symbol = target.market, target.symbol
    events: list[object] = []
    broker.subscribe(events.append)
    ref = OrderRef(target.unique("e2e"))
    before = await position(broker, symbol)
    cash_before = (await broker.account_summary()).cash
    market.set_price(symbol, Decimal(150))
    await broker.place_bracket(make_bracket(ref, symbol, Decimal(145), Decimal(160), Decimal(140)))
    await broker.sync()
    market.set_price(symbol, Decimal(145))  # the entry fills; the exits go live
    await wait_for(lambda: status(events, f"{ref}.tp") is OrderStatus.WORKING, "the take profit working")
    assert await position(broker, symbol) == before + 10
    market.set_price(symbol, Decimal(161))  # the target fills; OCA cancels the stop
    await wait_for(lambda: status(events, f"{ref}.sl") is OrderStatus.CANCELLED, "the stop cancelled")
    await broker.sync()

    fills = [e for e in events if isinstance(e, Fill)]
    assert [(str(f.order_ref), f.side, f.quantity) for f in fills] == [
        (ref, Side.BUY, Decimal(10)), (f"{ref}.tp", Side.SELL, Decimal(10))]
    assert status(events, ref) is OrderStatus.FILLED and status(events, f"{ref}.tp") is OrderStatus.FILLED
    assert await position(broker, symbol) == before
    done: dict[str, OrderStatus] = {o.request.order_ref: o.status for o in await broker.completed_orders()}
    assert (done[ref], done[f"{ref}.tp"], done[f"{ref}.sl"]) == (
        OrderStatus.FILLED, OrderStatus.FILLED, OrderStatus.CANCELLED)
    executions = {f.exec_id for f in await broker.executions()}
    assert {f.exec_id for f in fills} <= executions
    commissions = sum((f.commission for f in fills), ZERO)
    summary = await broker.account_summary()
    assert summary.cash == cash_before + sum(f.quantity * f.price * -f.side.sign for f in fills) - commissions


async def test_a_resting_bracket_survives_a_reconnect(target: Target, broker: IbkrBroker) -> None:
    events: list[object] = []
    broker.subscribe(events.append)
    ref = OrderRef(target.unique("rest"))
    price = await IbkrMarketData(broker.connection).last_price(target.symbol)
    entry = quantize_price(price / 2)
    await broker.place_bracket(make_bracket(ref, target.symbol, entry, quantize_price(price * 2),
                                            quantize_price(entry * Decimal("0.9"))))
    await wait_for(lambda: status(events, f"{ref}.sl") is not None, "the bracket acknowledged", 15)

    await broker.disconnect()  # an executor restart, as far as TWS can tell
    await broker.connect()
    listed: dict[str, OrderStatus] = {o.request.order_ref: o.status for o in await broker.open_orders()}
    assert listed[ref] is OrderStatus.WORKING
    assert listed[f"{ref}.tp"] is OrderStatus.HELD and listed[f"{ref}.sl"] is OrderStatus.HELD
    await broker.cancel_order(ref)
    await wait_for(lambda: status(events, f"{ref}.sl") is OrderStatus.CANCELLED, "the bracket cancelled", 15)
