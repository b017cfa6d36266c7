"""The executor's journal: what it received, what it sent, what it heard back, what it still owes.

The executor writes to the journal BEFORE it acts, so that after a crash (kill -9, power loss) it
can tell what it had promised, what it had started and what it had finished:

- batches as received (journaled first, then acknowledged to the cloud), with their state;
- one record per leg: the order it intends at the broker, how far sending it got (`Placement`:
  "sending" is written before the broker call and "sent" after, so a crash in between is
  detectable), the broker's last word on it, its fill;
- every execution applied (the fill de-duplication: an execution id is applied once, ever);
- the status reports not yet acknowledged by the cloud (kept until the cloud says it has them);
- the persisted trading state: a HALT survives restarts until someone resumes trading.

Every write is one call and one transaction (`record_batch`, `commit`, `acknowledge_report`,
`acknowledge_reports`, `set_trading_state`): a step is in the journal entirely or not at all.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

from core.broker_events import Fill
from core.orders import BracketRequest, OrderRequest
from core.values import ZERO, BatchId, OrderRef, TradingState, become, writable_twin


class BatchState(StrEnum):
    """Where a journaled batch is. REJECTED and EXPIRED batches are never placed."""

    RECEIVED = "received"  # journaled and acknowledged; nothing sent yet
    PLACING = "placing"  # some brackets are being (or were) sent
    PLACED = "placed"  # every bracket was decided: sent, or rejected with a reason
    REJECTED = "rejected"  # refused as a whole (malformed, or a different batch under a known id)
    EXPIRED = "expired"  # arrived or waited past its expiry: stale orders are never placed


class LegRole(StrEnum):
    """What a journaled order is for. The first three are the bracket's legs; the others are
    orders the executor adds to protect a position (see `core.service_layer.executor.reconcile`)."""

    ENTRY = "entry"
    TAKE_PROFIT = "take_profit"
    STOP_LOSS = "stop_loss"
    REBUILT_STOP = "rebuilt_stop"  # a stop placed again for the open quantity of a filled entry
    FLATTEN = "flatten"  # a market order closing shares left without a working stop

    @property
    def is_stop(self) -> bool:
        return self in (LegRole.STOP_LOSS, LegRole.REBUILT_STOP)


class Placement(StrEnum):
    """How far sending one order to the broker got. The order of writes is the safety:
    PENDING -> SENDING (journaled before the broker call) -> SENT (after it returned)."""

    PENDING = "pending"  # not sent yet; the risk gate has not passed it yet
    SKIPPED = "skipped"  # never to be sent: rejected by the risk gate, expired, or refused
    SENDING = "sending"  # the broker call was started; after a crash, ask the broker
    SENT = "sent"  # the broker accepted the call
    FAILED = "failed"  # the broker refused the call (BrokerError); not retried blindly


class LegStatus(StrEnum):
    """A leg's status as reported to the cloud (`local_trading_status`)."""

    RECEIVED = "received"
    SUBMITTED = "submitted"
    WORKING = "working"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    ERROR = "error"

    @property
    def is_final(self) -> bool:
        """Nothing more will happen to the order at the broker."""
        return self in (LegStatus.FILLED, LegStatus.CANCELLED, LegStatus.REJECTED)


@dataclass(frozen=True, slots=True)
class BatchOrder:
    """One bracket of a batch, with the price the cloud saw (the risk gate's reference price)."""

    bracket: BracketRequest
    reference_price: Decimal


@dataclass(frozen=True, slots=True)
class JournaledBatch:
    """A batch as received, in the order it was journaled. `reason` says why it is REJECTED or
    EXPIRED (empty otherwise). `seq` is the cloud's delivery sequence number, if it sent one."""

    batch_id: BatchId
    seq: int | None
    content_hash: str
    orders: tuple[BatchOrder, ...]
    received_at: datetime
    expires_at: datetime
    state: BatchState = BatchState.RECEIVED
    reason: str = ""

    def is_expired(self, now: datetime) -> bool:
        """Whether the batch may no longer be placed."""
        return now >= self.expires_at


@dataclass(frozen=True, slots=True)
class LegRecord:
    """One order the executor owns: what it intends at the broker and what became of it.

    `bracket_ref` is the entry's order ref (the bracket the order belongs to); `request` is the
    order as it is (or will be) sent; `status`, `filled` and `avg_price` are the last known.
    """

    order_ref: OrderRef
    batch_id: BatchId
    bracket_ref: OrderRef
    role: LegRole
    request: OrderRequest
    placement: Placement = Placement.PENDING
    status: LegStatus = LegStatus.RECEIVED
    filled: Decimal = ZERO
    avg_price: Decimal = ZERO
    message: str = ""

    def __init__(
        self,
        order_ref: OrderRef,
        batch_id: BatchId,
        bracket_ref: OrderRef,
        role: LegRole,
        request: OrderRequest,
        placement: Placement = Placement.PENDING,
        status: LegStatus = LegStatus.RECEIVED,
        filled: Decimal = ZERO,
        avg_price: Decimal = ZERO,
        message: str = "",
    ) -> None:
        # Written by hand, not generated: several are made per leg and broker event (see
        # `core.values.writable_twin`; `make_leg` costs less still).
        writable: Any = self
        become(writable, _WritableLegRecord)
        writable.order_ref = order_ref
        writable.batch_id = batch_id
        writable.bracket_ref = bracket_ref
        writable.role = role
        writable.request = request
        writable.placement = placement
        writable.status = status
        writable.filled = filled
        writable.avg_price = avg_price
        writable.message = message
        writable.__class__ = LegRecord


