"""The BatchStore port over SQL: placing a batch with its outbox entries in one transaction,
idempotency keys, and the legs' status reports."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import msgspec
from sqlalchemy import bindparam, exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.storage.batch_rows import (
    batch_row,
    leg_rows,
    leg_status_from_row,
    line_rows,
    load_batch,
    stored_batch,
)
from adapters.storage.database import read_transaction, write_transaction
from adapters.storage.outbox import (
    append_entries,
    check_account,
    entries_query,
    entry_from_row,
    locked_counter_query,
)
from adapters.storage.status_batches import record_leg_statuses
from adapters.storage.tables import batch_legs, batch_lines, batches, idempotency_keys, leg_reports, outbox
from adapters.storage.write_units import StatementRunner, run_write
from core.batches import ApprovedBatch
from core.ports import Clock
from core.stores import (
    ALL_ACCOUNTS,
    IdempotencyConflict,
    LegReport,
    LegState,
    LegStatus,
    OutboxEntry,
    PlacedBatch,
    StoredBatch,
    StoreError,
    UnknownOrderRef,
    json_ready,
    report_supersedes,
)
from core.values import ZERO, OrderRef

MAX_IDEMPOTENCY_KEY_LENGTH = 200

_LOCK_COUNTER = locked_counter_query()
# Read only once the counter is locked (a separate statement: on PostgreSQL a statement that waits
# for a row lock still reads everything else as of its start, and would miss a key just stored).
_key = bindparam("key", type_=idempotency_keys.c.key.type)
_PLACEMENT_CHECK = select(
    select(idempotency_keys.c.request_hash).where(idempotency_keys.c.key == _key).scalar_subquery(),
    select(idempotency_keys.c.batch_id).where(idempotency_keys.c.key == _key).scalar_subquery(),
    exists().where(batches.c.batch_id == bindparam("batch_id", type_=batches.c.batch_id.type)),
)
_INSERT_BATCH = batches.insert()
_INSERT_LINE = batch_lines.insert()
_INSERT_LEG = batch_legs.insert()
_INSERT_KEY = idempotency_keys.insert()


@dataclass(frozen=True, slots=True)
class _Placement:
    """What the placing transaction did: stored `batch_id` with these `seqs`, or (no seqs) found
    the batch an earlier request with the same idempotency key placed."""

    batch_id: str
    seqs: tuple[int, ...]


def check_accounts(accounts: Sequence[str]) -> tuple[str, ...]:
    """The target accounts, or ValueError: at least one, no repeats, ALL_ACCOUNTS alone."""
    targets = tuple(check_account(account, allow_all=True) for account in accounts)
    if not targets:
        raise ValueError(f"a batch needs at least one target account, or {ALL_ACCOUNTS!r} for every executor")
    if len(set(targets)) != len(targets):
        raise ValueError(f"target accounts {list(targets)} name an account twice; name each once")
    if ALL_ACCOUNTS in targets and len(targets) > 1:
        raise ValueError(f"{ALL_ACCOUNTS!r} already addresses every executor; list no other account with it")
    return targets


class SqlBatchStore:
    """The BatchStore port (core.stores) on SQLite or PostgreSQL."""

    def __init__(self, engine: AsyncEngine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock

    async def place_batch(
        self,
        batch: ApprovedBatch,
        accounts: Sequence[str],
        payload: Mapping[str, object],
        idempotency_key: str | None = None,
        request_hash: str | None = None,
    ) -> PlacedBatch:
        targets = check_accounts(accounts)
        if idempotency_key is not None:
            if not idempotency_key or len(idempotency_key) > MAX_IDEMPOTENCY_KEY_LENGTH:
                raise ValueError(f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} characters")
            if not request_hash:
                raise ValueError("an idempotency key needs the request_hash of the request body")
        stored_payload = json_ready(payload)
        assert isinstance(stored_payload, dict)  # json_ready keeps a mapping a mapping
        # msgspec writes the same compact JSON as json.dumps(..., separators=(",", ":")), faster.
        payload_text = msgspec.json.encode(stored_payload).decode()
        now = self._clock.now()
        content_hash = batch.content_hash
        head = batch_row(batch, content_hash, targets, payload_text, now)
        lines, legs = line_rows(batch), leg_rows(batch)

        def place(runner: StatementRunner) -> _Placement:
            # Locked first: placements queue here, so the idempotency check below cannot race.
            counter = runner.first(_LOCK_COUNTER, {})
            if counter is None:
                raise RuntimeError("the outbox counter row is missing: run adapters.storage.migrate first")
            last_seq = int(counter[0])
            # One query: the key's earlier batch, and whether this batch id is taken.
            found = runner.first(_PLACEMENT_CHECK, {"key": idempotency_key, "batch_id": batch.batch_id})
            assert found is not None  # a SELECT without FROM gives one row
            earlier_hash, earlier_batch, taken = found
            if idempotency_key is not None and earlier_batch is not None:
                if earlier_hash != request_hash:
                    raise IdempotencyConflict(idempotency_key, earlier_batch)
                return _Placement(str(earlier_batch), ())
            if taken:
                raise StoreError(f"batch {batch.batch_id} is already stored; a new batch needs a new id")
            runner.execute(_INSERT_BATCH, head)
            runner.execute_many(_INSERT_LINE, lines)
            runner.execute_many(_INSERT_LEG, legs)
            seqs = append_entries(runner, last_seq, batch.batch_id, targets, now, batch.expires_at)
            if idempotency_key is not None:
                runner.execute(_INSERT_KEY, {"key": idempotency_key, "request_hash": request_hash,
                                             "batch_id": batch.batch_id, "created_at": now})
            return _Placement(batch.batch_id, tuple(seqs))

        try:
            placement = await run_write(self._engine, place)
        except IntegrityError as error:
            raise StoreError(
                f"batch {batch.batch_id} was not stored (nothing of it was): the database refused it: "
                f"{error.orig}"
            ) from error
        if not placement.seqs:  # an idempotent repeat: the first request's batch, as stored
            async with read_transaction(self._engine) as connection:
                return await _placed(connection, placement.batch_id, created=False)
        # Built from what was just written (the same values a read would return), not read back.
        stored = stored_batch(batch, content_hash, targets, now, stored_payload)
        entries = tuple(
            OutboxEntry(seq, batch.batch_id, account, stored_payload, stored.created_at, stored.expires_at)
            for seq, account in zip(placement.seqs, targets, strict=True)
        )
        return PlacedBatch(stored, entries, True)

    async def get_batch(self, batch_id: str) -> StoredBatch | None:
        async with read_transaction(self._engine) as connection:
            return await load_batch(connection, batch_id)

    async def list_batches(self, limit: int = 50) -> list[StoredBatch]:
        if limit < 1:
            raise ValueError(f"limit must be 1 or more, got {limit}")
        query = select(batches.c.batch_id).order_by(batches.c.created_at.desc(), batches.c.batch_id.desc())
        async with read_transaction(self._engine) as connection:
            ids = (await connection.execute(query.limit(limit))).scalars().all()
            loaded = [await load_batch(connection, batch_id) for batch_id in ids]
        return [batch for batch in loaded if batch is not None]

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
        status = LegState.parse(status) if isinstance(status, str) else status
        if filled < ZERO or avg_price < ZERO:
            raise ValueError(f"leg {order_ref}: filled ({filled}) and avg_price ({avg_price}) must be "
                             f"0 or more")
        async with write_transaction(self._engine) as connection:
            leg_query = (select(batch_legs)
                         .where(batch_legs.c.batch_id == batch_id, batch_legs.c.order_ref == order_ref)
                         .with_for_update())
            leg = (await connection.execute(leg_query)).one_or_none()
            if leg is None:
                raise UnknownOrderRef(batch_id, order_ref)
            current = leg_status_from_row(leg)
            report = LegReport(OrderRef(order_ref), status, filled, avg_price, message, at)
            if await _seen(connection, report):
                return current
            await connection.execute(leg_reports.insert().values(
                order_ref=order_ref, status=status.value, filled=filled, avg_price=avg_price, message=message,
                reported_at=at,
            ))
            if not report_supersedes(current.status, current.filled, status, filled):
                return current
            await connection.execute(
                update(batch_legs).where(batch_legs.c.order_ref == order_ref).values(
                    status=status.value, filled=filled, avg_price=avg_price, message=message, updated_at=at
                )
            )
            latest = select(batch_legs).where(batch_legs.c.order_ref == order_ref)
            row = (await connection.execute(latest)).one()
            return leg_status_from_row(row)

    async def record_leg_statuses(
        self, reports: Sequence[tuple[str, LegReport]]
    ) -> list[LegStatus | UnknownOrderRef]:
        return await record_leg_statuses(self._engine, reports)

    async def leg_history(self, batch_id: str, order_ref: str) -> list[LegReport]:
        async with read_transaction(self._engine) as connection:
            known = (await connection.execute(select(batch_legs.c.order_ref).where(
                batch_legs.c.batch_id == batch_id, batch_legs.c.order_ref == order_ref
            ))).one_or_none()
            if known is None:
                raise UnknownOrderRef(batch_id, order_ref)
            return await _history(connection, order_ref)


async def _placed(connection: AsyncConnection, batch_id: str, *, created: bool) -> PlacedBatch:
    stored = await load_batch(connection, batch_id)
    if stored is None:
        raise StoreError(f"batch {batch_id} vanished while being read; try again")
    rows = (await connection.execute(entries_query().where(outbox.c.batch_id == batch_id))).all()
    entries: tuple[OutboxEntry, ...] = tuple(entry_from_row(row) for row in rows)
    return PlacedBatch(stored, entries, created)


async def _history(connection: AsyncConnection, order_ref: str) -> list[LegReport]:
    rows = (await connection.execute(
        select(leg_reports).where(leg_reports.c.order_ref == order_ref).order_by(leg_reports.c.report_id)
    )).all()
    return [
        LegReport(OrderRef(row.order_ref), LegState(row.status), row.filled, row.avg_price, row.message,
                  row.reported_at)
        for row in rows
    ]


async def _seen(connection: AsyncConnection, report: LegReport) -> bool:
    """Whether the same report (all but its time) is in the history already. Compared as values:
    on SQLite the numbers are text, where "10.5" and "10.50" differ."""
    return any(
        (old.status, old.filled, old.avg_price, old.message)
        == (report.status, report.filled, report.avg_price, report.message)
        for old in await _history(connection, report.order_ref)
    )
