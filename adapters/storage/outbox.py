"""The outbox over SQL: sequence numbers, per-account acknowledgements, what is still owed.

`locked_counter_query` and `append_entries` are used by the batch store inside its placing
transaction. The counter row is locked first (`SELECT ... FOR UPDATE` on PostgreSQL; SQLite's
`BEGIN IMMEDIATE` locks the whole file), so placements run one after another and sequence
numbers commit in increasing order: an executor holding N has never missed a lower one that
was still being written. A rolled-back placement rolls the counter back too, so there are no gaps.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, bindparam, exists, func, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.storage.database import read_transaction, write_transaction
from adapters.storage.tables import batches, outbox, outbox_acks, outbox_counter, outbox_cursors
from adapters.storage.write_units import StatementRunner, run_write
from core.ports import Clock
from core.stores import ALL_ACCOUNTS, OutboxEntry, UnknownSequence
from core.values import BatchId

MAX_ACCOUNT_LENGTH = 64


def check_account(account: str, *, allow_all: bool = False) -> str:
    """The account id, or ValueError saying what is wrong with it."""
    if not isinstance(account, str) or not account.strip() or account != account.strip():
        raise ValueError(f"account {account!r} must be a non-empty id without surrounding spaces")
    if len(account) > MAX_ACCOUNT_LENGTH:
        raise ValueError(f"account {account[:20]!r}... is longer than {MAX_ACCOUNT_LENGTH} characters")
    if account == ALL_ACCOUNTS and not allow_all:
        raise ValueError(f"{ALL_ACCOUNTS!r} addresses every executor; an executor acknowledges under its "
                         f"own account id")
    return account


def locked_counter_query() -> Select[Any]:
    """The last sequence number issued, with the counter row locked until the transaction ends."""
    return select(outbox_counter.c.last_seq).where(outbox_counter.c.id == 1).with_for_update()


def append_entries(
    runner: StatementRunner,
    last_seq: int,
    batch_id: str,
    accounts: Sequence[str],
    created_at: datetime,
    expires_at: datetime,
) -> list[int]:
    """Insert one entry per account after `last_seq` (read with `locked_counter_query` in the same
    transaction) and move the counter; returns the new sequence numbers."""
    seqs = [last_seq + offset for offset in range(1, len(accounts) + 1)]
    rows = [
        {"seq": seq, "batch_id": batch_id, "account": account, "created_at": created_at,
         "expires_at": expires_at}
        for seq, account in zip(seqs, accounts, strict=True)
    ]
    runner.execute_many(_INSERT_ENTRY, rows)
    runner.execute(_MOVE_COUNTER, {"new_last_seq": seqs[-1]})
    return seqs


_INSERT_ENTRY = outbox.insert()
_MOVE_COUNTER = (
    update(outbox_counter).where(outbox_counter.c.id == 1).values(last_seq=bindparam("new_last_seq"))
)
_ADDRESSEE = select(outbox.c.account).where(outbox.c.seq == bindparam("seq"))
_ACK = {
    "sqlite": sqlite.insert(outbox_acks).on_conflict_do_nothing(),
    "postgresql": postgresql.insert(outbox_acks).on_conflict_do_nothing(),
}


def entries_query() -> Select[Any]:
    """Outbox rows joined with their batch's payload."""
    return (
        select(outbox.c.seq, outbox.c.batch_id, outbox.c.account, outbox.c.created_at,
               outbox.c.expires_at, batches.c.payload)
        .join(batches, batches.c.batch_id == outbox.c.batch_id)
        .order_by(outbox.c.seq)
    )


def entry_from_row(row: Any) -> OutboxEntry:
    return OutboxEntry(row.seq, BatchId(row.batch_id), row.account, json.loads(row.payload), row.created_at,
                       row.expires_at)


def _insert(connection: AsyncConnection, table: Any) -> Any:
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


