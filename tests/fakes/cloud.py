"""Fakes of the cloud use cases' own ports (order files, delivery notifier) and a CloudDeps builder."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from core.clock import ManualClock, SequentialIds
from core.order_file import OrderFileRow
from core.risk import RiskLimits
from core.service_layer.cloud import CloudDeps, CloudPolicy, Delivery
from core.sizing import FixedInvestmentSizer
from core.stores import PlacedBatch
from tests.fakes.stores import MemoryBatchStore, MemoryOutbox, MemoryScanStore


class MemoryOrderFiles:
    """OrderFiles that keeps the rows; `fail_with` makes every save raise."""

    def __init__(self) -> None:
        self.saved: dict[str, list[OrderFileRow]] = {}
        self.fail_with: Exception | None = None

    def download_url(self, name: str) -> str:
        return f"/analysis/orders/files/{name}"

    async def save(self, name: str, rows: Sequence[OrderFileRow]) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.saved[name] = list(rows)


class RecordingNotifier:
    """DeliveryNotifier that records what it was told and says `queued`."""

    def __init__(self) -> None:
        self.placed: list[PlacedBatch] = []

    async def batch_placed(self, placed: PlacedBatch) -> Delivery:
        self.placed.append(placed)
        return Delivery("queued", (), tuple(entry.seq for entry in placed.entries))


@dataclass
class CloudWorld:
    """Every fake, wired into CloudDeps."""

    clock: ManualClock = field(default_factory=ManualClock)
    scans: MemoryScanStore = field(default_factory=MemoryScanStore)
    outbox: MemoryOutbox = field(default_factory=MemoryOutbox)
    files: MemoryOrderFiles = field(default_factory=MemoryOrderFiles)
    notifier: RecordingNotifier = field(default_factory=RecordingNotifier)
    limits: RiskLimits = field(default_factory=RiskLimits)
    expiry: timedelta = timedelta(hours=24)
    batches: MemoryBatchStore = field(init=False)
    deps: CloudDeps = field(init=False)

    def __post_init__(self) -> None:
        self.batches = MemoryBatchStore(self.outbox, self.clock)
        policy = CloudPolicy(
            FixedInvestmentSizer(Decimal(10_000)), Decimal(100_000), self.limits, batch_expiry=self.expiry
        )
        self.deps = CloudDeps(
            self.scans, self.batches, self.clock, SequentialIds(), policy, self.files, self.notifier
        )