@dataclass(frozen=True, slots=True)
class StatusReport:
    """A `local_trading_status` report waiting to reach the cloud. It stays in the journal until
    the cloud acknowledges `status_id`, so reports are not lost while the cloud is away."""

    status_id: str
    batch_id: BatchId
    order_ref: OrderRef
    symbol: str
    status: LegStatus
    created_at: datetime
    filled: Decimal = ZERO
    avg_price: Decimal = ZERO
    message: str = ""
    acked: bool = False

    def __init__(
        self,
        status_id: str,
        batch_id: BatchId,
        order_ref: OrderRef,
        symbol: str,
        status: LegStatus,
        created_at: datetime,
        filled: Decimal = ZERO,
        avg_price: Decimal = ZERO,
        message: str = "",
        acked: bool = False,
    ) -> None:
        # Written by hand, not generated: about ten are made per bracket (see `writable_twin`;
        # `make_report` costs less still).
        writable: Any = self
        become(writable, _WritableStatusReport)
        writable.status_id = status_id
        writable.batch_id = batch_id
        writable.order_ref = order_ref
        writable.symbol = symbol
        writable.status = status
        writable.created_at = created_at
        writable.filled = filled
        writable.avg_price = avg_price
        writable.message = message
        writable.acked = acked
        writable.__class__ = StatusReport


@dataclass(frozen=True, slots=True)
class TradingStateRecord:
    """The persisted kill switch: HALTED stays HALTED across restarts until a resume."""

    state: TradingState = TradingState.ACTIVE
    reason: str = ""
    changed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class JournalStep:
    """Everything one logical step writes, committed in one transaction: batch state changes
    (batch id, state, reason), leg records (inserted, or replaced by order ref), executions
    applied, and status reports to send."""

    batch_states: tuple[tuple[BatchId, BatchState, str], ...] = ()
    legs: tuple[LegRecord, ...] = ()
    fills: tuple[Fill, ...] = ()
    reports: tuple[StatusReport, ...] = ()

    def __init__(
        self,
        batch_states: tuple[tuple[BatchId, BatchState, str], ...] = (),
        legs: tuple[LegRecord, ...] = (),
        fills: tuple[Fill, ...] = (),
        reports: tuple[StatusReport, ...] = (),
    ) -> None:
        # Written by hand, not generated: one is made per broker event (see `writable_twin`).
        writable: Any = self
        become(writable, _WritableJournalStep)
        writable.batch_states = batch_states
        writable.legs = legs
        writable.fills = fills
        writable.reports = reports
        writable.__class__ = JournalStep


_WritableLegRecord = writable_twin(
    LegRecord,
    "order_ref",
    "batch_id",
    "bracket_ref",
    "role",
    "request",
    "placement",
    "status",
    "filled",
    "avg_price",
    "message",
)
_WritableStatusReport = writable_twin(
    StatusReport,
    "status_id",
    "batch_id",
    "order_ref",
    "symbol",
    "status",
    "created_at",
    "filled",
    "avg_price",
    "message",
    "acked",
)
_WritableJournalStep = writable_twin(JournalStep, "batch_states", "legs", "fills", "reports")


_SYNC_FREE_BATCH_STATES = frozenset({BatchState.PLACING, BatchState.PLACED})


def needs_sync(step: JournalStep) -> bool:
    """Whether the step must be on disk (fsync) before the executor goes on.

    A step that only records what the broker already said need not wait for the disk: legs the
    broker accepted (SENT) with their statuses, fills and reports, and a batch moving to PLACING
    or PLACED. Such a commit survives kill -9 at once; lost in a power loss, all of it is read
    back from the broker by reconciliation (orders by orderRef, fills by execution id). Every
    decision the executor makes before or instead of a broker call must be synced: a leg about
    to be sent (SENDING), refused by the gate (SKIPPED) or by the broker (FAILED), a batch
    rejected or expired, and a report of anything but a leg of the same step; lost, such a leg
    could be sent again after it was reported refused."""
    if any(state not in _SYNC_FREE_BATCH_STATES for _, state, _ in step.batch_states):
        return True
    refs = set()
    for leg in step.legs:
        if leg.placement is not Placement.SENT:
            return True
        refs.add(leg.order_ref)
    return any(report.order_ref not in refs for report in step.reports)


