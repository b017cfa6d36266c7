"""Two cloud instances on one PostgreSQL and one Redis: a batch placed on instance A reaches an
executor connected to instance B, and B's statuses reach an observer on A."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from dependency_injector import providers
from sqlalchemy import text
from sqlalchemy.engine import make_url
from websockets.asyncio.client import connect

from adapters.storage import create_engine_from_url
from entrypoints.container import CloudContainer
from tests.contract.sql_databases import POSTGRES_URL, require_postgres
from tests.integration.cloud_server import AUTH, SCAN, Server, running_server, server_settings
from tests.services import require_service

REDIS_URL = os.environ.get("TRADEBRIDGE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
WAIT = 10.0


async def _admin(*statements: str) -> None:
    engine = create_engine_from_url(POSTGRES_URL)
    try:
        async with engine.begin() as connection:
            for statement in statements:
                await connection.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.fixture
def two_servers(tmp_path: Path) -> Iterator[tuple[Server, Server]]:
    require_postgres()
    redis = make_url(REDIS_URL.replace("redis://", "postgresql://", 1))
    require_service("redis", redis.host or "127.0.0.1", redis.port or 6379)
    schema = f"tb_cloud_two_{os.getpid()}"
    asyncio.run(_admin(f"DROP SCHEMA IF EXISTS {schema} CASCADE", f"CREATE SCHEMA {schema}"))
    try:
        with ExitStack() as stack:
            servers = []
            for name in ("a", "b"):
                settings = server_settings(tmp_path / name, database_url=POSTGRES_URL, redis_url=REDIS_URL)
                container = CloudContainer(settings=settings)
                container.engine.override(
                    providers.Singleton(create_engine_from_url, POSTGRES_URL, schema=schema)
                )
                servers.append(stack.enter_context(running_server(settings, container)))
            yield servers[0], servers[1]
    finally:
        asyncio.run(_admin(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))


async def _next(ws: object, event: str) -> dict[str, object]:
    while True:
        frame: dict[str, object] = json.loads(await asyncio.wait_for(ws.recv(), WAIT))  # type: ignore[attr-defined]
        if frame["event"] == event:
            return frame


def test_a_batch_placed_on_one_instance_reaches_an_executor_on_the_other(
    two_servers: tuple[Server, Server],
) -> None:
    a, b = two_servers

    async def scenario() -> None:
        async with (
            connect(b.ws, additional_headers=AUTH) as executor,
            connect(a.ws, additional_headers=AUTH) as observer,
            httpx.AsyncClient(base_url=a.http, headers=AUTH) as http,
        ):
            await _next(executor, "connected")
            await _next(observer, "connected")
            await executor.send(json.dumps({"event": "resume", "data": {"account": "DU-TWO", "last_seq": 0}}))
            await executor.send(json.dumps({"event": "heartbeat", "data": {}}))
            scan = await http.post("/analysis/scans", json=SCAN)
            placed = await http.post(
                "/analysis/orders/place-modified-orders",
                json={"scan_id": scan.json()["scan_id"], "account": "DU-TWO"},
            )
            assert placed.status_code == 201, placed.text
            frame = await _next(executor, "trading_orders_generated")
            data = frame["data"]
            assert isinstance(data, dict) and data["batch_id"] == placed.json()["batch_id"]
            assert frame["seq"] == placed.json()["delivery"]["seqs"][0]
            order = data["orders"][0]
            status = {
                "batch_id": data["batch_id"],
                "order_ref": order["order_ref"],
                "symbol": order["symbol"],
                "status": "submitted",
                "filled": 0,
                "avg_price": 0,
            }
            await executor.send(json.dumps({"event": "local_trading_status", "data": status}))
            seen = await _next(observer, "local_trading_status")
            assert isinstance(seen["data"], dict) and seen["data"]["order_ref"] == order["order_ref"]
            batch = (await http.get(f"/analysis/orders/batches/{data['batch_id']}")).json()
            assert any(leg["status"] == "submitted" for leg in batch["legs"])

    asyncio.run(scenario())
