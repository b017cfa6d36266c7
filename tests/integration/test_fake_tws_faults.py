"""Fault injection: rejections, dropped connections, client id in use, connectivity errors, skipped
statuses, delays and the pacing limit, as ib_async experiences them."""

# ruff: noqa: F811 - the fake TWS fixtures are imported and then requested as parameters

from __future__ import annotations

import asyncio

import pytest
from ib_async import IB, Client, LimitOrder, MarketOrder, Order

from tests.fake_tws.fake import FakeTWS
from tests.fake_tws.pytest_helpers import (  # noqa: F401
    RawClient,
    connect,
    error_codes,
    fake_tws,
    ib,
    ib_log_guard,
    qualified,
    status_becomes,
    wait_until,
)


async def test_rejection_201_ends_inactive(fake_tws: FakeTWS, ib: IB) -> None:
    contract = await qualified(ib)
    fake_tws.reject_next_order(201, "insufficient margin")
    trade = ib.placeOrder(contract, LimitOrder("BUY", 10, 149.0))
    await status_becomes(trade, "Inactive")
    assert error_codes(trade) == [201]
    assert "insufficient margin" in trade.log[1].message
    assert fake_tws.orders[0].status == "Inactive" and fake_tws.orders[0].reject_code == 201
    fake_tws.set_price("AAPL", 140)
    assert fake_tws.executions == []


@pytest.mark.parametrize("code", [103, 110, 202])
async def test_other_rejections_cancel_the_trade(fake_tws: FakeTWS, ib: IB, code: int) -> None:
    contract = await qualified(ib)
    fake_tws.reject_next_order(code)
    trade = ib.placeOrder(contract, LimitOrder("BUY", 10, 149.0))
    await status_becomes(trade, "Cancelled")
    assert error_codes(trade) == [code]
    second = ib.placeOrder(contract, LimitOrder("BUY", 10, 149.0))  # only the next order is rejected
    await status_becomes(second, "Submitted")


async def test_orders_the_fake_cannot_model_are_rejected_with_a_reason(ib: IB) -> None:
    contract = await qualified(ib)
    trailing = Order(action="SELL", totalQuantity=10, orderType="TRAIL", auxPrice=1.0)
    trade = ib.placeOrder(contract, trailing)
    await status_becomes(trade, "Inactive")
    assert "order type 'TRAIL' is not supported" in trade.log[1].message


async def test_price_off_the_tick_grid_gets_110(ib: IB) -> None:
    contract = await qualified(ib)
    trade = ib.placeOrder(contract, LimitOrder("BUY", 10, 149.005))
    await status_becomes(trade, "Cancelled")
    assert error_codes(trade) == [110]


async def test_drop_and_reconnect_restores_open_orders_and_fills(fake_tws: FakeTWS, ib: IB) -> None:
    contract = await qualified(ib)
    resting = ib.placeOrder(contract, LimitOrder("BUY", 10, 140.0, orderRef="rest"))
    filling = ib.placeOrder(contract, LimitOrder("BUY", 5, 145.0, orderRef="fill"))
    await status_becomes(filling, "Submitted")
    dropped = asyncio.Event()
    ib.disconnectedEvent += dropped.set
    assert fake_tws.drop_connections(client_id=1) == 1
    await asyncio.wait_for(dropped.wait(), 3)
    fake_tws.set_price("AAPL", 145)  # fills while the client is away
    again = await connect(fake_tws, 1)
    try:
        [open_trade] = again.openTrades()
        assert (open_trade.order.orderId, open_trade.order.orderRef) == (resting.order.orderId, "rest")
        assert [f.execution.orderRef for f in again.fills()] == ["fill"]
        assert [(p.contract.conId, p.position) for p in again.positions()] == [(contract.conId, 5)]
        assert again.client.getReqId() > filling.order.orderId
        open_trade.order.lmtPrice = 141.0
        again.placeOrder(contract, open_trade.order)  # same (clientId, orderId): a modification
        await wait_until(lambda: open_trade.log[-1].message == "Modified", "the modification ack")
        assert len(fake_tws.orders) == 2
    finally:
        again.disconnect()


