"""The app factory: `create_app(settings)` returns the Litestar app of the cloud service.

The lifespan migrates the database to the newest schema, starts the delivery hub (cross-instance
subscriptions, heartbeats) and the background writer of the order files, and on shutdown closes
the sockets, writes the order files still queued, and closes the publisher and the engine.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar
from litestar.config.allowed_hosts import AllowedHostsConfig
from litestar.config.cors import CORSConfig
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from adapters.storage import migrate
from entrypoints.cloud.auth import auth_middleware
from entrypoints.cloud.errors import EXCEPTION_HANDLERS
from entrypoints.cloud.health import health
from entrypoints.cloud.orders import OrderController
from entrypoints.cloud.rate_limit import rate_limit_middleware
from entrypoints.cloud.responses import DecimalNumberResponse
from entrypoints.cloud.scans import ScanController
from entrypoints.cloud.settings import CloudSettings
from entrypoints.cloud.websocket import listen_events
from entrypoints.container import CloudContainer


def _provide(provider: Any) -> Provide:
    # dependency-injector has no Litestar integration: each provider becomes a Litestar dependency.
    def dependency() -> Any:
        return provider()

    return Provide(dependency, use_cache=True, sync_to_thread=False)


def create_app(settings: CloudSettings, container: CloudContainer | None = None) -> Litestar:
    """The cloud service's app, assembled by `container` (a new CloudContainer by default)."""
    container = container or CloudContainer(settings=settings)
    tokens = container.tokens()
    settings.files_dir.mkdir(parents=True, exist_ok=True)

    @asynccontextmanager
    async def lifespan(_app: Litestar) -> AsyncIterator[None]:
        engine = container.engine()
        await migrate(engine)
        hub = container.hub()
        await hub.start()
        files = container.files()
        files.start()
        # Everything built so far (the app, the ORM, the migrations' modules) lives as long as the
        # process: kept out of the collector's full passes, which would otherwise walk it again
        # and again, tens of milliseconds each, in the middle of requests.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await hub.stop()
            await files.stop()
            await container.publisher().close()
            await engine.dispose()

    rate_limit = rate_limit_middleware(settings.rate_limit_per_minute, exclude=["^/health$"])
    return Litestar(
        route_handlers=[ScanController, OrderController, health, listen_events],
        dependencies={
            "deps": _provide(container.deps),
            "hub": _provide(container.hub),
            "files": _provide(container.files),
            "activity": _provide(container.activity),
            "tokens": Provide(lambda: tokens, use_cache=True, sync_to_thread=False),
        },
        middleware=[rate_limit, auth_middleware(tokens)],
        exception_handlers=EXCEPTION_HANDLERS,
        response_class=DecimalNumberResponse,
        request_max_body_size=settings.max_body_bytes,
        allowed_hosts=AllowedHostsConfig(allowed_hosts=list(settings.allowed_hosts))
        if settings.allowed_hosts
        else None,
        cors_config=CORSConfig(allow_origins=list(settings.cors_origins)) if settings.cors_origins else None,
        openapi_config=OpenAPIConfig(
            title="tradebridge cloud",
            version="1",
            path="/schema",
            components=Components(security_schemes={"bearer": SecurityScheme(type="http", scheme="bearer")}),
            security=[{"bearer": []}],
        ),
        lifespan=[lifespan],
        logging_config=None,  # `tradebridge serve` configures structured logs itself
    )
