"""Contract of `BatchStore.record_leg_statuses` (many reports, one transaction), on SQLite and
PostgreSQL: the same outcome as `record_leg_status` called once per report, in order."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.storage import SqlBatchStore
from adapters.storage.tables import leg_reports
from core.clock import ManualClock
from core.stores import LegReport, LegState, LegStatus, UnknownOrderRef
from core.values import OrderRef
from tests.contract.sql_databases import DATABASES, Templates, fresh_database
from tests.contract.sql_databases import storage_templates as storage_templates  # session fixture
from tests.contract.storage_builders import make_batch, payload_of

DT = timedelta(seconds=1)
STATES = [state for state in LegState if state is not LegState.PENDING]


@pytest.fixture(params=DATABASES)
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, storage_templates: Templates
) -> AsyncIterator[tuple[SqlBatchStore, ManualClock, AsyncEngine]]:
    async with fresh_database(request.param, tmp_path, storage_templates) as engine:
        clock = ManualClock()
        yield SqlBatchStore(engine, clock), clock, engine


async def _place(batches: SqlBatchStore, batch_id: str) -> list[str]:
    batch = make_batch(batch_id, ["AAPL", "MSFT"])
    await batches.place_batch(batch, ["A"], payload_of(batch))
    return [ref for line in batch.legs for ref in (line.entry_ref, line.take_profit_ref, line.stop_loss_ref)]


def _report(
    ref: str, status: LegState, filled: str, price: str, at: datetime, message: str = ""
) -> LegReport:
    return LegReport(OrderRef(ref), status, Decimal(filled), Decimal(price), message, at)


async def _reports_stored(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(select(func.count()).select_from(leg_reports))).scalar_one())


async def test_a_batch_of_reports_moves_each_leg_forward_in_one_call(
    store: tuple[SqlBatchStore, ManualClock, AsyncEngine],
) -> None:
    batches, clock, _ = store
    entry, take_profit, stop_loss, *_ = await _place(batches, "legs")
    t = clock.now()
    outcomes = await batches.record_leg_statuses([
        ("legs", _report(entry, LegState.SUBMITTED, "0", "0", t)),
        ("legs", _report(take_profit, LegState.SUBMITTED, "0", "0", t)),
        ("legs", _report(entry, LegState.PARTIALLY_FILLED, "4", "100.10", t + DT)),
        ("legs", _report(entry, LegState.FILLED, "10", "100.175", t + 2 * DT, "done")),
        ("legs", _report(entry, LegState.WORKING, "0", "0", t + 3 * DT)),  # late: kept in history only
        ("legs", _report(stop_loss, LegState.WORKING, "0", "0", t + 3 * DT)),
    ])
    assert all(isinstance(outcome, LegStatus) for outcome in outcomes)
    filled = outcomes[3]
    assert isinstance(filled, LegStatus)
    assert (filled.status, filled.filled, str(filled.avg_price), filled.message, filled.updated_at) == (
        LegState.FILLED, Decimal(10), "100.175", "done", t + 2 * DT
    )
    assert outcomes[4] == filled
    stored = await batches.get_batch("legs")
    assert stored is not None
    assert stored.legs[0] == filled
    assert [leg.status for leg in stored.legs[:3]] == [LegState.FILLED, LegState.SUBMITTED, LegState.WORKING]
    assert stored.legs[1] == outcomes[1] and stored.legs[2] == outcomes[5]
    history = await batches.leg_history("legs", entry)
    assert [(h.status, h.filled) for h in history] == [
        (LegState.SUBMITTED, Decimal(0)), (LegState.PARTIALLY_FILLED, Decimal(4)),
        (LegState.FILLED, Decimal(10)), (LegState.WORKING, Decimal(0)),
    ]


async def test_the_same_report_again_changes_nothing_within_and_across_batches(
    store: tuple[SqlBatchStore, ManualClock, AsyncEngine],
) -> None:
    batches, clock, engine = store
    entry, *_ = await _place(batches, "legs")
    t = clock.now()
    first = await batches.record_leg_statuses([
        ("legs", _report(entry, LegState.WORKING, "0", "0", t)),
        ("legs", _report(entry, LegState.WORKING, "0", "0.00", t + DT)),  # 0 and 0.00 are one price
    ])
    again = await batches.record_leg_statuses(
        [("legs", _report(entry, LegState.WORKING, "0.0", "0", t + DT))]
    )
    assert first[0] == first[1] == again[0]
    assert await _reports_stored(engine) == 1


async def test_a_stored_leg_a_frame_does_not_move_comes_back_exactly_as_stored(
    store: tuple[SqlBatchStore, ManualClock, AsyncEngine],
) -> None:
    """A frame reads each leg's row as stored and builds its LegStatus only when a report leaves
    it where it was: that LegStatus must be the stored one, numbers (with their exponents) and
    time included, whether the report is old news or a repeat."""
    batches, clock, engine = store
    entry, take_profit, *_ = await _place(batches, "legs")
    t = clock.now()
    await batches.record_leg_statuses([
        ("legs", _report(entry, LegState.FILLED, "10.0", "100.50", t, "done")),
        ("legs", _report(take_profit, LegState.WORKING, "0", "0", t)),
    ])
    stored = await batches.get_batch("legs")
    assert stored is not None
    stored_entry, stored_take_profit = stored.legs[0], stored.legs[1]
    outcomes = await batches.record_leg_statuses([
        ("legs", _report(entry, LegState.WORKING, "0", "0", t + DT)),  # late: history only
        ("legs", _report(take_profit, LegState.WORKING, "0", "0", t + DT)),  # a repeat: nothing
        ("legs", _report(take_profit, LegState.SUBMITTED, "0", "0", t + 2 * DT)),  # behind: history
    ])
    assert outcomes == [stored_entry, stored_take_profit, stored_take_profit]
    entry_outcome = outcomes[0]
    assert isinstance(entry_outcome, LegStatus)
    assert (str(entry_outcome.filled), str(entry_outcome.avg_price), entry_outcome.updated_at) == (
        "10.0", "100.50", t
    )
    assert entry_outcome.updated_at is not None and entry_outcome.updated_at.utcoffset() == timedelta(0)
    assert await batches.get_batch("legs") == stored
    assert await _reports_stored(engine) == 4


async def test_unknown_legs_are_returned_and_the_rest_is_stored(
    store: tuple[SqlBatchStore, ManualClock, AsyncEngine],
) -> None:
    batches, clock, _ = store
    entry, *_ = await _place(batches, "legs")
    t = clock.now()
    outcomes = await batches.record_leg_statuses([
        ("legs", _report("tb:legs:NOPE:E", LegState.WORKING, "0", "0", t)),
        ("other", _report(entry, LegState.WORKING, "0", "0", t)),  # the leg is not in batch `other`
        ("legs", _report(entry, LegState.WORKING, "0", "0", t)),
    ])
    assert isinstance(outcomes[0], UnknownOrderRef) and "NOPE" in str(outcomes[0])
    assert isinstance(outcomes[1], UnknownOrderRef) and "batch other" in str(outcomes[1])
    assert isinstance(outcomes[2], LegStatus) and outcomes[2].status is LegState.WORKING
    assert await batches.record_leg_statuses([]) == []


async def test_a_negative_number_stores_nothing_of_the_batch(
    store: tuple[SqlBatchStore, ManualClock, AsyncEngine],
) -> None:
    batches, clock, engine = store
    entry, take_profit, *_ = await _place(batches, "legs")
    t = clock.now()
    with pytest.raises(ValueError, match="0 or more"):
        await batches.record_leg_statuses([
            ("legs", _report(entry, LegState.WORKING, "0", "0", t)),
            ("legs", _report(take_profit, LegState.FILLED, "-1", "0", t)),
        ])
    assert await _reports_stored(engine) == 0


def _random_reports(refs: Sequence[str], seed: int, start: datetime) -> list[LegReport]:
    draw = random.Random(seed)
    reports = []
    for number in range(40):
        ref = draw.choice(refs)
        filled = draw.choice(["0", "3", "3.0", "6", "10"])
        price = "0" if filled == "0" else draw.choice(["100.5", "100.50", "101"])
        message = draw.choice(["", "", "IB 201"])
        reports.append(_report(ref, draw.choice(STATES), filled, price, start + number * DT, message))
    return reports


@pytest.mark.parametrize("seed", range(6))
async def test_one_batch_ends_where_one_report_at_a_time_ends(
    store: tuple[SqlBatchStore, ManualClock, AsyncEngine], seed: int
) -> None:
    """The same reports, in the same order, one at a time to batch `single` and in two frames to
    batch `many`: the same latest statuses, returned values and histories."""
    batches, clock, _ = store
    single, many = await _place(batches, "single"), await _place(batches, "many")
    reports = _random_reports([str(index) for index in range(len(single))], seed, clock.now())

    def as_ref(refs: list[str], report: LegReport) -> LegReport:
        return LegReport(OrderRef(refs[int(report.order_ref)]), report.status, report.filled,
                         report.avg_price, report.message, report.reported_at)

    one_by_one = [
        await batches.record_leg_status("single", r.order_ref, r.status, r.filled, r.avg_price, r.message,
                                        r.reported_at)
        for r in (as_ref(single, report) for report in reports)
    ]
    framed = [("many", as_ref(many, report)) for report in reports]
    together = [
        *await batches.record_leg_statuses(framed[:25]),
        *await batches.record_leg_statuses(framed[25:]),
    ]

    def comparable(leg: object) -> tuple[object, ...]:
        assert isinstance(leg, LegStatus)
        return (leg.status, leg.filled, leg.avg_price, leg.message, leg.updated_at, leg.symbol, leg.leg)

    assert [comparable(leg) for leg in together] == [comparable(leg) for leg in one_by_one]
    stored_single, stored_many = await batches.get_batch("single"), await batches.get_batch("many")
    assert stored_single is not None and stored_many is not None
    assert [comparable(leg) for leg in stored_many.legs] == [comparable(leg) for leg in stored_single.legs]
    for ref_single, ref_many in zip(single, many, strict=True):
        history_single = await batches.leg_history("single", ref_single)
        history_many = await batches.leg_history("many", ref_many)
        assert [(h.status, h.filled, h.avg_price, h.message, h.reported_at) for h in history_many] == [
            (h.status, h.filled, h.avg_price, h.message, h.reported_at) for h in history_single
        ]