async def test_client_id_in_use_gets_326(fake_tws: FakeTWS, ib: IB) -> None:
    codes: list[int] = []
    second = IB()
    second.errorEvent += lambda req_id, code, *_: codes.append(code)
    attempt = asyncio.ensure_future(second.connectAsync("127.0.0.1", fake_tws.port, clientId=1, timeout=10))
    await wait_until(lambda: codes == [326], "error 326")
    await wait_until(lambda: second.client.connState == Client.DISCONNECTED, "the server closing the socket")
    attempt.cancel()  # ib_async itself would only give up at its timeout
    with pytest.raises((asyncio.CancelledError, ConnectionError)):
        await attempt
    assert ib.isConnected() and fake_tws.connected_client_ids == [1]


async def test_client_id_in_use_is_closed_by_the_server(fake_tws: FakeTWS, ib: IB) -> None:
    raw = await RawClient.connect(fake_tws.port, client_id=1)
    assert await raw.closed_by_server()
    assert [f[3] for f in raw.received if f[0] == "4"] == ["326"]


async def test_connectivity_errors_reach_every_client(fake_tws: FakeTWS, ib: IB) -> None:
    other = await connect(fake_tws, 2)
    seen: dict[int, list[int]] = {1: [], 2: []}
    ib.errorEvent += lambda req_id, code, *_: seen[1].append(code)
    other.errorEvent += lambda req_id, code, *_: seen[2].append(code)
    try:
        fake_tws.send_error(1100)
        fake_tws.send_error(1102)
        await wait_until(lambda: seen[1] == seen[2] == [1100, 1102], "1100 and 1102 on both clients")
        # ib_async answers 1102 by re-requesting the account summary
        await wait_until(lambda: len(fake_tws.requests_of(62)) == 2, "the account summary re-requests")
    finally:
        other.disconnect()


async def test_skipped_order_status_still_delivers_the_execution(fake_tws: FakeTWS, ib: IB) -> None:
    contract = await qualified(ib)
    trade = ib.placeOrder(contract, LimitOrder("BUY", 10, 149.0))
    await status_becomes(trade, "Submitted")
    fake_tws.skip_next_order_status()
    fake_tws.set_price("AAPL", 149)
    await wait_until(lambda: trade.fills, "the execution")
    await wait_until(lambda: ib.positions(), "the position")
    assert trade.orderStatus.status == "Submitted"  # the Filled status never arrived
    assert [o.status for o in fake_tws.orders] == ["Filled"]


async def test_delay_holds_every_message_back(fake_tws: FakeTWS, ib: IB) -> None:
    loop = asyncio.get_running_loop()
    fake_tws.set_delay(0.2)
    started = loop.time()
    await ib.reqCurrentTimeAsync()
    assert loop.time() - started >= 0.2  # a floor set by the fault, not a speed target
    fake_tws.set_delay(0)
    contract = await qualified(ib)
    trade = ib.placeOrder(contract, MarketOrder("BUY", 1))
    await status_becomes(trade, "Filled")


async def test_more_than_50_messages_per_second_get_error_100(fake_tws: FakeTWS) -> None:
    raw = await RawClient.connect(fake_tws.port, client_id=9)
    for _ in range(60):
        raw.send([49, 1])  # reqCurrentTime, all within one second
    await raw.read_until(lambda f: sum(1 for m in raw.received if m[0] in ("49", "4")) >= 63)
    times = [m for m in raw.received if m[0] == "49"]
    pacing = [m for m in raw.received if m[0] == "4" and m[3] == "100"]
    assert (len(times), len(pacing)) == (50, 10)
    assert "max=50" in pacing[0][4]
    assert fake_tws.messages_per_second_max >= 60
    await raw.close()
