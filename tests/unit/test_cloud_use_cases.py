"""The cloud use cases over in-memory fakes: scans, preview, place (one store call, idempotency,
expiry, file, notification) and status reports."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from core.batches import PlanError
from core.plans import Modification
from core.risk import RiskLimits
from core.service_layer.cloud import (
    InvalidScan,
    PlaceOrders,
    StatusReport,
    UnknownScan,
    add_scan,
    place_modified_orders,
    preview_scan,
    record_status,
)
from core.stores import IdempotencyConflict, LegState, StoreError, UnknownOrderRef
from tests.fakes.cloud import CloudWorld

ROWS: list[dict[str, object]] = [
    {
        "symbol": "AAPL",
        "current_price": "200",
        "side": "Buy",
        "stop_loss": "190",
        "take_profit": "220",
        "target_date": "2026-03-31",
        "win_rate": 65,
        "adx": 27,
        "strategy": "momentum",
    },
    {"symbol": "MSFT", "current_price": "400", "side": "Sell", "stop_loss": "420", "take_profit": "380"},
]


async def world_with_scan(**kwargs: object) -> tuple[CloudWorld, int]:
    world = CloudWorld(**kwargs)  # type: ignore[arg-type]
    return world, await add_scan(world.scans, world.clock, "test", ROWS)


async def test_add_scan_stores_valid_rows_and_names_every_bad_row_and_field() -> None:
    world, scan_id = await world_with_scan()
    stored = await world.scans.get_scan(scan_id)
    assert stored is not None and [row.symbol for row in stored.rows] == ["AAPL", "MSFT"]
    bad = [dict(ROWS[0]), {**ROWS[1], "stop_loss": "390", "side": "Hold"}]
    with pytest.raises(InvalidScan) as caught:
        await add_scan(world.scans, world.clock, None, bad)
    assert {(e.row, e.field) for e in caught.value.errors} == {(2, "side")}
    assert len(world.scans.scans) == 1


async def test_add_scan_refuses_an_empty_scan() -> None:
    world = CloudWorld()
    with pytest.raises(InvalidScan, match="at least one row"):
        await add_scan(world.scans, world.clock, "empty", [])


async def test_preview_sizes_with_the_fixed_investment_and_checks_risk() -> None:
    world, scan_id = await world_with_scan()
    preview = await preview_scan(world.deps, scan_id)
    assert [line.position_size for line in preview.lines] == [Decimal(50), Decimal(25)]
    assert all(line.risk.approved for line in preview.lines)
    with pytest.raises(UnknownScan):
        await preview_scan(world.deps, 999)


async def test_place_stores_once_notifies_once_and_writes_the_file() -> None:
    world, scan_id = await world_with_scan()
    result = await place_modified_orders(
        world.deps, PlaceOrders(scan_id, (Modification("aapl", Decimal(150)),))
    )
    assert result.created and world.batches.place_calls == 1
    batch = result.batch.batch
    assert [(line.symbol, line.quantity) for line in batch.legs] == [
        ("AAPL", Decimal(150)),
        ("MSFT", Decimal(25)),
    ]
    assert batch.expires_at - batch.approved_at == timedelta(hours=24)
    assert [entry.seq for entry in result.entries] == [1]
    assert world.notifier.placed == [world.notifier.placed[0]] and len(world.notifier.placed) == 1
    payload = result.entries[0].payload
    assert payload["batch_id"] == batch.batch_id and payload["file"] == {
        "name": result.file_name,
        "download_url": result.download_url,
    }
    orders = payload["orders"]
    assert isinstance(orders, list) and orders[0]["order_ref"] == f"tb:{batch.batch_id}:AAPL:E"
    rows = world.files.saved[result.file_name]
    assert [(row.symbol, row.position, row.investment) for row in rows] == [
        ("AAPL", Decimal(150), Decimal(30000)),
        ("MSFT", Decimal(25), Decimal(10000)),
    ]


async def test_the_batch_expiry_is_configurable() -> None:
    world, scan_id = await world_with_scan(expiry=timedelta(hours=2))
    result = await place_modified_orders(world.deps, PlaceOrders(scan_id))
    assert result.batch.batch.expires_at == world.clock.now() + timedelta(hours=2)


async def test_a_size_of_zero_drops_the_symbol() -> None:
    world, scan_id = await world_with_scan()
    result = await place_modified_orders(
        world.deps, PlaceOrders(scan_id, (Modification("MSFT", Decimal(0)),))
    )
    assert [line.symbol for line in result.batch.batch.legs] == ["AAPL"]


async def test_a_line_rejected_by_risk_stores_nothing() -> None:
    world, scan_id = await world_with_scan(limits=RiskLimits(max_order_quantity=Decimal(100)))
    with pytest.raises(PlanError, match="AAPL"):
        await place_modified_orders(world.deps, PlaceOrders(scan_id, (Modification("AAPL", Decimal(101)),)))
    with pytest.raises(PlanError, match="whole number"):
        await place_modified_orders(world.deps, PlaceOrders(scan_id, (Modification("AAPL", Decimal(-1)),)))
    assert world.batches.place_calls == 0 and world.notifier.placed == [] and world.files.saved == {}


async def test_same_idempotency_key_and_body_returns_the_same_batch_and_creates_nothing() -> None:
    world, scan_id = await world_with_scan()
    command = PlaceOrders(scan_id, (Modification("AAPL", Decimal(10)),), idempotency_key="key-1")
    first = await place_modified_orders(world.deps, command)
    again = await place_modified_orders(world.deps, command)
    assert not again.created and again.batch.batch_id == first.batch.batch_id
    assert len(world.batches.batches) == 1 and len(world.outbox.entries) == 1
    assert len(world.notifier.placed) == 1 and again.delivery.state == "already_placed"
    different = PlaceOrders(scan_id, (Modification("AAPL", Decimal(11)),), idempotency_key="key-1")
    with pytest.raises(IdempotencyConflict):
        await place_modified_orders(world.deps, different)


async def test_a_failed_store_sends_nothing_and_writes_no_file() -> None:
    world, scan_id = await world_with_scan()
    world.batches.fail_next = StoreError("disk full")
    with pytest.raises(StoreError):
        await place_modified_orders(world.deps, PlaceOrders(scan_id))
    assert world.notifier.placed == [] and world.files.saved == {} and world.outbox.entries == []


async def test_a_file_that_cannot_be_written_leaves_the_batch_placed_and_says_so() -> None:
    world, scan_id = await world_with_scan()
    world.files.fail_with = OSError("no space left")
    result = await place_modified_orders(world.deps, PlaceOrders(scan_id))
    assert result.created and result.file_error is not None and "no space left" in result.file_error
    assert len(world.notifier.placed) == 1


async def test_record_status_stores_reports_and_refuses_unknown_legs_and_statuses() -> None:
    world, scan_id = await world_with_scan()
    result = await place_modified_orders(world.deps, PlaceOrders(scan_id))
    batch = result.batch.batch
    ref = batch.legs[0].entry_ref
    leg = await record_status(
        world.deps, StatusReport(batch.batch_id, ref, "filled", Decimal(50), Decimal("200.5"))
    )
    assert leg.status is LegState.FILLED and leg.filled == Decimal(50)
    late = await record_status(
        world.deps, StatusReport(batch.batch_id, ref, "working", Decimal(0), Decimal(0))
    )
    assert late.status is LegState.FILLED
    with pytest.raises(ValueError, match="not one of"):
        await record_status(world.deps, StatusReport(batch.batch_id, ref, "done", Decimal(0), Decimal(0)))
    with pytest.raises(ValueError, match="0 or more"):
        await record_status(world.deps, StatusReport(batch.batch_id, ref, "filled", Decimal(-1), Decimal(0)))
    with pytest.raises(UnknownOrderRef):
        await record_status(
            world.deps, StatusReport(batch.batch_id, "tb:x:Y:E", "filled", Decimal(1), Decimal(1))
        )


def test_the_request_hash_ignores_spelling_but_not_meaning() -> None:
    one = PlaceOrders(1, (Modification("aapl", Decimal("10.0")),))
    same = PlaceOrders(1, (Modification("AAPL ", Decimal(10)),))
    other = PlaceOrders(1, (Modification("AAPL", Decimal(11)),))
    assert one.request_hash == same.request_hash != other.request_hash
