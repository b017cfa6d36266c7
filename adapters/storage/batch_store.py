"""The BatchStore port over SQL: placing a batch with its outbox entries in one transaction,
idempotency keys, and the legs' status reports."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.storage.batch_rows import batch_row, leg_rows, leg_status_from_row, line_rows, load_batch
from adapters.storage.database import read_transaction, write_transaction
from adapters.storage.outbox import (
    append_entries,
    check_account,
    entries_query,
    entry_from_row,
    lock_sequence,
)
from adapters.storage.tables import batch_legs, batch_lines, batches, idempotency_keys, leg_reports, outbox
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
        payload_text = json.dumps(json_ready(payload), ensure_ascii=False, separators=(",", ":"))
        now = self._clock.now()
        try:
            async with write_transaction(self._engine) as connection:
                # Locked first: placements queue here, so the idempotency check below cannot race.
                last_seq = await lock_sequence(connection)
                if idempotency_key is not None:
                    earlier = await _earlier_batch(connection, idempotency_key, request_hash)
                    if earlier is not None:
                        return await _placed(connection, earlier, created=False)
                if await _exists(connection, batch.batch_id):
                    raise StoreError(f"batch {batch.batch_id} is already stored; a new batch needs a new id")
                await connection.execute(batches.insert(), batch_row(batch, targets, payload_text, now))
                await connection.execute(batch_lines.insert(), line_rows(batch))
                await connection.execute(batch_legs.insert(), leg_rows(batch))
                await append_entries(connection, last_seq, batch.batch_id, targets, now, batch.expires_at)
                if idempotency_key is not None:
                    await connection.execute(idempotency_keys.insert().values(
                        key=idempotency_key, request_hash=request_hash, batch_id=batch.batch_id,
                        created_at=now,
                    ))
                return await _placed(connection, batch.batch_id, created=True)
        except IntegrityError as error:
            raise StoreError(
                f"batch {batch.batch_id} was not stored (nothing of it was): the database refused it: "
                f"{error.orig}"
            ) from error

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

    async def leg_history(self, batch_id: str, order_ref: str) -> list[LegReport]:
        async with read_transaction(self._engine) as connection:
            known = (await connection.execute(select(batch_legs.c.order_ref).where(
                batch_legs.c.batch_id == batch_id, batch_legs.c.order_ref == order_ref
            ))).one_or_none()
            if known is None:
                raise UnknownOrderRef(batch_id, order_ref)
            return await _history(connection, order_ref)


async def _earlier_batch(connection: AsyncConnection, key: str, request_hash: str | None) -> str | None:
    query = select(idempotency_keys.c.request_hash, idempotency_keys.c.batch_id).where(
        idempotency_keys.c.key == key
    )
    row = (await connection.execute(query)).one_or_none()
    if row is None:
        return None
    if row.request_hash != request_hash:
        raise IdempotencyConflict(key, row.batch_id)
    return str(row.batch_id)


async def _exists(connection: AsyncConnection, batch_id: str) -> bool:
    found = await connection.execute(select(batches.c.batch_id).where(batches.c.batch_id == batch_id))
    return found.one_or_none() is not None


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