class SqlOutbox:
    """The Outbox port (core.stores) on SQLite or PostgreSQL."""

    def __init__(self, engine: AsyncEngine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock

    async def pending(self, account: str, after_seq: int, now: datetime) -> list[OutboxEntry]:
        check_account(account)
        cursor = (
            select(func.coalesce(func.max(outbox_cursors.c.acked_through), 0))
            .where(outbox_cursors.c.account == account)
            .scalar_subquery()
        )
        acked = exists().where(outbox_acks.c.account == account, outbox_acks.c.seq == outbox.c.seq)
        query = entries_query().where(
            outbox.c.account.in_([account, ALL_ACCOUNTS]),
            outbox.c.seq > after_seq,
            outbox.c.seq > cursor,
            outbox.c.expires_at > now,
            ~acked,
        )
        async with read_transaction(self._engine) as connection:
            rows = (await connection.execute(query)).all()
        return [entry_from_row(row) for row in rows]

    async def ack(self, account: str, seq: int) -> None:
        check_account(account)
        acked_at = self._clock.now()

        def record(runner: StatementRunner) -> None:
            found = runner.first(_ADDRESSEE, {"seq": seq})
            if found is None:
                raise UnknownSequence(f"there is no outbox entry {seq}; acknowledge only the seq of a "
                                      f"trading_orders_generated message you received")
            addressee = found[0]
            if addressee not in (account, ALL_ACCOUNTS):
                raise UnknownSequence(f"outbox entry {seq} is addressed to account {addressee}, not "
                                      f"{account}; check the executor's TWS_ACCOUNT")
            runner.execute(_ACK[runner.dialect_name], {"account": account, "seq": seq, "acked_at": acked_at})

        # Not waited to disk: an ack lost in a power cut only means the batch is sent again on
        # resume, and the executor's journal answers a batch it already holds with another ack.
        await run_write(self._engine, record, durable=False)

    async def ack_through(self, account: str, last_seq: int) -> None:
        check_account(account)
        if last_seq < 0:
            raise ValueError(f"last_seq must be 0 or more, got {last_seq}")
        async with write_transaction(self._engine) as connection:
            issued = (await connection.execute(
                select(outbox_counter.c.last_seq).where(outbox_counter.c.id == 1)
            )).scalar_one()
            if last_seq > issued:
                raise UnknownSequence(
                    f"account {account} says it holds everything up to seq {last_seq}, but this cloud has "
                    f"issued only up to {issued}: the executor's journal comes from another cloud database. "
                    f"Point the executor at the cloud it came from, or start it with a fresh journal"
                )
            statement = _insert(connection, outbox_cursors).values(
                account=account, acked_through=last_seq, updated_at=self._clock.now()
            )
            keep_highest = func.max if connection.dialect.name == "sqlite" else func.greatest
            highest = keep_highest(outbox_cursors.c.acked_through, statement.excluded.acked_through)
            statement = statement.on_conflict_do_update(
                index_elements=[outbox_cursors.c.account],
                set_={
                    "acked_through": highest,
                    "updated_at": statement.excluded.updated_at,
                },
            )
            await connection.execute(statement)

    async def resume(self, account: str, last_seq: int, now: datetime) -> list[OutboxEntry]:
        await self.ack_through(account, last_seq)
        return await self.pending(account, last_seq, now)

    async def acked_seq(self, account: str) -> int:
        check_account(account)
        through = select(func.coalesce(func.max(outbox_cursors.c.acked_through), 0)).where(
            outbox_cursors.c.account == account
        )
        highest_ack = select(func.coalesce(func.max(outbox_acks.c.seq), 0)).where(
            outbox_acks.c.account == account
        )
        async with read_transaction(self._engine) as connection:
            first = (await connection.execute(through)).scalar_one()
            second = (await connection.execute(highest_ack)).scalar_one()
        return max(int(first), int(second))

    async def backlog(self, now: datetime) -> int:
        addressee_matches = or_(outbox.c.account == literal(ALL_ACCOUNTS),
                                outbox_acks.c.account == outbox.c.account)
        acked = exists().where(outbox_acks.c.seq == outbox.c.seq, addressee_matches)
        cursor_matches = or_(outbox.c.account == literal(ALL_ACCOUNTS),
                             outbox_cursors.c.account == outbox.c.account)
        passed = exists().where(and_(outbox_cursors.c.acked_through >= outbox.c.seq, cursor_matches))
        query = select(func.count()).select_from(outbox).where(outbox.c.expires_at > now, ~acked, ~passed)
        async with read_transaction(self._engine) as connection:
            return int((await connection.execute(query)).scalar_one())
