"""`/listen_events` through a real uvicorn server and a real WebSocket client: the handshake
check (1008), resume after a disconnect with batches placed while offline (nothing lost, order
kept, none twice), ack semantics, status round trip, observers, one executor per account,
bad frames, the frame cap and heartbeats."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from adapters.wire.messages import MAX_FRAME_BYTES
from tests.integration.cloud_server import (
    AUTH,
    DATABASES,
    SCAN,
    TOKEN,
    Server,
    running_server,
    server_on,
    server_settings,
)

WAIT = 10.0


@pytest.fixture(scope="module", params=DATABASES)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with server_on(request.param, tmp_path_factory.mktemp("cloud-ws")) as running:
        yield running


@pytest.fixture
async def http(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.http, headers=AUTH, timeout=10) as client:
        yield client


async def receive(ws: ClientConnection) -> dict[str, Any]:
    """The next frame that is not a heartbeat."""
    while True:
        frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
        if frame["event"] != "heartbeat":
            return frame


async def open_client(server: Server, **kwargs: Any) -> ClientConnection:
    ws = await connect(server.ws, additional_headers=AUTH, **kwargs)
    assert (await receive(ws))["event"] == "connected"
    return ws


async def resume(server: Server, account: str, last_seq: int) -> ClientConnection:
    ws = await open_client(server)
    await ws.send(json.dumps({"event": "resume", "data": {"account": account, "last_seq": last_seq}}))
    return ws


async def nothing_more(ws: ClientConnection) -> None:
    """Frames are answered in order, so a probe's error answer proves nothing else was pending."""
    await ws.send(json.dumps({"event": "no_such_event", "data": {}}))
    frame = await receive(ws)
    assert frame["event"] == "error", f"unexpected frame {frame}"


async def place(http: httpx.AsyncClient, account: str, size: int) -> str:
    scan = await http.post("/analysis/scans", json=SCAN)
    answer = await http.post(
        "/analysis/orders/place-modified-orders",
        json={
            "scan_id": scan.json()["scan_id"],
            "account": account,
            "modified_orders": [
                {"symbol": "AAPL", "position_size": size},
                {"symbol": "MSFT", "position_size": 0},
            ],
        },
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["batch_id"])


@pytest.mark.parametrize(
    "url_suffix, headers", [("", {}), ("?token=wrong", {}), ("", {"Authorization": "Bearer wrong"})]
)
async def test_the_handshake_without_an_accepted_token_closes_with_1008(
    server: Server, url_suffix: str, headers: dict[str, str]
) -> None:
    async with connect(server.ws + url_suffix, additional_headers=headers) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), WAIT)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


async def test_the_token_may_come_in_the_query(server: Server) -> None:
    async with connect(f"{server.ws}?token={TOKEN}") as ws:
        frame = await receive(ws)
    assert frame["event"] == "connected" and frame["data"]["client_id"]


async def test_resume_after_a_disconnect_gets_every_offline_batch_in_order_once(
    server: Server, http: httpx.AsyncClient
) -> None:
    account = "DU-RESUME"
    ws = await resume(server, account, 0)
    first = await place(http, account, 1)
    frame = await receive(ws)
    assert frame["event"] == "trading_orders_generated" and frame["data"]["batch_id"] == first
    held = frame["seq"]
    await ws.send(json.dumps({"event": "ack", "data": {"seq": held}}))
    await ws.close()
    offline = [await place(http, account, size) for size in (2, 3, 4)]
    ws = await resume(server, account, held)
    resent = [await receive(ws) for _ in offline]
    assert [f["data"]["batch_id"] for f in resent] == offline
    seqs = [f["seq"] for f in resent]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3 and seqs[0] > held
    assert [f["data"]["orders"][0]["quantity"] for f in resent] == [2, 3, 4]
    live = await place(http, account, 5)
    frame = await receive(ws)
    assert frame["data"]["batch_id"] == live and frame["seq"] > seqs[-1]
    await nothing_more(ws)
    await ws.close()


async def test_an_unacknowledged_batch_is_resent_and_an_acknowledged_one_is_not(
    server: Server, http: httpx.AsyncClient
) -> None:
    account = "DU-ACK"
    ws = await resume(server, account, 0)
    batch = await place(http, account, 1)
    seq = (await receive(ws))["seq"]
    await ws.close()  # gone before acknowledging
    ws = await resume(server, account, 0)
    again = await receive(ws)
    assert again["data"]["batch_id"] == batch and again["seq"] == seq
    await ws.send(json.dumps({"event": "ack", "data": {"seq": seq}}))
    await nothing_more(ws)  # also makes sure the ack was handled before we go
    await ws.close()
    ws = await resume(server, account, 0)
    await nothing_more(ws)
    await ws.close()


