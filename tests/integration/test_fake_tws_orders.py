"""Orders through ib_async against the fake TWS: fills, modify, cancel, brackets, OCA, partial
fills, and the order/execution queries a reconnecting executor relies on."""

# ruff: noqa: F811 - the fake TWS fixtures are imported and then requested as parameters

from __future__ import annotations

from decimal import Decimal

import pytest
from ib_async import IB, LimitOrder, MarketOrder, StopOrder, Trade

from tests.fake_tws.fake import FakeTWS
from tests.fake_tws.pytest_helpers import (  # noqa: F401
    connect,
    error_codes,
    fake_tws,
    ib,
    ib_log_guard,
    qualified,
    status_becomes,
    wait_until,
)


async def test_market_order_fills_with_commission_and_updates_positions(fake_tws: FakeTWS, ib: IB) -> None:
    contract = await qualified(ib)
    commissions: list[float] = []
    ib.commissionReportEvent += lambda trade, fill, report: commissions.append(report.commission)
    filled: list[Trade] = []
    trade = ib.placeOrder(contract, MarketOrder("BUY", 10, orderRef="batch-1/entry"))
    trade.filledEvent += filled.append
    await status_becomes(trade, "Filled")
    await wait_until(lambda: commissions, "the commission report")
    assert filled == [trade] and commissions == [1.0]
    [fill] = trade.fills
    assert (fill.execution.shares, fill.execution.price, fill.execution.orderRef) == (
        10,
        150,
        "batch-1/entry",
    )
    await wait_until(lambda: ib.positions(), "the position push")
    [position] = ib.positions()
    assert (position.contract.conId, position.position, position.avgCost) == (contract.conId, 10, 150.1)
    [item] = ib.portfolio()
    assert (item.position, item.marketPrice, item.unrealizedPNL) == (10, 150, -1.0)
    cash = {v.tag: v.value for v in ib.accountValues() if not v.modelCode}["TotalCashValue"]
    assert cash == "998499.00"
    [recorded] = fake_tws.executions
    assert recorded.exec_id == fill.execution.execId and recorded.commission == Decimal(1)


async def test_limit_order_rests_then_modify_then_cancel(fake_tws: FakeTWS, ib: IB) -> None:
    contract = await qualified(ib)
    order = LimitOrder("BUY", 10, 140.0)
    trade = ib.placeOrder(contract, order)
    await status_becomes(trade, "Submitted")
    order.lmtPrice = 145.0
    ib.placeOrder(contract, order)
    await wait_until(lambda: trade.log[-1].message == "Modified", "the modification ack")
    assert fake_tws.order(1, order.orderId).limit_price == Decimal("145.0")
    codes: list[int] = []
    ib.errorEvent += lambda req_id, code, *_: codes.append(code)
    ib.cancelOrder(order)
    await status_becomes(trade, "Cancelled")
    await wait_until(lambda: codes == [202], "error 202")
    fake_tws.set_price("AAPL", 144)
    assert fake_tws.executions == []


async def test_limit_order_fills_when_the_price_crosses(fake_tws: FakeTWS, ib: IB) -> None:
    contract = await qualified(ib)
    trade = ib.placeOrder(contract, LimitOrder("BUY", 5, 149.0))
    await status_becomes(trade, "Submitted")
    fake_tws.set_price("AAPL", "148.5")
    await status_becomes(trade, "Filled")
    assert trade.orderStatus.avgFillPrice == 148.5


async def test_stop_order_is_held_until_triggered(fake_tws: FakeTWS, ib: IB) -> None:
    contract = await qualified(ib)
    trade = ib.placeOrder(contract, StopOrder("SELL", 5, 145.0))
    await status_becomes(trade, "PreSubmitted")
    fake_tws.set_price("AAPL", 146)
    fake_tws.set_price("AAPL", 144)
    await status_becomes(trade, "Filled")
    assert trade.orderStatus.avgFillPrice == 144


