"""Translation between approved batches and their rows: `batches`, `batch_lines`, `batch_legs`.

Reading a batch back rebuilds the `ApprovedBatch` (which re-validates its leg keys) and checks it
against the content hash stored with it, so a row changed by hand is caught, not delivered.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.storage.tables import batch_legs, batch_lines, batches
from core.batches import ApprovedBatch, ApprovedLine, Leg
from core.stores import LegState, LegStatus, StoredBatch, StoreError
from core.values import ZERO, BatchId, OrderRef, OrderType, Side, writable_twin

LEG_ORDER = (Leg.ENTRY, Leg.TAKE_PROFIT, Leg.STOP_LOSS)


def batch_row(
    batch: ApprovedBatch, content_hash: str, accounts: Sequence[str], payload_text: str, now: datetime
) -> dict[str, Any]:
    return {
        "batch_id": batch.batch_id, "scan_id": batch.scan_id, "approved_at": batch.approved_at,
        "expires_at": batch.expires_at, "content_hash": content_hash,
        "accounts": json.dumps(list(accounts)), "payload": payload_text, "created_at": now,
    }


def line_rows(batch: ApprovedBatch) -> list[dict[str, Any]]:
    # `_value_` is what the enums' `.value` property reads, without the property's cost.
    batch_id = batch.batch_id
    return [
        {
            "batch_id": batch_id, "position": position, "symbol": line.symbol, "side": line.side._value_,
            "quantity": line.quantity, "entry_price": line.entry_price, "stop_loss": line.stop_loss,
            "take_profit": line.take_profit, "target_date": line.target_date, "strategy": line.strategy,
            "win_rate": line.win_rate, "adx": line.adx, "order_type": line.order_type._value_,
        }
        for position, line in enumerate(batch.legs)
    ]


_ENTRY, _TAKE_PROFIT, _STOP_LOSS = (leg.value for leg in LEG_ORDER)
_PENDING_TEXT = LegState.PENDING.value


def leg_rows(batch: ApprovedBatch) -> list[dict[str, Any]]:
    # Every leg starts pending with nothing filled. Written out per leg, not a template merged with
    # what differs: a dict display with constant keys is built in one step (three per line).
    batch_id = batch.batch_id
    rows = []
    position = 0
    for line in batch.legs:
        symbol = line.symbol
        for order_ref, leg in (
            (line.entry_ref, _ENTRY), (line.take_profit_ref, _TAKE_PROFIT), (line.stop_loss_ref, _STOP_LOSS)
        ):
            rows.append({
                "batch_id": batch_id, "status": _PENDING_TEXT, "filled": ZERO, "avg_price": ZERO,
                "message": "", "updated_at": None, "order_ref": order_ref, "position": position,
                "symbol": symbol, "leg": leg,
            })
            position += 1
    return rows


def stored_batch(
    batch: ApprovedBatch,
    content_hash: str,
    accounts: tuple[str, ...],
    created_at: datetime,
    payload: Mapping[str, object],
) -> StoredBatch:
    """The StoredBatch that `load_batch` would read back right after `batch` was stored with these
    values (times in UTC, every leg pending), built without reading it back."""
    if not (_is_utc(batch.approved_at) and _is_utc(batch.expires_at)):
        batch = replace(batch, approved_at=batch.approved_at.astimezone(UTC),
                        expires_at=batch.expires_at.astimezone(UTC))
    batch_id = batch.batch_id
    legs = []
    for line in batch.legs:
        symbol = line.symbol
        legs.append(_pending_leg(batch_id, line.entry_ref, symbol, Leg.ENTRY))
        legs.append(_pending_leg(batch_id, line.take_profit_ref, symbol, Leg.TAKE_PROFIT))
        legs.append(_pending_leg(batch_id, line.stop_loss_ref, symbol, Leg.STOP_LOSS))
    return StoredBatch(batch, content_hash, accounts, created_at.astimezone(UTC), tuple(legs), payload)


_WritableLegStatus = writable_twin(
    LegStatus,
    "batch_id", "order_ref", "symbol", "leg", "status", "filled", "avg_price", "message", "updated_at",
)
_PENDING = LegState.PENDING


def _pending_leg(batch_id: BatchId, order_ref: OrderRef, symbol: str, leg: Leg) -> LegStatus:
    # `LegStatus(batch_id, order_ref, symbol, leg)` (pending, nothing filled, no report yet), made
    # as a blank twin filled with plain slot writes: a placement makes three per line, before the
    # push, and the generated frozen __init__ costs three times as much (see `writable_twin`).
    status: Any = _WritableLegStatus()
    status.batch_id = batch_id
    status.order_ref = order_ref
    status.symbol = symbol
    status.leg = leg
    status.status = _PENDING
    status.filled = ZERO
    status.avg_price = ZERO
    status.message = ""
    status.updated_at = None
    status.__class__ = LegStatus
    return status  # type: ignore[no-any-return]


def _is_utc(moment: datetime) -> bool:
    return moment.tzinfo is UTC


def leg_status_from_row(row: Any) -> LegStatus:
    return LegStatus(
        BatchId(row.batch_id), OrderRef(row.order_ref), row.symbol, Leg(row.leg), LegState(row.status),
        row.filled, row.avg_price, row.message, row.updated_at,
    )


async def load_batch(connection: AsyncConnection, batch_id: str) -> StoredBatch | None:
    """The stored batch with its legs' latest statuses, or None."""
    head = (await connection.execute(select(batches).where(batches.c.batch_id == batch_id))).one_or_none()
    if head is None:
        return None
    lines = (await connection.execute(
        select(batch_lines).where(batch_lines.c.batch_id == batch_id).order_by(batch_lines.c.position)
    )).all()
    legs = [leg_status_from_row(row) for row in (await connection.execute(
        select(batch_legs).where(batch_legs.c.batch_id == batch_id).order_by(batch_legs.c.position)
    )).all()]
    refs = {(leg.symbol, leg.leg): leg.order_ref for leg in legs}
    approved = ApprovedBatch(
        BatchId(head.batch_id), head.scan_id, head.approved_at, head.expires_at,
        tuple(_line(row, refs) for row in lines),
    )
    if approved.content_hash != head.content_hash:
        raise StoreError(
            f"batch {batch_id} as stored does not match its content hash: its rows were changed outside "
            f"tradebridge. Do not deliver it; restore the database from a backup or place a new batch"
        )
    payload: Mapping[str, object] = json.loads(head.payload)
    return StoredBatch(approved, head.content_hash, tuple(json.loads(head.accounts)), head.created_at,
                       tuple(legs), payload)


def _line(row: Any, refs: Mapping[tuple[str, Leg], OrderRef]) -> ApprovedLine:
    return ApprovedLine(
        row.symbol, Side(row.side), row.quantity, row.entry_price, row.stop_loss, row.take_profit,
        row.target_date, row.strategy, row.win_rate, row.adx,
        entry_ref=refs[(row.symbol, Leg.ENTRY)], take_profit_ref=refs[(row.symbol, Leg.TAKE_PROFIT)],
        stop_loss_ref=refs[(row.symbol, Leg.STOP_LOSS)], order_type=OrderType(row.order_type),
    )
