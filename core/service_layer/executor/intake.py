"""Intake: a `trading_orders_generated` batch is journaled first, then acknowledged.

`receive` is the only door for batches (split in `admit` then `record` for the coordinator, which
journals an accepted batch's brackets `sending` in the same transaction). It writes the batch to
the journal (with one record per leg and a `received` report per leg) before it returns the
sequence number to acknowledge, so an acknowledged batch is never lost. A batch id already in the
journal is acknowledged again and not processed again. A batch past its expiry is journaled as
EXPIRED, its legs reported `rejected` with the reason `expired`, and never placed. A malformed
batch is journaled as REJECTED with every problem, reported, and acknowledged (resending it would
not make it valid).

The wire types live in `adapters/wire` (msgspec); the core only needs their shape, which the
Protocols below describe, so `TradingOrdersGenerated` is accepted as it is.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from core.batches import Leg, PlanError, check_batch_id, leg_ref
from core.journal import (
    BatchOrder,
    BatchState,
    Journal,
    JournaledBatch,
    LegRecord,
    LegRole,
    LegStatus,
    Placement,
    RecordOutcome,
    StatusReport,
    make_leg,
)
from core.orders import BracketRequest, OrderRequest
from core.service_layer.executor.records import Reporter
from core.service_layer.executor.settings import ExecutorSettings
from core.values import ZERO, BatchId, OrderRef, OrderType, Side, TimeInForce

EXPIRED = "expired"
# The wire carries IB's spellings ("MKT"); the order file's words ("Market") are accepted too.
_ORDER_TYPES = {
    **{t.value: t for t in OrderType}, "MARKET": OrderType.MARKET, "LIMIT": OrderType.LIMIT,
    "STOP": OrderType.STOP, "STOP LIMIT": OrderType.STOP_LIMIT,
}


class IncomingLegs(Protocol):
    """The three leg keys of an order, when the cloud names them."""

    @property
    def entry(self) -> str: ...
    @property
    def take_profit(self) -> str: ...
    @property
    def stop_loss(self) -> str: ...


class IncomingOrder(Protocol):
    """One order of a batch as it arrives (`adapters.wire.messages.WireOrder`)."""

    @property
    def order_ref(self) -> str: ...
    @property
    def symbol(self) -> str: ...
    @property
    def side(self) -> str: ...
    @property
    def quantity(self) -> Decimal: ...
    @property
    def order_type(self) -> str: ...
    @property
    def entry_price(self) -> Decimal: ...
    @property
    def stop_loss(self) -> Decimal: ...
    @property
    def take_profit(self) -> Decimal: ...
    @property
    def legs(self) -> IncomingLegs | None: ...


class IncomingBatch(Protocol):
    """A batch as it arrives (`adapters.wire.messages.TradingOrdersGenerated`)."""

    @property
    def batch_id(self) -> str: ...
    @property
    def scan_id(self) -> int: ...
    @property
    def orders(self) -> Sequence[IncomingOrder]: ...
    @property
    def approved_at(self) -> str | None: ...
    @property
    def expires_at(self) -> str | None: ...
    @property
    def content_hash(self) -> str | None: ...


class IntakeOutcome(StrEnum):
    """What became of a received batch."""

    ACCEPTED = "accepted"  # journaled; to be placed
    DUPLICATE = "duplicate"  # already journaled: acknowledged again, not processed again
    EXPIRED = "expired"  # journaled as expired; never placed
    REJECTED = "rejected"  # journaled as rejected (malformed); never placed


@dataclass(frozen=True, slots=True)
class IntakeResult:
    """The sequence number to acknowledge (None when the frame had none), and what happened."""

    ack_seq: int | None
    outcome: IntakeOutcome
    batch_id: str
    message: str = ""


@dataclass(frozen=True, slots=True)
class Admission:
    """What `receive` journals for a batch, before it is written (`admit`), so that a caller may
    add to it first (the coordinator journals an accepted batch's brackets `sending` in the same
    transaction). `batch` is None when there is nothing to write (a duplicate, or no usable id)."""

    result: IntakeResult
    batch: JournaledBatch | None = None
    legs: tuple[LegRecord, ...] = ()
    reports: tuple[StatusReport, ...] = ()


def receive(
    journal: Journal, reporter: Reporter, settings: ExecutorSettings, batch: IncomingBatch, seq: int | None
) -> IntakeResult:
    """Journal the batch, then return what to acknowledge. See the module docstring."""
    return record(journal, admit(journal, reporter, settings, batch, seq))


def admit(
    journal: Journal, reporter: Reporter, settings: ExecutorSettings, batch: IncomingBatch, seq: int | None
) -> Admission:
    """Everything `receive` decides about the batch, written by `record`."""
    now = reporter.now()
    try:
        batch_id = check_batch_id(batch.batch_id)
    except PlanError as error:
        # Without a usable id there is nothing to journal it under; acknowledging still stops the
        # cloud from resending a batch that can never be valid.
        return Admission(IntakeResult(seq, IntakeOutcome.REJECTED, batch.batch_id, f"batch refused: {error}"))
    known = journal.batch(batch_id)
    if known is not None:
        return Admission(_duplicate(known, batch, seq))
    problems: list[str] = []
    orders = _orders(batch, problems)
    expires_at = _expiry(batch, settings, now, problems)
    content_hash = batch.content_hash or _hash(batch)
    journaled = JournaledBatch(batch_id, seq, content_hash, orders, now, expires_at)
    if problems:
        reason = f"batch {batch_id} refused: " + "; ".join(problems)
        journaled = _with_state(journaled, BatchState.REJECTED, reason)
        reports = [_order_report(reporter, batch_id, o, reason) for o in batch.orders]
        return _admission(journaled, [], reports, IntakeOutcome.REJECTED, reason)
    legs = [leg for order in orders for leg in _leg_records(batch_id, order.bracket)]
    if journaled.is_expired(now):
        reason = (f"{EXPIRED}: batch {batch_id} expired at {expires_at.isoformat()} and was received at "
                  f"{now.isoformat()}; stale orders are never placed: approve the scan again")
        journaled = _with_state(journaled, BatchState.EXPIRED, reason)
        legs = [_skip(leg, reason) for leg in legs]
        reports = [reporter.report(leg, at=now) for leg in legs]
        return _admission(journaled, legs, reports, IntakeOutcome.EXPIRED, reason)
    # The legs' `received` reports carry the batch's time of receipt: one clock reading for the
    # event, whose text is made once (`Reporter.report`), not one per leg (60 a 20-order batch).
    reports = [reporter.report(leg, at=now) for leg in legs]
    return _admission(journaled, legs, reports, IntakeOutcome.ACCEPTED, "")


def record(journal: Journal, admission: Admission) -> IntakeResult:
    """Write what `admit` decided (one transaction), then return what to acknowledge."""
    batch = admission.batch
    if batch is None:
        return admission.result
    if journal.record_batch(batch, admission.legs, admission.reports) is RecordOutcome.DUPLICATE:
        return IntakeResult(batch.seq, IntakeOutcome.DUPLICATE, batch.batch_id, "already journaled")
    return admission.result


def bracket_of(batch_id: str, order: IncomingOrder) -> BracketRequest:
    """The wire order as a bracket with its deterministic refs (the order's own `legs` when the
    cloud sent them, else `core.batches.leg_ref`). Raises ValueError saying what is wrong."""
    side = Side.parse(order.side)
    entry_type = _ORDER_TYPES.get(order.order_type.strip().upper())
    if entry_type is None:
        raise ValueError(f"{order.symbol}: order type {order.order_type!r} is not one of "
                         f"{', '.join(t.value for t in OrderType)} (or Market, Limit, Stop, Stop Limit)")
    if order.legs is not None:
        refs = (OrderRef(order.legs.entry), OrderRef(order.legs.take_profit), OrderRef(order.legs.stop_loss))
    else:
        refs = tuple(leg_ref(batch_id, order.symbol, leg) for leg in Leg)  # type: ignore[assignment]
    entry_ref, tp_ref, sl_ref = refs
    if order.order_ref and order.order_ref != entry_ref:
        raise ValueError(f"{order.symbol}: order_ref {order.order_ref!r} differs from its entry leg "
                         f"{entry_ref!r}; send the entry's key as order_ref")
    oca = entry_ref.rsplit(":", 1)[0]
    limit = order.entry_price if entry_type.needs_limit_price else None
    stop = order.entry_price if entry_type.needs_stop_price else None
    exit_side = side.opposite
    return BracketRequest(
        OrderRequest(entry_ref, order.symbol, side, order.quantity, entry_type, limit, stop, TimeInForce.DAY),
        OrderRequest(tp_ref, order.symbol, exit_side, order.quantity, OrderType.LIMIT,
                     limit_price=order.take_profit, parent_ref=entry_ref, oca_group=oca),
        OrderRequest(sl_ref, order.symbol, exit_side, order.quantity, OrderType.STOP,
                     stop_price=order.stop_loss, parent_ref=entry_ref, oca_group=oca),
    )


def _orders(batch: IncomingBatch, problems: list[str]) -> tuple[BatchOrder, ...]:
    orders: list[BatchOrder] = []
    for order in batch.orders:
        try:
            orders.append(BatchOrder(bracket_of(batch.batch_id, order), order.entry_price))
        except ValueError as error:  # PlanError is a ValueError
            problems.append(str(error))
    if not batch.orders:
        problems.append("it has no orders")
    refs = Counter(leg.order_ref for item in orders for leg in item.bracket.legs)
    repeated = sorted(ref for ref, times in refs.items() if times > 1)
    problems += [f"order ref {ref} appears more than once (one bracket per symbol)" for ref in repeated]
    return tuple(orders)


def _expiry(batch: IncomingBatch, settings: ExecutorSettings, now: datetime, problems: list[str]) -> datetime:
    approved_at = _time(batch.approved_at, "approved_at", problems)
    expires_at = _time(batch.expires_at, "expires_at", problems)
    return expires_at or (approved_at or now) + settings.default_expiry


def _time(text: str | None, name: str, problems: list[str]) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        problems.append(f"{name} {text!r} is not an ISO-8601 time")
        return None
    if value.tzinfo is None:
        problems.append(f"{name} {text!r} has no time zone; send it in UTC (…Z or +00:00)")
        return None
    return value


def _hash(batch: IncomingBatch) -> str:
    """sha256 of the orders as received, for batches that arrive without the cloud's hash."""
    canonical = {
        "batch_id": batch.batch_id, "scan_id": batch.scan_id, "expires_at": batch.expires_at,
        "orders": [
            [o.order_ref, o.symbol, o.side, str(o.quantity), o.order_type, str(o.entry_price),
             str(o.stop_loss), str(o.take_profit)]
            for o in batch.orders
        ],
    }
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


