"""Level `basic`: connectivity, read-only (safe against any TWS)."""

from __future__ import annotations

from datetime import datetime

import pytest

from adapters.ibkr import IbkrBroker, TWSConnection
from core.broker_events import ConnectionEvent, ConnectionState
from tests.integration.levels.conftest import Target

pytestmark = pytest.mark.level_basic


async def test_the_seed_connection_connects_and_tells_the_time(target: Target) -> None:
    connection = TWSConnection(target.config)
    assert await connection.connect(), connection.last_error
    try:
        assert connection.is_connected()
        now = await connection.request_current_time()
        assert isinstance(now, datetime) and now.tzinfo is not None
        assert connection.accounts
    finally:
        connection.disconnect()
    assert not connection.is_connected()


async def test_the_broker_connects_and_reads_the_account(target: Target) -> None:
    broker = IbkrBroker(target.config, backoff=None)
    events: list[object] = []
    broker.subscribe(events.append)
    await broker.connect()
    try:
        assert broker.account in broker.connection.accounts
        summary = await broker.account_summary()
        assert summary.account == broker.account and summary.net_liquidation > 0
        for position in await broker.positions():
            assert position.quantity != 0 and position.symbol
        await broker.executions()  # answers (possibly nothing today)
    finally:
        await broker.disconnect()
    states = [e.state for e in events if isinstance(e, ConnectionEvent)]
    assert states == [ConnectionState.CONNECTED, ConnectionState.DISCONNECTED]
