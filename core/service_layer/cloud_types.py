"""The commands, results, errors and ports of the cloud use cases (`core.service_layer.cloud`).

Kept apart from the use cases so that the edges (HTTP schemas, the WebSocket hub, the composition
root) can name them without reading the use cases' logic.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Protocol

from core.order_file import OrderFileRow
from core.plans import Modification, Preview
from core.ports import Clock, IdGenerator
from core.risk import RiskLimits, RiskState
from core.scans import ScanRowError
from core.sizing import Sizer
from core.stores import ALL_ACCOUNTS, BatchStore, OutboxEntry, PlacedBatch, ScanStore, StoredBatch

DEFAULT_BATCH_EXPIRY = timedelta(hours=24)


class UnknownScan(LookupError):
    """No scan has this id (HTTP 404)."""

    def __init__(self, scan_id: int) -> None:
        super().__init__(f"there is no scan {scan_id}; list the scans with GET /analysis/scans")
        self.scan_id = scan_id


class InvalidScan(ValueError):
    """A scan that cannot be stored: every problem of every row, each with its row and field."""

    def __init__(self, errors: Sequence[ScanRowError], message: str | None = None) -> None:
        self.errors = tuple(errors)
        text = message or f"{len(self.errors)} problem(s) in the scan rows; fix them and send the scan again"
        super().__init__(text + "".join(f"\n- {error}" for error in self.errors[:20]))


@dataclass(frozen=True, slots=True)
class CloudPolicy:
    """How the cloud sizes and checks orders: the sizer, the account's equity, the risk limits,
    the positions it assumes (none: the executor checks against the real ones) and how long an
    approved batch may still be placed."""

    sizer: Sizer
    equity: Decimal
    limits: RiskLimits = field(default_factory=RiskLimits)
    risk_state: RiskState = field(default_factory=RiskState)
    batch_expiry: timedelta = DEFAULT_BATCH_EXPIRY

    def __post_init__(self) -> None:
        if self.batch_expiry <= timedelta(0):
            raise ValueError(f"the batch expiry must be above 0, got {self.batch_expiry}")


class OrderFiles(Protocol):
    """Where order files are kept and how they are downloaded."""

    def download_url(self, name: str) -> str:
        """The URL path a person downloads the file `name` from."""
        ...

    async def save(self, name: str, rows: Sequence[OrderFileRow]) -> None:
        """Write the order file `name` with `rows` (replacing any file of that name)."""
        ...


@dataclass(frozen=True, slots=True)
class Delivery:
    """What became of a placed batch right away: `delivered` (sent to connected executors, not
    yet acknowledged), `queued` (in the outbox until an executor connects) or `already_placed`
    (an idempotent repeat: the first request's delivery stands)."""

    state: str
    executors: tuple[str, ...] = ()
    seqs: tuple[int, ...] = ()


class DeliveryNotifier(Protocol):
    """Tells the connected executors (on any instance) that outbox entries are waiting."""

    async def batch_placed(self, placed: PlacedBatch) -> Delivery:
        """Push the new entries to the executors connected here, tell the other instances, and
        say what was done. Must not raise for a delivery failure: the outbox keeps the entries."""
        ...


class PreviewMemo:
    """The previews of the most recently used scans, each with the policy it was made under.

    A stored scan never changes, and a plan's risk check leaves out the one rule that depends on
    the time (the order rate: `core.plans` checks with `max_orders_per_second=None`), so under one
    policy a scan's preview is always the same. Placing reads it here instead of sizing and
    checking every line again. (Should plan checks ever depend on the time, this must go.)"""

    def __init__(self, max_scans: int = 64) -> None:
        self._max = max_scans
        self._previews: OrderedDict[int, tuple[CloudPolicy, Preview]] = OrderedDict()

    def get(self, scan_id: int, policy: CloudPolicy) -> Preview | None:
        """The preview of `scan_id` made under this very policy, or None."""
        found = self._previews.get(scan_id)
        if found is None or found[0] is not policy:
            return None
        self._previews.move_to_end(scan_id)
        return found[1]

    def put(self, scan_id: int, policy: CloudPolicy, preview: Preview) -> None:
        self._previews[scan_id] = (policy, preview)
        self._previews.move_to_end(scan_id)
        if len(self._previews) > self._max:
            self._previews.popitem(last=False)


@dataclass(frozen=True, slots=True)
class CloudDeps:
    """The ports the use cases work over, assembled by the composition root (and the memo of
    previews the use cases keep for them)."""

    scans: ScanStore
    batches: BatchStore
    clock: Clock
    ids: IdGenerator
    policy: CloudPolicy
    files: OrderFiles
    notifier: DeliveryNotifier
    previews: PreviewMemo = field(default_factory=PreviewMemo)


@dataclass(frozen=True, slots=True)
class PlaceOrders:
    """The command of `place-modified-orders`: which scan, the per-symbol size overrides, the
    target account (ALL_ACCOUNTS: every executor) and the client's Idempotency-Key if any."""

    scan_id: int
    modifications: tuple[Modification, ...] = ()
    account: str = ALL_ACCOUNTS
    idempotency_key: str | None = None

    @property
    def request_hash(self) -> str:
        """sha256 of the request's meaning: the same body in any spelling gives the same hash."""
        canonical = {
            "scan_id": self.scan_id,
            "account": self.account,
            "modified_orders": [
                [m.symbol.strip().upper(), format(m.position_size.normalize(), "f")]
                for m in self.modifications
            ],
        }
        return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class PlaceResult:
    """A placed (or idempotently repeated) batch, its outbox entries, its file and its delivery."""

    batch: StoredBatch
    entries: tuple[OutboxEntry, ...]
    created: bool
    delivery: Delivery
    file_name: str
    download_url: str
    file_error: str | None = None


@dataclass(frozen=True, slots=True)
class StatusReport:
    """One `local_trading_status` report of one leg, as an executor sends it."""

    batch_id: str
    order_ref: str
    status: str
    filled: Decimal
    avg_price: Decimal
    message: str = ""