_ROLES = (LegRole.ENTRY, LegRole.TAKE_PROFIT, LegRole.STOP_LOSS)


def _leg_records(batch_id: BatchId, bracket: BracketRequest) -> list[LegRecord]:
    entry_ref = bracket.entry.order_ref
    pending, received = Placement.PENDING, LegStatus.RECEIVED
    return [make_leg(leg.order_ref, batch_id, entry_ref, role, leg, pending, received, ZERO, ZERO, "")
            for leg, role in zip(bracket.legs, _ROLES, strict=True)]


def _skip(leg: LegRecord, reason: str) -> LegRecord:
    return LegRecord(leg.order_ref, leg.batch_id, leg.bracket_ref, leg.role, leg.request,
                     Placement.SKIPPED, LegStatus.REJECTED, message=reason)


def _with_state(batch: JournaledBatch, state: BatchState, reason: str) -> JournaledBatch:
    return JournaledBatch(batch.batch_id, batch.seq, batch.content_hash, batch.orders, batch.received_at,
                          batch.expires_at, state, reason)


def _order_report(reporter: Reporter, batch_id: BatchId, order: IncomingOrder, reason: str) -> StatusReport:
    ref = OrderRef(order.order_ref or f"{batch_id}:{order.symbol}")
    return reporter.notice(batch_id, ref, order.symbol, LegStatus.REJECTED, reason)


def _admission(
    batch: JournaledBatch, legs: list[LegRecord], reports: list[StatusReport], outcome: IntakeOutcome,
    message: str,
) -> Admission:
    return Admission(IntakeResult(batch.seq, outcome, batch.batch_id, message), batch, tuple(legs),
                     tuple(reports))


def _duplicate(known: JournaledBatch, batch: IncomingBatch, seq: int | None) -> IntakeResult:
    message = f"batch {known.batch_id} is already in the journal ({known.state.value}); not processed again"
    if batch.content_hash and batch.content_hash != known.content_hash:
        message += (f"; WARNING: its content differs (hash {batch.content_hash[:12]} vs journaled "
                    f"{known.content_hash[:12]}): a batch id must never be reused, approve it under a new id")
    return IntakeResult(seq, IntakeOutcome.DUPLICATE, known.batch_id, message)
