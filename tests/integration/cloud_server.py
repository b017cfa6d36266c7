"""A real uvicorn server running the cloud app on 127.0.0.1 (a free port), in a background thread."""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from dependency_injector import providers
from sqlalchemy import text

from adapters.storage import create_engine_from_url
from entrypoints.cloud.app import create_app
from entrypoints.cloud.server import uvicorn_config
from entrypoints.cloud.settings import CloudSettings
from entrypoints.container import CloudContainer

TOKEN = "test-token-1"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

SCAN = {
    "name": "morning",
    "rows": [
        {
            "symbol": "AAPL",
            "current_price": 200,
            "side": "Buy",
            "stop_loss": 190,
            "take_profit": 220,
            "target_date": "2026-03-31",
            "win_rate": 65,
            "adx": 27.5,
            "strategy": "momentum",
        },
        {"symbol": "MSFT", "current_price": "400.10", "side": "Sell", "stop_loss": 420, "take_profit": 380},
    ],
}


@dataclass(frozen=True)
class Server:
    """Where the server listens."""

    host_port: str
    container: CloudContainer

    @property
    def http(self) -> str:
        return f"http://{self.host_port}"

    @property
    def ws(self) -> str:
        return f"ws://{self.host_port}/listen_events"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_server(
    settings: CloudSettings, container: CloudContainer | None = None, **tls: str
) -> Iterator[Server]:
    """Start the app under uvicorn (`tls`: ssl_certfile, ssl_keyfile), wait until it listens,
    stop it afterwards."""
    container = container or CloudContainer(settings=settings)
    app = create_app(settings, container)
    port = free_port()
    server = uvicorn.Server(
        uvicorn_config(app, "127.0.0.1", port, log_level="warning", access_log=False, **tls)
    )
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield Server(f"127.0.0.1:{port}", container)
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def server_settings(data_dir: object, **overrides: object) -> CloudSettings:
    values: dict[str, object] = {
        "data_dir": data_dir,
        "api_tokens": (TOKEN,),
        "rate_limit_per_minute": 1_000_000,
    }
    values.update(overrides)
    return CloudSettings(**values)  # type: ignore[arg-type]


DATABASES = ("sqlite", "postgresql")


@contextmanager
def server_on(kind: str, data_dir: Path, **overrides: object) -> Iterator[Server]:
    """A running server on a fresh database of `kind`: a SQLite file in `data_dir`, or a new
    PostgreSQL schema (dropped afterwards; skipped or failed per the services policy if there is
    no server)."""
    settings = server_settings(data_dir, **overrides)
    if kind == "sqlite":
        with running_server(settings) as server:
            yield server
        return
    from tests.contract.sql_databases import POSTGRES_URL, require_postgres

    require_postgres()
    schema = f"tb_cloud_{os.getpid()}_{next(_schemas)}"
    asyncio.run(_admin(POSTGRES_URL, f"DROP SCHEMA IF EXISTS {schema} CASCADE", f"CREATE SCHEMA {schema}"))
    try:
        settings = server_settings(data_dir, database_url=POSTGRES_URL, **overrides)
        container = CloudContainer(settings=settings)
        container.engine.override(providers.Singleton(create_engine_from_url, POSTGRES_URL, schema=schema))
        with running_server(settings, container) as server:
            yield server
    finally:
        asyncio.run(_admin(POSTGRES_URL, f"DROP SCHEMA IF EXISTS {schema} CASCADE"))


_schemas = itertools.count(1)


async def _admin(url: str, *statements: str) -> None:
    engine = create_engine_from_url(url)
    try:
        async with engine.begin() as connection:
            for statement in statements:
                await connection.execute(text(statement))
    finally:
        await engine.dispose()
