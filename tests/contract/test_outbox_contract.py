"""Contract of the Outbox port (core.stores): addressing, order, acknowledgements, resume and
expiry, run on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from adapters.storage import SqlBatchStore, SqlOutbox
from core.clock import ManualClock
from core.stores import ALL_ACCOUNTS, OutboxEntry, UnknownSequence
from tests.contract.sql_databases import DATABASES, Templates, fresh_database
from tests.contract.sql_databases import storage_templates as storage_templates  # session fixture
from tests.contract.storage_builders import make_batch, payload_of


@dataclass
class Delivery:
    clock: ManualClock
    batches: SqlBatchStore
    outbox: SqlOutbox
    placed: int = 0

    async def place(self, accounts: Sequence[str], expires_in: timedelta = timedelta(hours=24)) -> list[int]:
        self.placed += 1
        batch = make_batch(f"b{self.placed}", approved_at=self.clock.now(), expires_in=expires_in)
        result = await self.batches.place_batch(batch, accounts, payload_of(batch))
        return [entry.seq for entry in result.entries]

    async def owed(self, account: str, after_seq: int = 0) -> list[int]:
        return seqs(await self.outbox.pending(account, after_seq, self.clock.now()))


def seqs(entries: Sequence[OutboxEntry]) -> list[int]:
    return [entry.seq for entry in entries]


@pytest.fixture(params=DATABASES)
async def delivery(
    request: pytest.FixtureRequest, tmp_path: Path, storage_templates: Templates
) -> AsyncIterator[Delivery]:
    async with fresh_database(request.param, tmp_path, storage_templates) as engine:
        clock = ManualClock()
        yield Delivery(clock, SqlBatchStore(engine, clock), SqlOutbox(engine, clock))


async def test_an_account_gets_its_own_and_the_everyone_entries_in_order(delivery: Delivery) -> None:
    a1 = await delivery.place(["A"])
    everyone = await delivery.place([ALL_ACCOUNTS])
    b1 = await delivery.place(["B"])
    both = await delivery.place(["A", "B"])
    assert await delivery.owed("A") == [a1[0], everyone[0], both[0]]
    assert await delivery.owed("B") == [everyone[0], b1[0], both[1]]
    assert await delivery.owed("C") == everyone
    assert await delivery.owed("A", after_seq=everyone[0]) == [both[0]]


async def test_entries_carry_batch_payload_and_expiry(delivery: Delivery) -> None:
    await delivery.place(["A"])
    [entry] = await delivery.outbox.pending("A", 0, delivery.clock.now())
    assert (entry.seq, entry.batch_id, entry.account) == (1, "b1", "A")
    assert entry.payload["batch_id"] == "b1" and entry.payload["scan_id"] == 1
    assert entry.expires_at == delivery.clock.now() + timedelta(hours=24)
    assert entry.created_at == delivery.clock.now()


async def test_an_acknowledged_entry_is_never_sent_to_that_account_again(delivery: Delivery) -> None:
    [mine] = await delivery.place(["A"])
    [shared] = await delivery.place([ALL_ACCOUNTS])
    await delivery.outbox.ack("A", mine)
    await delivery.outbox.ack("A", shared)
    await delivery.outbox.ack("A", shared)  # a repeated ack is harmless
    assert await delivery.owed("A") == []
    assert await delivery.owed("B") == [shared]  # A's ack of an everyone-entry is A's alone
    assert await delivery.outbox.acked_seq("A") == shared
    assert await delivery.outbox.acked_seq("B") == 0


async def test_acks_of_entries_never_sent_to_the_account_are_refused(delivery: Delivery) -> None:
    [for_b] = await delivery.place(["B"])
    with pytest.raises(UnknownSequence, match="addressed to account B, not A"):
        await delivery.outbox.ack("A", for_b)
    with pytest.raises(UnknownSequence, match="no outbox entry 99"):
        await delivery.outbox.ack("A", 99)
    with pytest.raises(ValueError, match="every executor"):
        await delivery.outbox.ack(ALL_ACCOUNTS, for_b)
    assert await delivery.owed("B") == [for_b]


async def test_resume_acknowledges_everything_up_to_last_seq_and_returns_the_rest(delivery: Delivery) -> None:
    placed = [seq for _ in range(4) for seq in await delivery.place(["A"])]
    resent = await delivery.outbox.resume("A", placed[1], delivery.clock.now())
    assert seqs(resent) == placed[2:]
    assert await delivery.owed("A") == placed[2:]  # even when asked from 0: 1 and 2 are acknowledged
    assert await delivery.outbox.acked_seq("A") == placed[1]
    await delivery.outbox.resume("A", 0, delivery.clock.now())  # resuming lower never un-acknowledges
    assert await delivery.owed("A") == placed[2:]
    assert await delivery.outbox.acked_seq("A") == placed[1]


async def test_an_unacknowledged_entry_below_a_higher_ack_is_still_owed(delivery: Delivery) -> None:
    first, second = (await delivery.place(["A"]))[0], (await delivery.place(["A"]))[0]
    await delivery.outbox.ack("A", second)
    assert await delivery.owed("A") == [first]
    assert await delivery.outbox.acked_seq("A") == second


async def test_resume_beyond_the_issued_sequence_is_refused(delivery: Delivery) -> None:
    [seq] = await delivery.place(["A"])
    with pytest.raises(UnknownSequence, match="another cloud database"):
        await delivery.outbox.resume("A", seq + 5, delivery.clock.now())
    with pytest.raises(ValueError, match="0 or more"):
        await delivery.outbox.ack_through("A", -1)
    assert await delivery.owed("A") == [seq]


async def test_expired_entries_are_not_delivered(delivery: Delivery) -> None:
    [short] = await delivery.place(["A"], expires_in=timedelta(minutes=5))
    [long] = await delivery.place(["A"], expires_in=timedelta(hours=2))
    delivery.clock.advance(5 * 60 - 1)
    assert await delivery.owed("A") == [short, long]
    delivery.clock.advance(1)  # at the expiry instant the batch is stale
    assert await delivery.owed("A") == [long]
    assert seqs(await delivery.outbox.resume("A", 0, delivery.clock.now())) == [long]
    assert await delivery.outbox.backlog(delivery.clock.now()) == 1


async def test_backlog_counts_unexpired_entries_nobody_addressed_has_acknowledged(delivery: Delivery) -> None:
    now = delivery.clock.now
    assert await delivery.outbox.backlog(now()) == 0
    [for_a] = await delivery.place(["A"])
    [shared] = await delivery.place([ALL_ACCOUNTS])
    [for_b, for_c] = await delivery.place(["B", "C"])
    assert await delivery.outbox.backlog(now()) == 4
    await delivery.outbox.ack("A", for_a)
    await delivery.outbox.ack("C", shared)  # any account's ack of an everyone-entry counts
    assert await delivery.outbox.backlog(now()) == 2
    await delivery.outbox.ack_through("B", for_b)
    assert await delivery.outbox.backlog(now()) == 1
    assert await delivery.owed("C") == [for_c]

