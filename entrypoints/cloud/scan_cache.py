"""A read-through cache in front of the ScanStore: a stored scan never changes, so reading it again
(every preview and every placement reads its scan) can skip the database."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime

from core.scans import ScanRow
from core.stores import ScanStore, ScanSummary, StoredScan


class CachedScanStore:
    """ScanStore that keeps the `max_scans` most recently read scans in memory. Listings always
    go to the store (they change with every new scan)."""

    def __init__(self, inner: ScanStore, max_scans: int = 256) -> None:
        self._inner = inner
        self._max = max_scans
        self._scans: OrderedDict[int, StoredScan] = OrderedDict()

    async def add_scan(self, name: str, rows: Sequence[ScanRow], created_at: datetime) -> int:
        return await self._inner.add_scan(name, rows, created_at)

    async def get_scan(self, scan_id: int) -> StoredScan | None:
        scan = self._scans.get(scan_id)
        if scan is not None:
            self._scans.move_to_end(scan_id)
            return scan
        scan = await self._inner.get_scan(scan_id)
        if scan is not None:  # an unknown id is not cached: the scan may be stored by another instance
            self._scans[scan_id] = scan
            if len(self._scans) > self._max:
                self._scans.popitem(last=False)
        return scan

    async def list_scans(self, limit: int = 50, offset: int = 0) -> list[ScanSummary]:
        return await self._inner.list_scans(limit, offset)
