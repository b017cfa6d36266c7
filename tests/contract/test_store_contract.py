"""Contract of the ScanStore and BatchStore ports (core.stores), run on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.storage import SqlBatchStore, SqlOutbox, SqlScanStore, current_revision, head_revision, migrate
from adapters.storage.tables import batch_legs, batch_lines, batches, idempotency_keys, metadata, outbox
from core.batches import Leg
from core.clock import EPOCH, ManualClock
from core.scans import ScanRow
from core.stores import (
    ALL_ACCOUNTS,
    IdempotencyConflict,
    LegState,
    StoreError,
    UnknownOrderRef,
)
from core.values import Side
from tests.contract.sql_databases import DATABASES, Templates, fresh_database
from tests.contract.sql_databases import storage_templates as storage_templates  # session fixture
from tests.contract.storage_builders import make_batch, payload_of


@dataclass
class Stores:
    engine: AsyncEngine
    clock: ManualClock
    scans: SqlScanStore
    batches: SqlBatchStore
    outbox: SqlOutbox


@pytest.fixture(params=DATABASES)
async def stores(
    request: pytest.FixtureRequest, tmp_path: Path, storage_templates: Templates
) -> AsyncIterator[Stores]:
    async with fresh_database(request.param, tmp_path, storage_templates) as engine:
        clock = ManualClock()
        yield Stores(engine, clock, SqlScanStore(engine), SqlBatchStore(engine, clock),
                     SqlOutbox(engine, clock))


async def count(engine: AsyncEngine, table: object) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(select(func.count()).select_from(table))).scalar_one())  # type: ignore[arg-type]


# --- scans -------------------------------------------------------------------------------------------


def exact_rows() -> list[ScanRow]:
    return [
        ScanRow("AAPL", Decimal("187.4500"), Side.BUY, Decimal("180.0001"), Decimal("199.99999999"),
                date(2026, 3, 31), Decimal("65.50"), Decimal("27.3"), "momentum", Decimal("0.125"),
                Decimal("3.3333333333")),
        ScanRow("BRK.B", Decimal("0.0100"), Side.SELL, Decimal("0.0200"), Decimal("0.0050")),
    ]


async def test_scan_round_trip_keeps_every_digit(stores: Stores) -> None:
    rows = exact_rows()
    created = EPOCH.astimezone(timezone(timedelta(hours=2)))
    scan_id = await stores.scans.add_scan("morning scan", rows, created)
    stored = await stores.scans.get_scan(scan_id)
    assert stored is not None
    assert (stored.scan_id, stored.name, stored.rows) == (scan_id, "morning scan", tuple(rows))
    # Equal Decimals may differ in scale ("187.45" == "187.4500"); the stored ones keep it.
    assert [str(row.current_price) for row in stored.rows] == ["187.4500", "0.0100"]
    assert str(stored.rows[0].atr) == "3.3333333333" and str(stored.rows[0].win_rate) == "65.50"
    assert stored.created_at == EPOCH and stored.created_at.utcoffset() == timedelta(0)


async def test_scans_are_numbered_and_listed_newest_first(stores: Stores) -> None:
    ids = [await stores.scans.add_scan(f"scan {n}", exact_rows()[:1], EPOCH) for n in range(3)]
    assert ids == sorted(ids) and len(set(ids)) == 3
    listed = await stores.scans.list_scans(limit=2)
    assert [(s.scan_id, s.name, s.row_count) for s in listed] == [
        (ids[2], "scan 2", 1), (ids[1], "scan 1", 1),
    ]
    assert [s.scan_id for s in await stores.scans.list_scans(limit=2, offset=2)] == [ids[0]]
    assert await stores.scans.get_scan(ids[-1] + 100) is None
    with pytest.raises(ValueError, match="limit"):
        await stores.scans.list_scans(limit=0)


async def test_a_scan_without_rows_is_stored(stores: Stores) -> None:
    scan_id = await stores.scans.add_scan("empty", [], EPOCH)
    stored = await stores.scans.get_scan(scan_id)
    assert stored is not None and stored.rows == ()


# --- placing batches ---------------------------------------------------------------------------------


async def test_place_batch_stores_batch_legs_and_one_entry_per_account(stores: Stores) -> None:
    batch = make_batch("b1")
    placed = await stores.batches.place_batch(batch, ["DU111", "DU222"], payload_of(batch))
    assert placed.created
    assert placed.batch.batch == batch and placed.batch.content_hash == batch.content_hash
    assert [(e.seq, e.account) for e in placed.entries] == [(1, "DU111"), (2, "DU222")]
    assert all(e.expires_at == batch.expires_at for e in placed.entries)
    # Decimals and dates in the payload come back as strings.
    order = placed.entries[0].payload["orders"][0]  # type: ignore[index]
    assert order["quantity"] == "10" and order["stop_loss"] == "95.125"
    assert order["target_date"] == "2026-03-31"
    stored = await stores.batches.get_batch("b1")
    assert stored is not None and stored == placed.batch
    assert stored.accounts == ("DU111", "DU222") and stored.created_at == stores.clock.now()
    assert [(leg.symbol, leg.leg) for leg in stored.legs] == [
        (s, leg) for s in ("AAPL", "MSFT") for leg in (Leg.ENTRY, Leg.TAKE_PROFIT, Leg.STOP_LOSS)
    ]
    assert [leg.order_ref for leg in stored.legs] == [ref for item in batch.legs for ref in item.refs]
    assert all(leg.status is LegState.PENDING and leg.updated_at is None for leg in stored.legs)


async def test_a_batch_for_every_executor_has_one_entry(stores: Stores) -> None:
    batch = make_batch("all")
    placed = await stores.batches.place_batch(batch, [ALL_ACCOUNTS], payload_of(batch))
    assert [(e.seq, e.account) for e in placed.entries] == [(1, ALL_ACCOUNTS)]


@pytest.mark.parametrize(
    ("accounts", "problem"),
    [
        ([], "at least one"), (["A", "A"], "twice"), ([ALL_ACCOUNTS, "A"], "every executor"),
        ([" A"], "spaces"),
    ],
)
async def test_bad_target_accounts_are_refused(stores: Stores, accounts: list[str], problem: str) -> None:
    batch = make_batch("bad")
    with pytest.raises(ValueError, match=problem):
        await stores.batches.place_batch(batch, accounts, payload_of(batch))
    assert await stores.batches.get_batch("bad") is None


async def test_a_batch_id_is_placed_once(stores: Stores) -> None:
    first = make_batch("same")
    await stores.batches.place_batch(first, ["A"], payload_of(first))
    with pytest.raises(StoreError, match="already stored"):
        await stores.batches.place_batch(make_batch("same", ["TSLA"]), ["A"], {})
    nxt = make_batch("next")
    placed = await stores.batches.place_batch(nxt, ["A"], payload_of(nxt))
    assert [e.seq for e in placed.entries] == [2]  # the refused placement used no sequence number


async def _fail_outbox_inserts(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        if connection.dialect.name == "sqlite":
            await connection.execute(text(
                "CREATE TRIGGER refuse_outbox BEFORE INSERT ON outbox "
                "BEGIN SELECT RAISE(ABORT, 'outbox insert refused by test trigger'); END"
            ))
        else:
            await connection.execute(text(
                "CREATE FUNCTION refuse_outbox() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "RAISE EXCEPTION 'outbox insert refused by test trigger' USING ERRCODE = 'check_violation'; "
                "END $$"
            ))
            await connection.execute(text(
                "CREATE TRIGGER refuse_outbox BEFORE INSERT ON outbox FOR EACH ROW "
                "EXECUTE FUNCTION refuse_outbox()"
            ))


async def test_when_the_outbox_insert_fails_nothing_of_the_batch_is_stored(stores: Stores) -> None:
    batch = make_batch("atomic")
    await _fail_outbox_inserts(stores.engine)
    with pytest.raises(StoreError, match="nothing of it was"):
        await stores.batches.place_batch(batch, ["A"], payload_of(batch), "key-1", "hash-1")
    assert await stores.batches.get_batch("atomic") is None
    for table in (batches, batch_lines, batch_legs, outbox, idempotency_keys):
        assert await count(stores.engine, table) == 0, table.name
    async with stores.engine.begin() as connection:
        await connection.execute(text("DROP TRIGGER refuse_outbox" + (
            "" if connection.dialect.name == "sqlite" else " ON outbox")))
    placed = await stores.batches.place_batch(batch, ["A"], payload_of(batch), "key-1", "hash-1")
    assert placed.created and [e.seq for e in placed.entries] == [1]


async def test_a_changed_row_is_caught_by_the_content_hash(stores: Stores) -> None:
    batch = make_batch("tamper")
    await stores.batches.place_batch(batch, ["A"], payload_of(batch))
    async with stores.engine.begin() as connection:
        await connection.execute(update(batch_lines).values(quantity=Decimal(5000)))
    with pytest.raises(StoreError, match="content hash"):
        await stores.batches.get_batch("tamper")


# --- idempotency -------------------------------------------------------------------------------------


async def test_the_same_key_and_body_return_the_first_batch(stores: Stores) -> None:
    first = make_batch("first")
    placed = await stores.batches.place_batch(first, ["A"], payload_of(first), "key", "h1")
    retry = make_batch("retry")  # a retry gets a fresh batch id from the use case
    again = await stores.batches.place_batch(retry, ["A"], payload_of(retry), "key", "h1")
    assert not again.created
    assert again.batch == placed.batch and again.entries == placed.entries
    assert await stores.batches.get_batch("retry") is None
    assert await count(stores.engine, outbox) == 1


async def test_the_same_key_with_another_body_conflicts(stores: Stores) -> None:
    first = make_batch("first")
    await stores.batches.place_batch(first, ["A"], payload_of(first), "key", "h1")
    other = make_batch("other")
    with pytest.raises(IdempotencyConflict, match=r"'key'.*batch first") as raised:
        await stores.batches.place_batch(other, ["A"], payload_of(other), "key", "h2")
    assert raised.value.batch_id == "first"
    assert await stores.batches.get_batch("other") is None
    with pytest.raises(ValueError, match="request_hash"):
        await stores.batches.place_batch(other, ["A"], payload_of(other), "key2", None)


async def test_concurrent_retries_with_one_key_create_one_batch(stores: Stores) -> None:
    attempts = [make_batch(f"try{n}") for n in range(4)]
    placed = await asyncio.gather(*(
        stores.batches.place_batch(b, ["A"], payload_of(b), "one-key", "same-hash") for b in attempts
    ))
    assert sum(p.created for p in placed) == 1
    assert len({p.batch.batch_id for p in placed}) == 1
    assert await count(stores.engine, outbox) == 1


async def test_concurrent_placements_get_distinct_increasing_sequence_numbers(stores: Stores) -> None:
    many = [make_batch(f"c{n}") for n in range(12)]
    placed = await asyncio.gather(*(
        stores.batches.place_batch(b, ["A", "B"], payload_of(b)) for b in many
    ))
    seqs = sorted(entry.seq for p in placed for entry in p.entries)
    assert seqs == list(range(1, 25))  # distinct and without gaps
    for p in placed:  # one batch's entries are consecutive: nobody interleaved within a placement
        assert [e.seq for e in p.entries] == [p.entries[0].seq, p.entries[0].seq + 1]
    pending = await stores.outbox.pending("A", 0, stores.clock.now())
    assert [e.seq for e in pending] == sorted(e.seq for p in placed for e in p.entries if e.account == "A")


async def test_list_batches_newest_first(stores: Stores) -> None:
    for n in range(3):
        b = make_batch(f"l{n}")
        await stores.batches.place_batch(b, ["A"], payload_of(b))
        stores.clock.advance(60)
    assert [b.batch_id for b in await stores.batches.list_batches(limit=2)] == ["l2", "l1"]
    assert await stores.batches.get_batch("nope") is None


# --- leg statuses ------------------------------------------------------------------------------------


async def _placed_ref(stores: Stores) -> str:
    batch = make_batch("legs")
    await stores.batches.place_batch(batch, ["A"], payload_of(batch))
    return batch.legs[0].entry_ref


async def test_leg_status_moves_forward_and_keeps_its_history(stores: Stores) -> None:
    ref = await _placed_ref(stores)
    t = stores.clock.now()
    record = stores.batches.record_leg_status
    working = await record("legs", ref, LegState.WORKING, Decimal(0), Decimal(0), "", t)
    assert (working.status, working.updated_at) == (LegState.WORKING, t)
    part = await record("legs", ref, LegState.PARTIALLY_FILLED, Decimal(4), Decimal("100.10"), "", t + DT)
    assert (part.status, part.filled) == (LegState.PARTIALLY_FILLED, Decimal(4))
    assert str(part.avg_price) == "100.10"
    filled = await record("legs", ref, LegState.FILLED, Decimal(10), Decimal("100.175"), "done", t + 2 * DT)
    late = await record("legs", ref, LegState.WORKING, Decimal(0), Decimal(0), "", t + 3 * DT)
    assert late == filled and late.status is LegState.FILLED and late.message == "done"
    assert str(late.avg_price) == "100.175" and late.updated_at == t + 2 * DT
    history = await stores.batches.leg_history("legs", ref)
    assert [(h.status, h.filled) for h in history] == [
        (LegState.WORKING, Decimal(0)), (LegState.PARTIALLY_FILLED, Decimal(4)),
        (LegState.FILLED, Decimal(10)),
    ]  # the late 'working' repeats the first report exactly, so it is not stored twice
    stored = await stores.batches.get_batch("legs")
    assert stored is not None and stored.legs[0] == filled


async def test_the_same_report_twice_changes_nothing(stores: Stores) -> None:
    ref = await _placed_ref(stores)
    t = stores.clock.now()
    record = stores.batches.record_leg_status
    first = await record("legs", ref, LegState.WORKING, Decimal(0), Decimal(0), "", t)
    # The wire's status string is accepted too; 0 and 0.00 are the same price.
    again = await record("legs", ref, "working", Decimal(0), Decimal("0.00"), "", t + DT)  # type: ignore[arg-type]
    assert again == first
    assert len(await stores.batches.leg_history("legs", ref)) == 1


async def test_an_older_report_with_fewer_fills_does_not_regress(stores: Stores) -> None:
    ref = await _placed_ref(stores)
    t = stores.clock.now()
    record = stores.batches.record_leg_status
    await record("legs", ref, LegState.PARTIALLY_FILLED, Decimal(6), Decimal(100), "", t)
    kept = await record("legs", ref, LegState.PARTIALLY_FILLED, Decimal(3), Decimal(100), "", t + DT)
    assert kept.filled == 6
    error = await record("legs", ref, LegState.ERROR, Decimal(6), Decimal(100), "IB 201", t + 2 * DT)
    assert error.status is LegState.ERROR
    routine = await record("legs", ref, LegState.WORKING, Decimal(6), Decimal(100), "", t + 3 * DT)
    assert routine.status is LegState.ERROR  # an error stays visible until the leg fills more or ends
    more = await record("legs", ref, LegState.PARTIALLY_FILLED, Decimal(8), Decimal(100), "", t + 4 * DT)
    assert (more.status, more.filled) == (LegState.PARTIALLY_FILLED, Decimal(8))
    assert len(await stores.batches.leg_history("legs", ref)) == 5


async def test_reports_for_unknown_legs_are_refused(stores: Stores) -> None:
    ref = await _placed_ref(stores)
    t = stores.clock.now()
    with pytest.raises(UnknownOrderRef, match="no leg 'tb:legs:NOPE:E'"):
        await stores.batches.record_leg_status("legs", "tb:legs:NOPE:E", LegState.WORKING, Decimal(0),
                                               Decimal(0), "", t)
    with pytest.raises(UnknownOrderRef, match="batch other"):
        await stores.batches.record_leg_status("other", ref, LegState.WORKING, Decimal(0), Decimal(0), "", t)
    with pytest.raises(ValueError, match="0 or more"):
        await stores.batches.record_leg_status("legs", ref, LegState.FILLED, Decimal(-1), Decimal(0), "", t)
    with pytest.raises(UnknownOrderRef):
        await stores.batches.leg_history("legs", "tb:legs:NOPE:E")


# --- migrations --------------------------------------------------------------------------------------


async def test_migrations_run_twice_are_a_no_op(stores: Stores) -> None:
    scan_id = await stores.scans.add_scan("kept", exact_rows(), EPOCH)
    assert await current_revision(stores.engine) == head_revision()
    assert await migrate(stores.engine) == head_revision()
    assert await current_revision(stores.engine) == head_revision()
    stored = await stores.scans.get_scan(scan_id)
    assert stored is not None and stored.rows == tuple(exact_rows())


async def test_the_migrated_schema_matches_the_tables_the_stores_use(stores: Stores) -> None:
    async with stores.engine.connect() as connection:
        differences = await connection.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync), metadata)
        )
    assert differences == []


DT = timedelta(seconds=1)