def make_leg(
    order_ref: OrderRef,
    batch_id: BatchId,
    bracket_ref: OrderRef,
    role: LegRole,
    request: OrderRequest,
    placement: Placement,
    status: LegStatus,
    filled: Decimal,
    avg_price: Decimal,
    message: str,
) -> LegRecord:
    """`LegRecord(...)` with every field given: the same frozen value, made by a function, which
    costs less to call than the class (whose `__init__` runs in a call of its own)."""
    leg: Any = _WritableLegRecord()
    leg.order_ref = order_ref
    leg.batch_id = batch_id
    leg.bracket_ref = bracket_ref
    leg.role = role
    leg.request = request
    leg.placement = placement
    leg.status = status
    leg.filled = filled
    leg.avg_price = avg_price
    leg.message = message
    leg.__class__ = LegRecord
    return leg  # type: ignore[no-any-return]


def make_report(
    status_id: str,
    batch_id: BatchId,
    order_ref: OrderRef,
    symbol: str,
    status: LegStatus,
    created_at: datetime,
    filled: Decimal,
    avg_price: Decimal,
    message: str,
) -> StatusReport:
    """`StatusReport(...)` with every field given but `acked` (False), made by a function (see
    `make_leg`)."""
    report: Any = _WritableStatusReport()
    report.status_id = status_id
    report.batch_id = batch_id
    report.order_ref = order_ref
    report.symbol = symbol
    report.status = status
    report.created_at = created_at
    report.filled = filled
    report.avg_price = avg_price
    report.message = message
    report.acked = False
    report.__class__ = StatusReport
    return report  # type: ignore[no-any-return]


class RecordOutcome(StrEnum):
    """What `record_batch` did."""

    NEW = "new"  # journaled now: process it
    DUPLICATE = "duplicate"  # already journaled: acknowledge it again, do not process it again


REUSED_STATUS_ID = (
    "a status report id was used twice: the IdGenerator repeats ids across restarts; give the executor "
    "a generator that is unique across runs (uuid-based), or reports would be lost"
)


class DuplicateExecution(Exception):
    """A step tried to apply an execution id the journal has already applied; nothing of the
    step was written. Callers check `has_execution` first; this is the last line of defence."""


class Journal(Protocol):
    """The executor's durable memory. Implementations must make every write atomic (one
    transaction) and durable when the call returns (the SQLite journal: WAL, synchronous=FULL),
    except the acknowledgements of reports (`acknowledge_report(s)`): those must outlive the
    process (kill -9) but may be lost with the machine (power loss), which only means the reports
    are sent again (the cloud stores a repeated report once and acknowledges it again)."""

    def record_batch(
        self, batch: JournaledBatch, legs: Sequence[LegRecord], reports: Sequence[StatusReport]
    ) -> RecordOutcome:
        """Journal a received batch with its leg records and first reports, in one transaction.
        A batch id already journaled is not written again: DUPLICATE."""
        ...

    def commit(self, step: JournalStep) -> None:
        """Write one step atomically. Raises DuplicateExecution (writing nothing) if a fill's
        execution id was applied before, KeyError for a batch state of an unknown batch, and
        ValueError (`REUSED_STATUS_ID`) for a report id already in the journal."""
        ...

    def batch(self, batch_id: BatchId) -> JournaledBatch | None:
        """The journaled batch with this id, or None."""
        ...

    def batches(self, states: Collection[BatchState] | None = None) -> tuple[JournaledBatch, ...]:
        """Every journaled batch (or those in one of `states`), in the order they were journaled."""
        ...

    def legs(self) -> tuple[LegRecord, ...]:
        """Every leg record, in the order they were first journaled."""
        ...

    def leg(self, order_ref: OrderRef) -> LegRecord | None:
        """The leg record with this order ref, or None."""
        ...

    def fills(self) -> tuple[Fill, ...]:
        """Every execution applied, in the order they were applied."""
        ...

    def has_execution(self, exec_id: str) -> bool:
        """Whether this execution id was applied already."""
        ...

    def pending_reports(self) -> tuple[StatusReport, ...]:
        """Status reports the cloud has not acknowledged yet, oldest first."""
        ...

    def acknowledge_report(self, status_id: str) -> bool:
        """Mark a report as received by the cloud; False if no unacknowledged report has this id."""
        ...

    def acknowledge_reports(self, status_ids: Sequence[str]) -> int:
        """Mark many reports as received by the cloud, in ONE transaction (all or none); how many
        were marked now (ids unknown or acknowledged already are skipped, as `acknowledge_report`)."""
        ...

    def last_seq(self) -> int:
        """The highest delivery sequence number journaled (0 when none): sent in `resume`."""
        ...

    def trading_state(self) -> TradingStateRecord:
        """The persisted trading state (ACTIVE when never set)."""
        ...

    def set_trading_state(self, record: TradingStateRecord) -> None:
        """Persist the trading state (the kill switch)."""
        ...

    def close(self) -> None:
        """Release the journal's resources; safe to call twice."""
        ...
