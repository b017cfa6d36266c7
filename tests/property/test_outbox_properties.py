"""The outbox over SQLite, under random interleavings of place / ack / resume / pending / time.

Whatever the order: every unexpired batch addressed to an account (or to every executor) is
returned to it until it acknowledges it, never after, and always in sequence order. A plain model
(sets and a cursor per account) says what each call must return; the store must agree exactly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.storage import SqlBatchStore, SqlOutbox, create_engine_from_url, migrate
from adapters.storage.tables import metadata, outbox_counter
from core.clock import ManualClock
from core.stores import ALL_ACCOUNTS
from tests.contract.storage_builders import make_batch, payload_of

ACCOUNTS = ("A", "B", "C")
TARGETS = ((ALL_ACCOUNTS,), ("A",), ("B",), ("A", "B"), ("A", "B", "C"))

accounts = st.sampled_from(ACCOUNTS)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("place"), st.sampled_from(TARGETS), st.integers(1, 120)),
        st.tuples(st.just("ack"), accounts, st.integers(0, 40)),
        st.tuples(st.just("resume"), accounts, st.integers(0, 40)),
        st.tuples(st.just("pending"), accounts, st.integers(0, 40)),
        st.tuples(st.just("advance"), st.integers(1, 90)),
    ),
    max_size=30,
)


@dataclass
class Model:
    """What the outbox must answer: entries, and per account its acks and its resume cursor."""

    entries: dict[int, tuple[str, datetime]] = field(default_factory=dict)  # seq -> (address, expiry)
    acked: dict[str, set[int]] = field(default_factory=lambda: {a: set() for a in ACCOUNTS})
    cursor: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ACCOUNTS, 0))

    def addressed_to(self, account: str) -> list[int]:
        return [seq for seq, (address, _expiry) in sorted(self.entries.items())
                if address in (account, ALL_ACCOUNTS)]

    def owed(self, account: str, after: int, now: datetime) -> list[int]:
        return [
            seq for seq in self.addressed_to(account)
            if seq > max(after, self.cursor[account]) and seq not in self.acked[account]
            and now < self.entries[seq][1]
        ]

    def ever_acked(self, account: str) -> set[int]:
        return self.acked[account] | {seq for seq in self.entries if seq <= self.cursor[account]}


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    made = create_engine_from_url(f"sqlite:///{tmp_path / 'outbox.db'}")
    await migrate(made)
    yield made
    await made.dispose()


async def empty(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            if table is not outbox_counter:
                await connection.execute(delete(table))
        await connection.execute(update(outbox_counter).values(last_seq=0))


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # emptied for every example
@given(ops=operations)
async def test_owed_until_acknowledged_never_after_always_in_order(
    engine: AsyncEngine, ops: list[tuple[object, ...]]
) -> None:
    await empty(engine)
    clock = ManualClock()
    batches, outbox = SqlBatchStore(engine, clock), SqlOutbox(engine, clock)
    model = Model()

    async def check(account: str, returned: list[int], after: int) -> None:
        assert returned == sorted(set(returned)), "entries must come in increasing seq order"
        assert not set(returned) & model.ever_acked(account), "an acknowledged entry was sent again"
        assert returned == model.owed(account, after, clock.now())

    for number, op in enumerate(ops):
        kind = op[0]
        if kind == "place":
            targets, minutes = op[1], op[2]
            assert isinstance(targets, tuple) and isinstance(minutes, int)
            batch = make_batch(f"p{number}", approved_at=clock.now(), expires_in=timedelta(minutes=minutes))
            placed = await batches.place_batch(batch, targets, payload_of(batch))
            for entry in placed.entries:
                assert entry.seq == max(model.entries, default=0) + 1, "sequence numbers must not skip"
                model.entries[entry.seq] = (entry.account, entry.expires_at)
        elif kind == "advance":
            assert isinstance(op[1], int)
            clock.advance(op[1] * 60)
        else:
            account, pick = op[1], op[2]
            assert isinstance(account, str) and isinstance(pick, int)
            if kind == "ack":
                mine = model.addressed_to(account)
                if mine:
                    seq = mine[pick % len(mine)]
                    await outbox.ack(account, seq)
                    model.acked[account].add(seq)
            elif kind == "resume":
                last_seq = min(pick, max(model.entries, default=0))
                returned = [e.seq for e in await outbox.resume(account, last_seq, clock.now())]
                model.cursor[account] = max(model.cursor[account], last_seq)
                await check(account, returned, last_seq)
            else:
                await check(account, [e.seq for e in await outbox.pending(account, pick, clock.now())], pick)
    for account in ACCOUNTS:
        await check(account, [e.seq for e in await outbox.pending(account, 0, clock.now())], 0)
