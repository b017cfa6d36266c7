"""`local_trading_statuses` through the real server (uvicorn, SQLite and PostgreSQL): a frame of
statuses is stored, answered with ONE `statuses_acknowledged` listing the stored ids (refused ones
with their reason), and each stored status is shown to observers as a `local_trading_status`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection

from tests.integration.cloud_server import AUTH, DATABASES, Server, server_on
from tests.integration.test_cloud_websocket import open_client, place, receive, resume


@pytest.fixture(scope="module", params=DATABASES)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with server_on(request.param, tmp_path_factory.mktemp("cloud-status-batches")) as running:
        yield running


@pytest.fixture
async def http(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.http, headers=AUTH, timeout=10) as client:
        yield client


def status(batch_id: str, order_ref: str, state: str, status_id: str, **more: Any) -> dict[str, Any]:
    return {"batch_id": batch_id, "order_ref": order_ref, "symbol": "AAPL", "status": state,
            "status_id": status_id, **more}


async def legs_of(http: httpx.AsyncClient, batch_id: str) -> dict[str, dict[str, Any]]:
    answer = await http.get(f"/analysis/orders/batches/{batch_id}")
    return {leg["order_ref"]: leg for leg in answer.json()["legs"]}


async def placed(
    server: Server, http: httpx.AsyncClient, account: str
) -> tuple[ClientConnection, str, dict[str, str]]:
    ws = await resume(server, account, 0)
    batch_id = await place(http, account, 3)
    order = (await receive(ws))["data"]["orders"][0]
    return ws, batch_id, order["legs"]


async def test_a_frame_of_statuses_is_stored_acknowledged_once_and_shown_to_observers(
    server: Server, http: httpx.AsyncClient
) -> None:
    account = "DU-BATCH"
    observer = await open_client(server)
    ws, batch_id, legs = await placed(server, http, account)
    entry, take_profit, stop_loss = legs["entry"], legs["take_profit"], legs["stop_loss"]
    statuses = [
        status(batch_id, entry, "submitted", "s1"),
        status(batch_id, take_profit, "submitted", "s2"),
        status(batch_id, entry, "filled", "s3", filled=3, avg_price=200.25, message="filled at the open"),
        status(batch_id, stop_loss, "working", "s4"),
        status(batch_id, take_profit, "working", "s5"),
        status(batch_id, entry, "working", "s6"),  # late: stored in the history, the leg stays filled
    ]
    await ws.send(json.dumps({"event": "local_trading_statuses", "data": {"statuses": statuses}}))
    answer = await receive(ws)
    assert answer == {"event": "statuses_acknowledged",
                      "data": {"status_ids": ["s1", "s2", "s3", "s4", "s5", "s6"], "refused": {}}}
    shown = [await receive(observer) for _ in statuses]
    assert [frame["event"] for frame in shown] == ["local_trading_status"] * len(statuses)
    assert [frame["data"]["status_id"] for frame in shown] == ["s1", "s2", "s3", "s4", "s5", "s6"]
    assert {frame["data"]["account"] for frame in shown} == {account}
    stored = await legs_of(http, batch_id)
    assert (stored[entry]["status"], stored[entry]["filled"]) == ("filled", 3)
    assert stored[entry]["avg_price"] == 200.25
    assert stored[entry]["message"] == "filled at the open"
    assert (stored[take_profit]["status"], stored[stop_loss]["status"]) == ("working", "working")
    # The same frame again (a resend after a reconnect) is acknowledged and changes nothing.
    await ws.send(json.dumps({"event": "local_trading_statuses", "data": {"statuses": statuses}}))
    assert (await receive(ws))["data"]["status_ids"] == ["s1", "s2", "s3", "s4", "s5", "s6"]
    assert await legs_of(http, batch_id) == stored
    await ws.close()
    await observer.close()


async def test_refused_statuses_are_named_and_the_others_stored(
    server: Server, http: httpx.AsyncClient
) -> None:
    ws, batch_id, legs = await placed(server, http, "DU-REFUSE")
    statuses = [
        status(batch_id, "tb:nope:AAPL:E", "working", "bad-leg"),
        status(batch_id, legs["entry"], "working", "good"),
        status(batch_id, legs["stop_loss"], "working", "negative", filled=-1),
    ]
    await ws.send(json.dumps({"event": "local_trading_statuses", "data": {"statuses": statuses}}))
    answer = await receive(ws)
    assert answer["event"] == "statuses_acknowledged"
    assert answer["data"]["status_ids"] == ["good"]
    assert set(answer["data"]["refused"]) == {"bad-leg", "negative"}
    assert "tb:nope:AAPL:E" in answer["data"]["refused"]["bad-leg"]
    assert "0 or more" in answer["data"]["refused"]["negative"]
    error = await receive(ws)
    assert error["event"] == "error" and "2 of 3 statuses were not stored" in error["data"]["message"]
    stored = await legs_of(http, batch_id)
    assert stored[legs["entry"]]["status"] == "working" and stored[legs["stop_loss"]]["status"] == "pending"
    await ws.close()


async def test_a_frame_of_statuses_needs_a_resumed_executor_and_a_valid_shape(server: Server) -> None:
    observer = await open_client(server)
    frame = {"event": "local_trading_statuses", "data": {"statuses": [status("B", "r", "working", "s")]}}
    await observer.send(json.dumps(frame))
    error = await receive(observer)
    assert error["event"] == "error" and "send resume" in error["data"]["message"]
    wrong = {"event": "local_trading_statuses", "data": {"statuses": [{"batch_id": 1}]}}
    await observer.send(json.dumps(wrong))
    error = await receive(observer)
    assert error["event"] == "error" and "local_trading_statuses" in error["data"]["message"]
    await observer.close()