async def place_bracket(fake: FakeTWS, ib: IB) -> tuple[Trade, Trade, Trade]:
    """Buy 10 @ 149 with take-profit 160 and stop-loss 140; check the transmit staging on the way."""
    contract = await qualified(ib)
    parent, take_profit, stop_loss = ib.bracketOrder("BUY", 10, 149.0, 160.0, 140.0)
    parent_trade = ib.placeOrder(contract, parent)
    tp_trade = ib.placeOrder(contract, take_profit)
    await wait_until(lambda: len(fake.orders) == 2, "the staged orders")
    assert [o.status for o in fake.orders] == ["PendingSubmit", "PendingSubmit"]
    assert parent_trade.orderStatus.status == tp_trade.orderStatus.status == "PendingSubmit"
    sl_trade = ib.placeOrder(contract, stop_loss)
    await status_becomes(parent_trade, "Submitted")
    await status_becomes(tp_trade, "PreSubmitted")
    await status_becomes(sl_trade, "PreSubmitted")
    assert tp_trade.orderStatus.parentId == sl_trade.orderStatus.parentId == parent.orderId
    return parent_trade, tp_trade, sl_trade


async def test_bracket_take_profit_fill_cancels_the_stop(fake_tws: FakeTWS, ib: IB) -> None:
    parent, take_profit, stop_loss = await place_bracket(fake_tws, ib)
    fake_tws.set_price("AAPL", 149)
    await status_becomes(parent, "Filled")
    await status_becomes(take_profit, "Submitted")
    assert stop_loss.orderStatus.status == "PreSubmitted"  # stops stay held until triggered
    fake_tws.set_price("AAPL", 160)
    await status_becomes(take_profit, "Filled")
    await status_becomes(stop_loss, "Cancelled")
    assert fake_tws.positions == []
    await wait_until(lambda: not ib.positions() and not ib.portfolio(), "the flat position pushes")
    realized = {v.tag: v.value for v in ib.accountValues() if not v.modelCode}["RealizedPnL"]
    assert realized == "108.00"  # (160 - 149) * 10 less $1 commission on each side


async def test_bracket_stop_fill_cancels_the_take_profit(fake_tws: FakeTWS, ib: IB) -> None:
    parent, take_profit, stop_loss = await place_bracket(fake_tws, ib)
    fake_tws.set_price("AAPL", 148)
    await status_becomes(parent, "Filled")
    fake_tws.set_price("AAPL", 139)
    await status_becomes(stop_loss, "Filled")
    await status_becomes(take_profit, "Cancelled")
    assert stop_loss.orderStatus.avgFillPrice == 139
    assert fake_tws.positions == []


async def test_children_never_fill_before_the_parent(fake_tws: FakeTWS, ib: IB) -> None:
    parent, take_profit, stop_loss = await place_bracket(fake_tws, ib)
    fake_tws.set_price("AAPL", 139)  # through the stop, but the parent (buy @ 149) is unfilled...
    await status_becomes(parent, "Filled")  # ...until now: the parent fills at 139 first,
    await status_becomes(stop_loss, "Filled")  # then the released stop triggers at once
    await status_becomes(take_profit, "Cancelled")


async def test_cancelling_the_parent_cancels_the_children(fake_tws: FakeTWS, ib: IB) -> None:
    parent, take_profit, stop_loss = await place_bracket(fake_tws, ib)
    ib.cancelOrder(parent.order)
    for trade in (parent, take_profit, stop_loss):
        await status_becomes(trade, "Cancelled")


async def test_partial_fill_of_the_take_profit_shrinks_the_stop(fake_tws: FakeTWS, ib: IB) -> None:
    parent, take_profit, stop_loss = await place_bracket(fake_tws, ib)
    fake_tws.set_price("AAPL", 149)
    await status_becomes(parent, "Filled")
    fake_tws.set_partial_fill(4)
    fake_tws.set_price("AAPL", 160)
    await wait_until(lambda: take_profit.orderStatus.filled == 4, "the partial take-profit fill")
    assert take_profit.orderStatus.status == "Submitted" and take_profit.orderStatus.remaining == 6
    assert fake_tws.order(1, stop_loss.order.orderId).quantity == 6
    await wait_until(lambda: stop_loss.order.totalQuantity == 6, "the shrunk stop")
    fake_tws.set_partial_fill(None)
    fake_tws.set_price("AAPL", 161)
    await status_becomes(take_profit, "Filled")
    await status_becomes(stop_loss, "Cancelled")


async def test_explicit_oca_group(fake_tws: FakeTWS, ib: IB) -> None:
    contract = await qualified(ib)
    orders = IB.oneCancelsAll([LimitOrder("BUY", 5, 149.0), LimitOrder("BUY", 5, 148.0)], "oca-1", 1)
    first, second = (ib.placeOrder(contract, o) for o in orders)
    await status_becomes(second, "Submitted")
    fake_tws.set_price("AAPL", 149)
    await status_becomes(first, "Filled")
    await status_becomes(second, "Cancelled")
    assert [o.oca_group for o in fake_tws.orders] == ["oca-1", "oca-1"]