async def test_a_status_is_stored_acknowledged_and_shown_to_observers(
    server: Server, http: httpx.AsyncClient
) -> None:
    account = "DU-STATUS"
    observer = await open_client(server)
    ws = await resume(server, account, 0)
    batch_id = await place(http, account, 3)
    order = (await receive(ws))["data"]["orders"][0]
    status = {
        "batch_id": batch_id,
        "order_ref": order["order_ref"],
        "symbol": "AAPL",
        "status": "filled",
        "filled": 3,
        "avg_price": 200.25,
        "message": "filled at the open",
    }
    await ws.send(json.dumps({"event": "local_trading_status", "data": status}))
    acknowledged = await receive(ws)
    assert acknowledged["event"] == "status_acknowledged" and acknowledged["data"]["status"] == "filled"
    seen = await receive(observer)
    assert seen["event"] == "local_trading_status" and seen["data"]["order_ref"] == order["order_ref"]
    assert seen["data"]["account"] == account
    legs = (await http.get(f"/analysis/orders/batches/{batch_id}")).json()["legs"]
    entry = next(leg for leg in legs if leg["order_ref"] == order["order_ref"])
    assert (entry["status"], entry["filled"], entry["avg_price"], entry["message"]) == (
        "filled",
        3,
        200.25,
        "filled at the open",
    )
    await ws.send(json.dumps({"event": "local_trading_status", "data": {**status, "order_ref": "tb:x:Y:E"}}))
    error = await receive(ws)
    assert error["event"] == "error" and "tb:x:Y:E" in error["data"]["message"]
    executor_status = {
        "account": account,
        "broker_connected": True,
        "trading_state": "ACTIVE",
        "open_orders": 2,
        "positions": 1,
    }
    await ws.send(json.dumps({"event": "executor_status", "data": executor_status}))
    assert (await receive(observer))["data"] == executor_status
    health = (await http.get("/health")).json()
    assert account in health["executors"] and health["executor_status"][account]["open_orders"] == 2
    await ws.close()
    await observer.close()


async def test_one_live_executor_per_account(server: Server) -> None:
    first = await resume(server, "DU-ONE", 0)
    await nothing_more(first)
    second = await resume(server, "DU-ONE", 0)
    error = await receive(second)
    assert error["event"] == "error" and error["data"]["code"] == "executor_conflict"
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(second.recv(), WAIT)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4009
    assert "already has a live executor" in closed.value.rcvd.reason
    await nothing_more(first)  # the first is untouched
    await first.close()


async def test_bad_frames_get_an_error_and_the_connection_stays(server: Server) -> None:
    ws = await open_client(server)
    for bad in (
        "not json",
        "[]",
        json.dumps({"event": "ack", "data": {"seq": "x"}}),
        json.dumps({"event": "ack", "data": {"seq": 1}}),  # not an executor yet
        json.dumps({"event": "resume", "data": {"account": "*", "last_seq": 0}}),
        json.dumps({"event": "resume", "data": {"account": "DU-BAD", "last_seq": 10**9}}),
        json.dumps({"event": "local_trading_status", "data": {"batch_id": "b"}}),
    ):
        await ws.send(bad)
        frame = await receive(ws)
        assert frame["event"] == "error" and frame["data"]["message"], bad
    await ws.close()


async def test_a_frame_above_the_cap_is_refused(server: Server) -> None:
    ws = await open_client(server, max_size=None)
    await ws.send("x" * (MAX_FRAME_BYTES + 10))
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), WAIT)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


def test_heartbeats_are_sent_and_a_silent_peer_is_dropped(tmp_path: Path) -> None:
    async def scenario(server: Server) -> None:
        async with connect(server.ws, additional_headers=AUTH) as ws:
            events = []
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    events.append(json.loads(await asyncio.wait_for(ws.recv(), WAIT))["event"])
            assert events[0] == "connected" and "heartbeat" in events
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4008

    with running_server(server_settings(tmp_path, heartbeat_seconds=0.2)) as fast:
        asyncio.run(scenario(fast))
