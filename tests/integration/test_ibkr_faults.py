"""The IBKR adapter under faults, against the fake TWS over a real socket with the unmodified
ib_async client. The fake's log guard fails any test in which ib_async could not decode a message."""

# ruff: noqa: F811 - the fake TWS fixtures are imported and then requested as parameters

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from adapters.ibkr import IbkrBroker, TWSConfig
from core.broker_events import BrokerOrder, ConnectionState
from core.order_status import OrderStatus
from core.orders import OrderRequest
from core.ports import BrokerError
from core.values import OrderRef, OrderType, Side
from tests.fake_tws.fake import FakeTWS
from tests.fake_tws.pytest_helpers import fake_tws, ib_log_guard  # noqa: F401
from tests.integration.ibkr_support import (
    D,
    Events,
    bracket,
    limit,
    make_broker,
    reject_live_order,
    wait_for,
)

PLACE_ORDER = 3


@pytest_asyncio.fixture
async def broker(fake_tws: FakeTWS) -> AsyncIterator[IbkrBroker]:
    adapter = make_broker(fake_tws)
    await adapter.connect()
    try:
        yield adapter
    finally:
        await adapter.disconnect()


async def test_1100_then_1102_mid_batch(fake_tws: FakeTWS, broker: IbkrBroker) -> None:
    events = Events(broker)
    for n in range(10):
        if n == 4:
            fake_tws.send_error(1100)
        if n == 7:
            fake_tws.send_error(1102)
        await broker.place_bracket(bracket(f"B{n}", entry="140", target="170", stop="130"))
    await broker.sync()

    states = events.connection_states()
    assert states.index(ConnectionState.LOST) < states.index(ConnectionState.RESTORED)
    refs = [f"B{n}{leg}" for n in range(10) for leg in ("", ".tp", ".sl")]
    assert Counter(o.order_ref for o in fake_tws.orders) == Counter(refs)  # each once: none lost or doubled
    open_orders: dict[str, BrokerOrder] = {o.request.order_ref: o for o in await broker.open_orders()}
    assert set(open_orders) == set(refs)
    for n in range(10):
        assert open_orders[f"B{n}"].status is OrderStatus.WORKING
        assert open_orders[f"B{n}.tp"].status is OrderStatus.HELD
        assert open_orders[f"B{n}.sl"].status is OrderStatus.HELD
    assert await broker.completed_orders() == []
    assert broker.pacing_errors == 0


async def test_error_201_on_a_stop_after_the_entry_filled_is_reported_rejected(
    fake_tws: FakeTWS, broker: IbkrBroker
) -> None:
    events = Events(broker)
    await broker.place_bracket(bracket("R1", entry="150", target="170", stop="130"))  # marketable entry
    await broker.sync()
    assert events.last_status("R1") is OrderStatus.FILLED
    assert events.last_status("R1.sl") is OrderStatus.WORKING  # live, waiting for its trigger

    reject_live_order(fake_tws, "R1.sl", 201, "Insufficient margin to keep the stop")
    await broker.sync()
    rejection = events.statuses("R1.sl")[-1]
    assert rejection.status is OrderStatus.REJECTED and rejection.code == 201
    assert "margin" in rejection.message
    assert any("R1.sl" in p and "201" in p and "reduce the position size" in p for p in broker.problems)
    completed: dict[str, BrokerOrder] = {o.request.order_ref: o for o in await broker.completed_orders()}
    assert completed["R1.sl"].status is OrderStatus.REJECTED
    assert [p.quantity for p in await broker.positions()] == [D(10)]  # the executor must now flatten


async def test_201_on_a_rebuilt_stop_is_reported_with_its_code(fake_tws: FakeTWS, broker: IbkrBroker) -> None:
    events = Events(broker)
    await broker.place_order(OrderRequest(OrderRef("E1"), "AAPL", Side.BUY, D(5)))
    await broker.sync()
    fake_tws.reject_next_order(201, "Insufficient margin")
    stop = OrderRequest(OrderRef("E1.sl2"), "AAPL", Side.SELL, D(5), OrderType.STOP, None, D(140),
                        parent_ref=OrderRef("E1"))
    await broker.place_order(stop)
    await broker.sync()
    assert events.statuses("E1.sl2")[-1].status is OrderStatus.REJECTED
    assert events.statuses("E1.sl2")[-1].code == 201
    [request] = [r for r in fake_tws.requests_of(PLACE_ORDER) if r.fields[26] == "E1.sl2"]
    [entry] = [r for r in fake_tws.requests_of(PLACE_ORDER) if r.fields[26] == "E1"]
    assert request.fields[28] == entry.fields[1]  # linked to its parent by parentId


