"""The journal's records made per leg and per broker event (`LegRecord`, `StatusReport`,
`JournalStep`) are built through writable twins and factory functions (`make_leg`, `make_report`):
what comes out must be an ordinary frozen, slotted instance, equal to what the generated code made."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from core.journal import (
    BatchState,
    JournalStep,
    LegRecord,
    LegRole,
    LegStatus,
    Placement,
    StatusReport,
    make_leg,
    make_report,
)
from core.values import ZERO, BatchId, OrderRef
from tests.fakes.orders import bracket

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
REQUEST = bracket("tb:B1:AAA:E").entry
REF, BATCH = OrderRef("tb:B1:AAA:E"), BatchId("B1")


def values() -> list[object]:
    leg = LegRecord(REF, BATCH, REF, LegRole.ENTRY, REQUEST)
    report = StatusReport("s1", BATCH, REF, "AAA", LegStatus.RECEIVED, T0)
    return [
        leg,
        LegRecord(
            REF,
            BATCH,
            REF,
            LegRole.ENTRY,
            REQUEST,
            Placement.SENT,
            LegStatus.FILLED,
            Decimal(3),
            Decimal("9.5"),
            "done",
        ),
        make_leg(
            REF, BATCH, REF, LegRole.STOP_LOSS, REQUEST, Placement.SENDING, LegStatus.WORKING, ZERO, ZERO, ""
        ),
        report,
        StatusReport("s2", BATCH, REF, "AAA", LegStatus.FILLED, T0, Decimal(3), Decimal("9.5"), "m", True),
        make_report("s3", BATCH, REF, "AAA", LegStatus.WORKING, T0, ZERO, ZERO, ""),
        JournalStep(),
        JournalStep(((BATCH, BatchState.PLACED, ""),), (leg,), (), (report,)),
    ]


@pytest.mark.parametrize("value", values(), ids=lambda value: type(value).__name__)
def test_values_come_out_frozen_slotted_and_of_their_own_class(value: Any) -> None:
    assert type(value) in {LegRecord, StatusReport, JournalStep}, "a writable twin leaked out"
    assert not hasattr(value, "__dict__")
    field = dataclasses.fields(value)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(value, field, getattr(value, field))


@pytest.mark.parametrize("value", values(), ids=lambda value: type(value).__name__)
def test_values_compare_hash_copy_pickle_and_replace_as_dataclasses(value: Any) -> None:
    fields = {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}
    assert type(value)(**fields) == value
    assert hash(type(value)(**fields)) == hash(value)
    assert copy.copy(value) == value and copy.deepcopy(value) == value
    assert pickle.loads(pickle.dumps(value)) == value
    assert dataclasses.replace(value) == value


def test_defaults_and_factories_give_what_the_fields_say() -> None:
    leg = LegRecord(REF, BATCH, REF, LegRole.ENTRY, REQUEST)
    assert (leg.placement, leg.status, leg.filled, leg.avg_price, leg.message) == (
        Placement.PENDING,
        LegStatus.RECEIVED,
        ZERO,
        ZERO,
        "",
    )
    assert (
        make_leg(
            REF, BATCH, REF, LegRole.ENTRY, REQUEST, Placement.PENDING, LegStatus.RECEIVED, ZERO, ZERO, ""
        )
        == leg
    )
    report = StatusReport("s1", BATCH, REF, "AAA", LegStatus.RECEIVED, T0)
    assert (report.filled, report.avg_price, report.message, report.acked) == (ZERO, ZERO, "", False)
    assert make_report("s1", BATCH, REF, "AAA", LegStatus.RECEIVED, T0, ZERO, ZERO, "") == report
    assert JournalStep() == JournalStep((), (), (), ())
    assert JournalStep(legs=(leg,)).legs == (leg,)
