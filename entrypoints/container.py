"""The composition root: the one place that chooses and assembles the adapters.

Nothing outside `entrypoints/` imports this module. `create_app` bridges its providers into
Litestar with `Provide`; tests override providers (`container.clock.override(...)`) instead of
patching.
"""

from __future__ import annotations

from decimal import Decimal

from dependency_injector import containers, providers

from adapters.excel import ExcelOrderFileWriter
from adapters.storage import SqlBatchStore, SqlOutbox, SqlScanStore, create_engine_from_url
from adapters.system import RandomIds, SystemClock
from core.publisher import EventPublisher, InMemoryPublisher
from core.service_layer.cloud import CloudDeps, CloudPolicy
from core.sizing import FixedInvestmentSizer
from entrypoints.cloud.activity import Activity
from entrypoints.cloud.auth import load_tokens
from entrypoints.cloud.delivery_hub import DeliveryHub
from entrypoints.cloud.order_files import DeferredOrderFiles, DiskOrderFiles
from entrypoints.cloud.scan_cache import CachedScanStore
from entrypoints.cloud.settings import CloudSettings

SECONDS_PER_HOUR = Decimal(3600)


def make_publisher(redis_url: str | None) -> EventPublisher:
    """Redis pub/sub when a URL is set (several instances), otherwise in-memory (one instance)."""
    if redis_url:
        from adapters.redis_pubsub import RedisPublisher

        return RedisPublisher(redis_url)
    return InMemoryPublisher()


def make_policy(settings: CloudSettings) -> CloudPolicy:
    """Fixed investment per position (the seed's `investment in $`) within the risk limits."""
    from datetime import timedelta

    expiry = timedelta(seconds=float(settings.batch_expiry_hours * SECONDS_PER_HOUR))
    return CloudPolicy(
        FixedInvestmentSizer(settings.investment_per_position),
        settings.account_equity,
        settings.limits,
        batch_expiry=expiry,
    )


class CloudContainer(containers.DeclarativeContainer):
    """Everything the cloud service runs on, built from CloudSettings."""

    settings = providers.Dependency(instance_of=CloudSettings)

    clock = providers.Singleton(SystemClock)
    ids = providers.Singleton(RandomIds)
    instance_id = providers.Singleton(lambda ids: ids.next_id("cloud-"), ids)

    engine = providers.Singleton(create_engine_from_url, settings.provided.database)
    sql_scans = providers.Singleton(SqlScanStore, engine)
    scans = providers.Singleton(CachedScanStore, sql_scans)
    batches = providers.Singleton(SqlBatchStore, engine, clock)
    outbox = providers.Singleton(SqlOutbox, engine, clock)

    publisher = providers.Singleton(make_publisher, settings.provided.redis_url)
    hub = providers.Singleton(
        DeliveryHub, outbox, clock, publisher, instance_id, settings.provided.heartbeat_seconds
    )
    activity = providers.Singleton(Activity)
    disk_files = providers.Singleton(
        DiskOrderFiles,
        settings.provided.files_dir,
        providers.Factory(ExcelOrderFileWriter),
        settings.provided.public_url,
    )
    # Placements answer without waiting for the Excel file: it is written once the cloud is quiet.
    files = providers.Singleton(DeferredOrderFiles, disk_files, activity)
    policy = providers.Singleton(make_policy, settings)
    deps = providers.Singleton(CloudDeps, scans, batches, clock, ids, policy, files, hub)
    tokens = providers.Singleton(load_tokens, settings.provided.api_tokens, settings.provided.data_dir)
