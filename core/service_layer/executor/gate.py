"""The executor's own risk gate: every bracket's entry passes the executor's limits and trading
state before any broker sees it, whatever the cloud sent.

Only the entry opens risk; the exits are children that close what the entry opened, so they are
checked by the bracket's own rules (`BracketRequest`), not by the exposure limits. A refused
bracket never reaches the broker: its three legs are journaled as `rejected`, never to be sent,
and reported with every reason the gate gave. A bracket of an expired batch is refused the same
way with the reason `expired` (a batch may expire while it waits, e.g. during a halt).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from core.journal import BatchOrder, JournaledBatch, JournalStep, LegRecord, LegStatus, Placement
from core.risk import RiskGate, RiskVerdict
from core.service_layer.executor.intake import EXPIRED
from core.service_layer.executor.records import Reporter


def check_bracket(
    gate: RiskGate, order: BatchOrder, positions: Mapping[str, Decimal], now: datetime
) -> RiskVerdict:
    """The gate's verdict on the bracket's entry, with the cloud's price as the reference.
    An approval counts toward the gate's orders-per-second window."""
    return gate.check(order.bracket.entry, order.reference_price, positions, now)


def expiry_reason(batch: JournaledBatch, now: datetime) -> str | None:
    """Why the batch's brackets may not be placed any more, or None while they may."""
    if not batch.is_expired(now):
        return None
    return (f"{EXPIRED}: batch {batch.batch_id} expired at {batch.expires_at.isoformat()} before this "
            f"bracket was placed ({now.isoformat()}); stale orders are never placed: approve the scan again")


def rejection_step(legs: Sequence[LegRecord], reasons: Sequence[str], reporter: Reporter) -> JournalStep:
    """Journal the bracket's legs as rejected (never to be sent) and report each with every reason."""
    message = "rejected by the executor's risk gate: " + "; ".join(reasons)
    if len(reasons) == 1 and reasons[0].startswith(EXPIRED):
        message = reasons[0]
    rejected = tuple(
        replace(leg, placement=Placement.SKIPPED, status=LegStatus.REJECTED, message=message) for leg in legs
    )
    return JournalStep(legs=rejected, reports=tuple(reporter.report(leg) for leg in rejected))
