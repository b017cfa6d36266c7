"""The fake TWS as a separate process (as executor crash tests will run it), driven through the
JSON-lines control socket with `FakeTWSControl`."""

# ruff: noqa: F811 - the fake TWS fixtures are imported and then requested as parameters

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from ib_async import IB, LimitOrder

from tests.fake_tws.control import ControlError, FakeTWSControl
from tests.fake_tws.pytest_helpers import ib_log_guard, qualified, wait_until  # noqa: F401

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest_asyncio.fixture
async def fake_process(ib_log_guard: object) -> AsyncIterator[tuple[int, int]]:
    """`python -m tests.fake_tws --port 0 --control-port 0`; yields (api port, control port)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.fake_tws", "--port", "0", "--control-port", "0", "--price", "AAPL=150",
        cwd=PROJECT_ROOT, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 20)
        ports = json.loads(line)
        yield ports["port"], ports["control_port"]
    finally:
        if process.returncode is None:
            process.terminate()
        assert await asyncio.wait_for(process.wait(), 10) == 0  # SIGTERM is a clean stop


async def test_control_socket_drives_a_fill(fake_process: tuple[int, int]) -> None:
    port, control_port = fake_process
    control = await asyncio.to_thread(FakeTWSControl, "127.0.0.1", control_port)
    ib = IB()
    try:
        assert await asyncio.to_thread(control.ping)
        await ib.connectAsync("127.0.0.1", port, clientId=4, timeout=5)
        contract = await qualified(ib)
        trade = ib.placeOrder(contract, LimitOrder("BUY", 3, 149.0, orderRef="crash-test"))
        await wait_until(lambda: trade.orderStatus.status == "Submitted", "the resting order")
        await asyncio.to_thread(control.set_price, "AAPL", "148.5")
        await wait_until(lambda: trade.orderStatus.status == "Filled", "the fill the price caused")
        await wait_until(lambda: ib.portfolio(), "the portfolio push")
        orders = await asyncio.to_thread(control.orders)
        assert [(o["order_ref"], o["status"], o["filled"]) for o in orders] == [("crash-test", "Filled", "3")]
        [execution] = await asyncio.to_thread(control.executions)
        assert (execution["symbol"], execution["shares"], execution["price"]) == ("AAPL", "3", "148.5")
        [position] = await asyncio.to_thread(control.positions)
        assert (position["symbol"], position["quantity"]) == ("AAPL", "3")
        assert [r[1] for r in await asyncio.to_thread(control.requests)][:2] == [71, 61]
        assert await asyncio.to_thread(control.connected_client_ids) == [4]
        dropped = asyncio.Event()
        ib.disconnectedEvent += dropped.set
        assert await asyncio.to_thread(control.drop_connections, 4) == 1
        await asyncio.wait_for(dropped.wait(), 5)
        with pytest.raises(ControlError, match="rejection code 999"):
            await asyncio.to_thread(control.reject_next_order, 999)
    finally:
        ib.disconnect()
        control.close()
