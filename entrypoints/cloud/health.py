"""GET /health: database reachable, executors connected, outbox backlog. Open to all."""

from __future__ import annotations

import logging

import msgspec
from litestar import get
from litestar.di import NamedDependency

from core.service_layer.cloud import CloudDeps
from entrypoints.cloud.delivery_hub import DeliveryHub
from entrypoints.cloud.responses import DecimalNumberResponse
from entrypoints.cloud.schemas import HealthOut

logger = logging.getLogger(__name__)


@get("/health", tags=["health"], summary="Service health (no token needed)")
async def health(
    deps: NamedDependency[CloudDeps], hub: NamedDependency[DeliveryHub]
) -> DecimalNumberResponse:
    """200 with status ok, or 503 with status degraded when the database cannot be reached."""
    try:
        backlog: int | None = await hub.outbox.backlog(deps.clock.now())
        database = "ok"
    except Exception as error:
        logger.error("health: the database is not reachable: %s", error)
        backlog, database = None, "unreachable"
    answer = HealthOut(
        status="ok" if database == "ok" else "degraded",
        database=database,
        outbox_backlog=backlog,
        connected_clients=len(hub.peers),
        executors=sorted(hub.executors),
        executor_status={
            account: msgspec.to_builtins(state) for account, state in hub.executor_states.items()
        },
        instance=hub.instance_id,
    )
    return DecimalNumberResponse(answer, status_code=200 if database == "ok" else 503)
