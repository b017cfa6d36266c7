"""Small builders of approved batches and their payloads for the storage tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal

from core.batches import ApprovedBatch, ApprovedLine, Leg, leg_ref
from core.clock import EPOCH
from core.values import BatchId, Side

DAY = timedelta(hours=24)


def line(batch_id: str, symbol: str, quantity: str = "10", side: Side = Side.BUY) -> ApprovedLine:
    price = Decimal("100.25")
    stop, target = (Decimal("95.125"), Decimal("110.5")) if side is Side.BUY else (Decimal(105), Decimal(90))
    return ApprovedLine(
        symbol, side, Decimal(quantity), price, stop, target, date(2026, 3, 31), "momentum",
        Decimal("65.50"), Decimal("27.3"),
        entry_ref=leg_ref(batch_id, symbol, Leg.ENTRY),
        take_profit_ref=leg_ref(batch_id, symbol, Leg.TAKE_PROFIT),
        stop_loss_ref=leg_ref(batch_id, symbol, Leg.STOP_LOSS),
    )


def make_batch(
    batch_id: str,
    symbols: Sequence[str] = ("AAPL", "MSFT"),
    approved_at: datetime = EPOCH,
    expires_in: timedelta = DAY,
    scan_id: int = 1,
) -> ApprovedBatch:
    legs = tuple(line(batch_id, symbol) for symbol in symbols)
    return ApprovedBatch(BatchId(batch_id), scan_id, approved_at, approved_at + expires_in, legs)


def payload_of(batch: ApprovedBatch) -> dict[str, object]:
    """A trading_orders_generated payload, with Decimals and dates as the use case may pass them."""
    return {
        "batch_id": batch.batch_id,
        "scan_id": batch.scan_id,
        "orders": [
            {"order_ref": item.entry_ref, "symbol": item.symbol, "side": item.side.value,
             "quantity": item.quantity, "entry_price": item.entry_price, "stop_loss": item.stop_loss,
             "take_profit": item.take_profit, "target_date": item.target_date, "strategy": item.strategy}
            for item in batch.legs
        ],
        "file": {"name": f"orders_{batch.batch_id}.xlsx"},
        "expires_at": batch.expires_at,
    }
