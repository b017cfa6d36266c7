"""The cloud service's use cases: take in a scan, preview it, place a batch, record a leg's status.

Plain async functions over the ports of `core.stores` plus two small ports of their own (the order
files and the delivery notifier). They hold every decision the HTTP and WebSocket edges need; the
edges only translate. Placing follows ARCHITECTURE.md: the batch, its legs, its outbox entries and
its idempotency record are stored in ONE `BatchStore.place_batch` call before anything is sent.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from core.batches import ApprovedBatch, PlanError
from core.order_file import MARKET, OrderFileError, OrderFileRow
from core.plans import Preview, apply_modifications, approve, build_preview
from core.ports import Clock
from core.scans import parse_scan_rows
from core.service_layer.cloud_types import (
    CloudDeps,
    CloudPolicy,
    Delivery,
    DeliveryNotifier,
    InvalidScan,
    OrderFiles,
    PlaceOrders,
    PlaceResult,
    PreviewMemo,
    StatusReport,
    UnknownScan,
)
from core.stores import LegReport, LegState, LegStatus, ScanStore, StoreError
from core.values import writable_twin

logger = logging.getLogger(__name__)

MAX_SCAN_ROWS = 5_000


def order_file_name(batch_id: str) -> str:
    """The order file of a batch: one name per batch, so a repeat or a re-download finds it."""
    return f"orders_{batch_id}.xlsx"


async def add_scan(
    scans: ScanStore, clock: Clock, name: str | None, raw_rows: Sequence[Mapping[str, object]]
) -> int:
    """Validate the rows (every problem of every row is reported) and store the scan; its id.
    (It needs only the scan store and the clock, so `tradebridge scans import` can call it too.)"""
    if not raw_rows:
        raise InvalidScan(
            (),
            "a scan needs at least one row; send rows: [{symbol, current_price, side, "
            "stop_loss, take_profit, ...}]",
        )
    if len(raw_rows) > MAX_SCAN_ROWS:
        raise InvalidScan((), f"a scan holds at most {MAX_SCAN_ROWS} rows, got {len(raw_rows)}; split it")
    parsed = parse_scan_rows(raw_rows)
    if not parsed.ok:
        raise InvalidScan(parsed.errors)
    now = clock.now()
    scan_name = (name or "").strip() or f"scan of {now:%Y-%m-%d %H:%M:%S} UTC"
    scan_id = await scans.add_scan(scan_name, parsed.rows, now)
    logger.info("scan stored", extra={"scan_id": scan_id, "rows": len(parsed.rows)})
    return scan_id


async def preview_scan(deps: CloudDeps, scan_id: int) -> Preview:
    """The sized order lines of a scan with their risk verdicts (UnknownScan if none such)."""
    policy = deps.policy
    known = deps.previews.get(scan_id, policy)
    if known is not None:
        return known
    scan = await deps.scans.get_scan(scan_id)
    if scan is None:
        raise UnknownScan(scan_id)
    preview = build_preview(
        scan_id, scan.rows, policy.sizer, policy.equity, policy.limits, policy.risk_state, deps.clock.now()
    )
    deps.previews.put(scan_id, policy, preview)
    return preview


async def place_modified_orders(deps: CloudDeps, command: PlaceOrders) -> PlaceResult:
    """Apply the modifications, re-check risk, approve, store everything in one transaction, then
    push to the executors and hand the order file to `deps.files` (the cloud's adapter only queues
    it, to be written when the cloud is quiet: the answer does not wait for the workbook). The
    result's file_error says why the file could not be written or queued. PlanError says what to
    change; UnknownScan, IdempotencyConflict and StoreError come from the stores."""
    preview = await preview_scan(deps, command.scan_id)
    now = deps.clock.now()
    policy = deps.policy
    # Without modifications the re-check would repeat the preview's own check (same lines, limits
    # and state; the time plays no part in a plan's check): its result is the preview.
    modified = (
        apply_modifications(preview, command.modifications, policy.limits, policy.risk_state, now)
        if command.modifications
        else preview
    )
    batch = approve(modified, deps.ids.next_id(), now, now + policy.batch_expiry)
    name = order_file_name(batch.batch_id)
    payload = trading_orders_payload(batch, name, deps.files.download_url(name), command.account)
    placed = await deps.batches.place_batch(
        batch,
        [command.account],
        payload,
        command.idempotency_key,
        command.request_hash if command.idempotency_key else None,
    )
    stored = placed.batch
    name = order_file_name(stored.batch_id)
    if not placed.created:
        logger.info("idempotent repeat", extra={"batch_id": stored.batch_id, "key": command.idempotency_key})
        return PlaceResult(
            stored, placed.entries, False, Delivery("already_placed"), name, deps.files.download_url(name)
        )
    # Pushed first: the executors wait for it; the log line and the order file can wait for them.
    delivery = await deps.notifier.batch_placed(placed)
    if logger.isEnabledFor(logging.INFO):
        logger.info(
            "batch placed",
            extra={
                "batch_id": stored.batch_id,
                "scan_id": stored.scan_id,
                "orders": len(stored.batch.legs),
                "account": command.account,
                "seqs": [entry.seq for entry in placed.entries],
            },
        )
    file_error = await write_order_file(deps.files, stored.batch)
    return PlaceResult(
        stored, placed.entries, True, delivery, name, deps.files.download_url(name), file_error
    )


async def write_order_file(files: OrderFiles, batch: ApprovedBatch) -> str | None:
    """Write (or queue, as the files adapter does it) the batch's order file; None, or what went
    wrong (the batch stands either way, and the file can be generated again from the stored batch)."""
    try:
        await files.save(order_file_name(batch.batch_id), order_file_rows(batch))
    except (OrderFileError, OSError, ValueError) as error:
        logger.error("order file not written", extra={"batch_id": batch.batch_id, "error": str(error)})
        return f"the order file could not be written ({error}); download it again later to regenerate it"
    return None


async def record_status(deps: CloudDeps, report: StatusReport) -> LegStatus:
    """Store one leg's status report and return the leg's latest status. ValueError for an
    unknown status or a negative quantity or price; UnknownOrderRef for a leg no batch has."""
    status = LegState.parse(report.status)
    if report.filled < 0 or report.avg_price < 0:
        raise ValueError(f"filled ({report.filled}) and avg_price ({report.avg_price}) must be 0 or more")
    leg = await deps.batches.record_leg_status(
        report.batch_id,
        report.order_ref,
        status,
        report.filled,
        report.avg_price,
        report.message,
        deps.clock.now(),
    )
    logger.info(
        "leg status",
        extra={
            "batch_id": report.batch_id,
            "order_ref": report.order_ref,
            "status": status.value,
            "latest": leg.status.value,
            "filled": str(leg.filled),
        },
    )
    return leg


async def record_statuses(
    deps: CloudDeps, reports: Sequence[StatusReport]
) -> list[LegStatus | ValueError | StoreError]:
    """Store many legs' status reports in ONE store transaction (a `local_trading_statuses`
    frame). Per report, in order: the leg's latest status after it, or why it was refused (a
    ValueError for an unknown status or a negative number, UnknownOrderRef for a leg no batch has);
    a refused report does not keep the others from being stored."""
    now = deps.clock.now()
    parse = LegState.parse
    problems: dict[int, ValueError] = {}  # by position: the reports refused before the store
    valid: list[tuple[str, LegReport]] = []
    for position, report in enumerate(reports):
        try:
            status = parse(report.status)
            filled, avg_price = report.filled, report.avg_price
            if filled < 0 or avg_price < 0:
                raise ValueError(
                    f"leg {report.order_ref}: filled ({filled}) and avg_price ({avg_price}) must be 0 or more"
                )
        except ValueError as problem:
            problems[position] = problem
            continue
        valid.append((report.batch_id, _leg_report(report.order_ref, status, filled, avg_price,
                                                   report.message, now)))
    stored = await deps.batches.record_leg_statuses(valid) if valid else []
    results: list[LegStatus | ValueError | StoreError] = list(stored)
    for position, reason in problems.items():  # in position order: each lands where it was
        results.insert(position, reason)
    refused = [outcome for outcome in results if not isinstance(outcome, LegStatus)]
    for refusal in refused:
        logger.warning("leg status refused", extra={"error": str(refusal)})
    logger.info("leg statuses", extra={"reports": len(reports), "refused": len(refused)})
    return results


# A frame of statuses makes a LegReport per status: the generated __init__ of the frozen dataclass
# writes each field through object.__setattr__, the twin plain slot writes (see
# core.values.writable_twin; it checks at import that these are LegReport's fields, in order).
_WritableLegReport = writable_twin(
    LegReport, "order_ref", "status", "filled", "avg_price", "message", "reported_at"
)


def _leg_report(
    order_ref: str, status: LegState, filled: Decimal, avg_price: Decimal, message: str,
    reported_at: datetime,
) -> LegReport:
    """`LegReport(OrderRef(order_ref), ...)`, an ordinary frozen LegReport."""
    made: Any = _WritableLegReport()
    made.order_ref = order_ref
    made.status = status
    made.filled = filled
    made.avg_price = avg_price
    made.message = message
    made.reported_at = reported_at
    made.__class__ = LegReport
    report: LegReport = made
    return report


def order_file_rows(batch: ApprovedBatch) -> list[OrderFileRow]:
    """The batch as rows of the order file, in batch order."""
    return [
        OrderFileRow(
            line.symbol,
            line.entry_price,
            line.investment,
            line.side,
            MARKET,
            line.quantity,
            line.stop_loss,
            line.take_profit,
            line.target_date,
            line.win_rate,
            line.adx,
            line.strategy,
        )
        for line in batch.legs
    ]


def trading_orders_payload(
    batch: ApprovedBatch, file_name: str, download_url: str, account: str
) -> dict[str, object]:
    """The data of `trading_orders_generated` (INTERFACES.md), as the outbox stores it."""
    # `_value_` is what the enums' `.value` property reads, without the property's cost.
    orders = [
        {
            "order_ref": line.entry_ref,
            "symbol": line.symbol,
            "side": line.side._value_,
            "quantity": line.quantity,
            "order_type": line.order_type._value_,
            "entry_price": line.entry_price,
            "stop_loss": line.stop_loss,
            "take_profit": line.take_profit,
            "target_date": line.target_date.isoformat() if line.target_date else None,
            "strategy": line.strategy,
            "legs": {
                "entry": line.entry_ref,
                "take_profit": line.take_profit_ref,
                "stop_loss": line.stop_loss_ref,
            },
        }
        for line in batch.legs
    ]
    return {
        "batch_id": batch.batch_id,
        "scan_id": batch.scan_id,
        "orders": orders,
        "file": {"name": file_name, "download_url": download_url},
        "approved_at": batch.approved_at.isoformat(),
        "expires_at": batch.expires_at.isoformat(),
        "content_hash": batch.content_hash,
        "account": account,
    }


__all__ = [
    "CloudDeps",
    "CloudPolicy",
    "Delivery",
    "DeliveryNotifier",
    "InvalidScan",
    "OrderFiles",
    "PlaceOrders",
    "PlaceResult",
    "PlanError",
    "PreviewMemo",
    "StatusReport",
    "UnknownScan",
    "add_scan",
    "order_file_name",
    "order_file_rows",
    "place_modified_orders",
    "preview_scan",
    "record_status",
    "record_statuses",
    "trading_orders_payload",
    "write_order_file",
]