async def test_client_id_in_use_is_a_clear_broker_error(fake_tws: FakeTWS, broker: IbkrBroker) -> None:
    second = make_broker(fake_tws, client_id=1, backoff=None)
    with pytest.raises(BrokerError) as refused:
        await second.connect()
    assert refused.value.code == 326
    assert "TWS_CLIENT_ID" in str(refused.value)
    assert not second.is_connected()
    assert broker.is_connected()  # the first connection is untouched


async def test_refused_connection_says_to_start_tws() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()  # nothing listens on `port` now
    broker = IbkrBroker(TWSConfig(port=port, timeout=2), backoff=None)
    with pytest.raises(BrokerError) as refused:
        await broker.connect()
    assert "start TWS or IB Gateway" in str(refused.value) and "enable the API" in str(refused.value)
    assert str(port) in str(refused.value)


async def test_a_dropped_order_status_does_not_lose_the_fill(fake_tws: FakeTWS, broker: IbkrBroker) -> None:
    events = Events(broker)
    fake_tws.skip_next_order_status(10)  # every status of this order is lost on the way
    await broker.place_order(OrderRequest(OrderRef("M1"), "AAPL", Side.BUY, D(7)))
    await broker.sync()
    [fill] = events.fills("M1")
    assert (fill.quantity, fill.price, fill.side) == (D(7), D(150), Side.BUY)
    assert fill.commission > 0
    [execution] = await broker.executions()
    assert execution.exec_id == fill.exec_id
    fake_tws.skip_next_order_status(0)
    completed: dict[str, BrokerOrder] = {o.request.order_ref: o for o in await broker.completed_orders()}
    assert completed["M1"].status is OrderStatus.FILLED and completed["M1"].filled == 7


async def test_a_dropped_connection_reconnects_and_queries_agree(
    fake_tws: FakeTWS, broker: IbkrBroker
) -> None:
    events = Events(broker)
    await broker.place_bracket(bracket("C1", entry="140", target="170", stop="130"))
    await broker.sync()
    assert fake_tws.drop_connections() == 1
    await wait_for(lambda: ConnectionState.RESTORED in events.connection_states(), "the reconnect")
    assert events.connection_states()[-2:] == [ConnectionState.DISCONNECTED, ConnectionState.RESTORED]
    assert broker.is_connected()
    open_orders: dict[str, OrderStatus] = {o.request.order_ref: o.status for o in await broker.open_orders()}
    assert open_orders == {"C1": OrderStatus.WORKING, "C1.tp": OrderStatus.HELD, "C1.sl": OrderStatus.HELD}
    with pytest.raises(BrokerError) as duplicate:  # known again after the reconnect: never placed twice
        await broker.place_bracket(bracket("C1", entry="140", target="170", stop="130"))
    assert duplicate.value.code == 103
    fake_tws.set_price("AAPL", 140)
    await broker.sync()
    assert events.last_status("C1") is OrderStatus.FILLED


# 120 orders at 45 messages/s take about 2.7 s; 1,000 would take 22 s for the same property (the
# budget is a sliding window, so the count only lengthens the run). bench/ibkr_pacing.py runs 300.
QUEUED_ORDERS = 120


async def test_pacing_error_100_is_never_reached(fake_tws: FakeTWS, broker: IbkrBroker) -> None:
    entries = [limit(f"P{n}", Side.BUY, 1, "100") for n in range(QUEUED_ORDERS)]
    placing = [asyncio.ensure_future(broker.place_order(order)) for order in entries]
    await asyncio.sleep(0.05)  # the first second's budget is spent and the rest queue
    stop = OrderRequest(OrderRef("P-stop"), "AAPL", Side.SELL, D(1), OrderType.STOP, None, D(90))
    await broker.place_order(stop)  # protective: goes ahead of the queued entries
    await asyncio.gather(*placing)
    await broker.sync()

    assert broker.connection.budget.peak <= 45  # what we sent, by our clock
    # What TWS counted on receipt: a busy machine can bunch a few messages (bench/ibkr_pacing.py
    # shows 45 unloaded), but never up to TWS's limit of 50, so never error 100.
    assert fake_tws.messages_per_second_max < 50
    assert broker.pacing_errors == 0 and not any("error 100" in p for p in broker.problems)
    sent = [r.fields[26] for r in fake_tws.requests_of(PLACE_ORDER)]
    assert Counter(sent) == Counter([o.order_ref for o in entries] + ["P-stop"])
    assert sent.index("P-stop") < len(entries) // 2
