"""The ScanStore port over SQL: a scan and its rows, exact to the last digit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.storage.database import read_transaction, write_transaction
from adapters.storage.tables import scan_rows, scans
from core.scans import ScanRow
from core.stores import ScanSummary, StoredScan
from core.values import Side

MAX_LIST_LIMIT = 1000


class SqlScanStore:
    """The ScanStore port (core.stores) on SQLite or PostgreSQL."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add_scan(self, name: str, rows: Sequence[ScanRow], created_at: datetime) -> int:
        async with write_transaction(self._engine) as connection:
            result = await connection.execute(
                scans.insert().values(name=name, created_at=created_at, row_count=len(rows))
                .returning(scans.c.scan_id)
            )
            scan_id = int(result.scalar_one())
            if rows:
                values = [_row(scan_id, position, row) for position, row in enumerate(rows)]
                await connection.execute(scan_rows.insert(), values)
        return scan_id

    async def get_scan(self, scan_id: int) -> StoredScan | None:
        async with read_transaction(self._engine) as connection:
            head = (await connection.execute(select(scans).where(scans.c.scan_id == scan_id))).one_or_none()
            if head is None:
                return None
            rows = (await connection.execute(
                select(scan_rows).where(scan_rows.c.scan_id == scan_id).order_by(scan_rows.c.position)
            )).all()
        return StoredScan(head.scan_id, head.name, head.created_at, tuple(_scan_row(row) for row in rows))

    async def list_scans(self, limit: int = 50, offset: int = 0) -> list[ScanSummary]:
        if not 1 <= limit <= MAX_LIST_LIMIT or offset < 0:
            raise ValueError(f"limit must be 1 to {MAX_LIST_LIMIT} and offset 0 or more, got {limit} "
                             f"and {offset}")
        query = select(scans).order_by(scans.c.scan_id.desc()).limit(limit).offset(offset)
        async with read_transaction(self._engine) as connection:
            found = (await connection.execute(query)).all()
        return [ScanSummary(row.scan_id, row.name, row.created_at, row.row_count) for row in found]


def _row(scan_id: int, position: int, row: ScanRow) -> dict[str, Any]:
    return {
        "scan_id": scan_id, "position": position, "symbol": row.symbol, "side": row.side.value,
        "current_price": row.current_price, "stop_loss": row.stop_loss, "take_profit": row.take_profit,
        "target_date": row.target_date, "win_rate": row.win_rate, "adx": row.adx, "strategy": row.strategy,
        "confidence": row.confidence, "atr": row.atr,
    }


def _scan_row(row: Any) -> ScanRow:
    return ScanRow(
        row.symbol, row.current_price, Side(row.side), row.stop_loss, row.take_profit, row.target_date,
        row.win_rate, row.adx, row.strategy, row.confidence, row.atr,
    )
