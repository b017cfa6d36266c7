"""In-memory fakes of the cloud's storage ports (ScanStore, BatchStore, Outbox), for unit tests.

They keep the promises of `core.stores` that the use cases rely on: ids and sequence numbers
increase, a batch with its legs and outbox entries is stored whole or not at all, idempotency keys
return the first batch or raise IdempotencyConflict, leg statuses only move forward, and the
outbox answers what is owed per account.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal

from core.batches import ApprovedBatch, Leg
from core.ports import Clock
from core.scans import ScanRow
from core.stores import (
    ALL_ACCOUNTS,
    IdempotencyConflict,
    LegReport,
    LegState,
    LegStatus,
    OutboxEntry,
    PlacedBatch,
    ScanSummary,
    StoredBatch,
    StoredScan,
    StoreError,
    UnknownOrderRef,
    UnknownSequence,
    json_ready,
    report_supersedes,
)
from core.values import OrderRef


class MemoryScanStore:
    """ScanStore in a dict."""

    def __init__(self) -> None:
        self.scans: dict[int, StoredScan] = {}

    async def add_scan(self, name: str, rows: Sequence[ScanRow], created_at: datetime) -> int:
        scan_id = len(self.scans) + 1
        self.scans[scan_id] = StoredScan(scan_id, name, created_at, tuple(rows))
        return scan_id

    async def get_scan(self, scan_id: int) -> StoredScan | None:
        return self.scans.get(scan_id)

    async def list_scans(self, limit: int = 50, offset: int = 0) -> list[ScanSummary]:
        newest = sorted(self.scans.values(), key=lambda scan: scan.scan_id, reverse=True)
        return [
            ScanSummary(s.scan_id, s.name, s.created_at, len(s.rows)) for s in newest[offset : offset + limit]
        ]


class MemoryOutbox:
    """Outbox over the entries the batch store appends."""

    def __init__(self) -> None:
        self.entries: list[OutboxEntry] = []
        self.acks: set[tuple[str, int]] = set()
        self.cursors: dict[str, int] = {}

    def _owed(self, account: str, entry: OutboxEntry, now: datetime) -> bool:
        return (
            entry.account in (account, ALL_ACCOUNTS)
            and not entry.is_expired(now)
            and (account, entry.seq) not in self.acks
            and entry.seq > self.cursors.get(account, 0)
        )

    async def pending(self, account: str, after_seq: int, now: datetime) -> list[OutboxEntry]:
        return [e for e in self.entries if e.seq > after_seq and self._owed(account, e, now)]

    async def ack(self, account: str, seq: int) -> None:
        entry = next((e for e in self.entries if e.seq == seq), None)
        if entry is None or entry.account not in (account, ALL_ACCOUNTS):
            raise UnknownSequence(f"there is no outbox entry {seq} for account {account}")
        self.acks.add((account, seq))

    async def ack_through(self, account: str, last_seq: int) -> None:
        issued = self.entries[-1].seq if self.entries else 0
        if last_seq > issued:
            raise UnknownSequence(f"account {account} holds up to {last_seq}, but only {issued} were issued")
        self.cursors[account] = max(self.cursors.get(account, 0), last_seq)

    async def resume(self, account: str, last_seq: int, now: datetime) -> list[OutboxEntry]:
        await self.ack_through(account, last_seq)
        return await self.pending(account, last_seq, now)

    async def acked_seq(self, account: str) -> int:
        acked = [seq for who, seq in self.acks if who == account]
        return max([self.cursors.get(account, 0), *acked])

    async def backlog(self, now: datetime) -> int:
        def waiting(entry: OutboxEntry) -> bool:
            if entry.is_expired(now):
                return False
            if entry.account == ALL_ACCOUNTS:
                return not any(seq == entry.seq for _who, seq in self.acks) and not any(
                    through >= entry.seq for through in self.cursors.values()
                )
            return (entry.account, entry.seq) not in self.acks and self.cursors.get(
                entry.account, 0
            ) < entry.seq

        return sum(1 for entry in self.entries if waiting(entry))


class MemoryBatchStore:
    """BatchStore that appends to a MemoryOutbox. `fail_next` makes the next place_batch fail
    before anything is stored, to check that nothing half-done is left."""

    def __init__(self, outbox: MemoryOutbox, clock: Clock) -> None:
        self.outbox = outbox
        self.clock = clock
        self.batches: dict[str, StoredBatch] = {}
        self.keys: dict[str, tuple[str, str | None]] = {}
        self.history: dict[str, list[LegReport]] = {}
        self.place_calls = 0
        self.fail_next: Exception | None = None

    async def place_batch(
        self,
        batch: ApprovedBatch,
        accounts: Sequence[str],
        payload: Mapping[str, object],
        idempotency_key: str | None = None,
        request_hash: str | None = None,
    ) -> PlacedBatch:
        self.place_calls += 1
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error
        if idempotency_key is not None and idempotency_key in self.keys:
            batch_id, earlier_hash = self.keys[idempotency_key]
            if earlier_hash != request_hash:
                raise IdempotencyConflict(idempotency_key, batch_id)
            stored = self.batches[batch_id]
            return PlacedBatch(stored, self._entries_of(batch_id), created=False)
        if batch.batch_id in self.batches:
            raise StoreError(f"batch {batch.batch_id} is already stored")
        plain = json.loads(json.dumps(json_ready(payload)))
        now = self.clock.now()
        legs = tuple(
            LegStatus(batch.batch_id, ref, line.symbol, leg)
            for line in batch.legs
            for leg, ref in zip(Leg, line.refs, strict=True)
        )
        stored = StoredBatch(batch, batch.content_hash, tuple(accounts), now, legs, plain)
        self.batches[batch.batch_id] = stored
        seq = self.outbox.entries[-1].seq if self.outbox.entries else 0
        for offset, account in enumerate(accounts, start=1):
            self.outbox.entries.append(
                OutboxEntry(seq + offset, batch.batch_id, account, plain, now, batch.expires_at)
            )
        if idempotency_key is not None:
            self.keys[idempotency_key] = (batch.batch_id, request_hash)
        return PlacedBatch(stored, self._entries_of(batch.batch_id), created=True)

    def _entries_of(self, batch_id: str) -> tuple[OutboxEntry, ...]:
        return tuple(e for e in self.outbox.entries if e.batch_id == batch_id)

    async def get_batch(self, batch_id: str) -> StoredBatch | None:
        return self.batches.get(batch_id)

    async def list_batches(self, limit: int = 50) -> list[StoredBatch]:
        return list(reversed(self.batches.values()))[:limit]

    async def record_leg_status(
        self,
        batch_id: str,
        order_ref: str,
        status: LegState,
        filled: Decimal,
        avg_price: Decimal,
        message: str,
        at: datetime,
    ) -> LegStatus:
        stored = self.batches.get(batch_id)
        index = (
            next((i for i, leg in enumerate(stored.legs) if leg.order_ref == order_ref), None)
            if stored
            else None
        )
        if stored is None or index is None:
            raise UnknownOrderRef(batch_id, order_ref)
        if filled < 0 or avg_price < 0:
            raise ValueError("filled and avg_price must be 0 or more")
        report = LegReport(OrderRef(order_ref), status, filled, avg_price, message, at)
        history = self.history.setdefault(order_ref, [])
        if not any(dataclasses.replace(old, reported_at=at) == report for old in history):
            history.append(report)
        current = stored.legs[index]
        if report_supersedes(current.status, current.filled, status, filled):
            current = dataclasses.replace(
                current, status=status, filled=filled, avg_price=avg_price, message=message, updated_at=at
            )
            legs = (*stored.legs[:index], current, *stored.legs[index + 1 :])
            self.batches[batch_id] = dataclasses.replace(stored, legs=legs)
        return current

    async def record_leg_statuses(
        self, reports: Sequence[tuple[str, LegReport]]
    ) -> list[LegStatus | UnknownOrderRef]:
        if any(report.filled < 0 or report.avg_price < 0 for _, report in reports):
            raise ValueError("filled and avg_price must be 0 or more; nothing of the batch was stored")
        outcomes: list[LegStatus | UnknownOrderRef] = []
        for batch_id, report in reports:
            try:
                outcomes.append(await self.record_leg_status(
                    batch_id, report.order_ref, report.status, report.filled, report.avg_price,
                    report.message, report.reported_at,
                ))
            except UnknownOrderRef as unknown:
                outcomes.append(unknown)
        return outcomes

    async def leg_history(self, batch_id: str, order_ref: str) -> list[LegReport]:
        if order_ref not in self.history:
            raise UnknownOrderRef(batch_id, order_ref)
        return list(self.history[order_ref])