async def test_partial_fills_accumulate(fake_tws: FakeTWS, ib: IB) -> None:
    contract = await qualified(ib)
    fake_tws.set_partial_fill(3)
    trade = ib.placeOrder(contract, MarketOrder("BUY", 10))
    await wait_until(lambda: trade.orderStatus.filled == 3, "the first partial fill")
    assert trade.orderStatus.status == "Submitted"
    for price in (151, 152, 153):
        fake_tws.set_price("AAPL", price)
    await status_becomes(trade, "Filled")
    assert [f.execution.shares for f in trade.fills] == [3, 3, 3, 1]
    assert [f.execution.cumQty for f in trade.fills] == [3, 6, 9, 10]
    assert trade.orderStatus.avgFillPrice == pytest.approx((150 * 3 + 151 * 3 + 152 * 3 + 153) / 10)


async def test_executions_and_completed_orders_queries(fake_tws: FakeTWS, ib: IB) -> None:
    contract = await qualified(ib)
    bought = ib.placeOrder(contract, MarketOrder("BUY", 10, orderRef="ref-buy"))
    await status_becomes(bought, "Filled")
    resting = ib.placeOrder(contract, LimitOrder("SELL", 10, 170.0, orderRef="ref-sell"))
    await status_becomes(resting, "Submitted")
    ib.cancelOrder(resting.order)
    await status_becomes(resting, "Cancelled")
    fills = await ib.reqExecutionsAsync()
    assert [f.execution.execId for f in fills] == [e.exec_id for e in fake_tws.executions]
    fresh = await connect(fake_tws, 2)  # its startup reqExecutions replays fills with commissions
    try:
        assert [(f.execution.orderRef, f.commissionReport.commission) for f in fresh.fills()] == [
            ("ref-buy", 1.0)
        ]
    finally:
        fresh.disconnect()
    completed = await ib.reqCompletedOrdersAsync(False)
    assert {(t.order.orderRef, t.orderStatus.status) for t in completed} == {
        ("ref-buy", "Filled"),
        ("ref-sell", "Cancelled"),
    }


async def test_open_orders_per_client_and_all_clients(fake_tws: FakeTWS, ib: IB) -> None:
    other = await connect(fake_tws, 2)
    try:
        contract = await qualified(ib)
        mine = ib.placeOrder(contract, LimitOrder("BUY", 1, 100.0, orderRef="mine"))
        theirs = other.placeOrder(contract, LimitOrder("BUY", 2, 101.0, orderRef="theirs"))
        await status_becomes(mine, "Submitted")
        await status_becomes(theirs, "Submitted")
        own = await ib.reqOpenOrdersAsync()
        assert [t.order.orderRef for t in own] == ["mine"]
        every = await ib.reqAllOpenOrdersAsync()
        assert sorted((t.order.clientId, t.order.orderRef) for t in every) == [(1, "mine"), (2, "theirs")]
    finally:
        other.disconnect()


async def test_global_cancel_cancels_every_client(fake_tws: FakeTWS, ib: IB) -> None:
    other = await connect(fake_tws, 2)
    try:
        contract = await qualified(ib)
        mine = ib.placeOrder(contract, LimitOrder("BUY", 1, 100.0))
        theirs = other.placeOrder(contract, LimitOrder("BUY", 2, 101.0))
        await status_becomes(theirs, "Submitted")
        await status_becomes(mine, "Submitted")
        ib.reqGlobalCancel()  # type: ignore[no-untyped-call]
        await status_becomes(mine, "Cancelled")
        await status_becomes(theirs, "Cancelled")
        assert {o.status for o in fake_tws.orders} == {"Cancelled"}
    finally:
        other.disconnect()


async def test_next_valid_id_is_above_every_used_order_id(fake_tws: FakeTWS, ib: IB) -> None:
    contract = await qualified(ib)
    trade = ib.placeOrder(contract, LimitOrder("BUY", 1, 100.0))
    await status_becomes(trade, "Submitted")
    other = await connect(fake_tws, 2)
    try:
        assert other.client.getReqId() > trade.order.orderId
    finally:
        other.disconnect()
