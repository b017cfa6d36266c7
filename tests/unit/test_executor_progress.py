"""The console's batch progress (entrypoints.executor.progress): a line per batch when it changes,
counted again only for batches whose leg records changed."""

from __future__ import annotations

from dataclasses import replace

from core.journal import LegRecord, LegRole, LegStatus, Placement
from core.values import BatchId
from entrypoints.executor.progress import ProgressLog
from tests.fakes.orders import bracket


def legs(batch_id: str, symbol: str) -> list[LegRecord]:
    order = bracket(f"tb:{batch_id}:{symbol}:E", symbol=symbol, entry=100)
    roles = (LegRole.ENTRY, LegRole.TAKE_PROFIT, LegRole.STOP_LOSS)
    return [LegRecord(leg.order_ref, BatchId(batch_id), order.entry.order_ref, role, leg)
            for leg, role in zip(order.legs, roles, strict=True)]


def test_only_changed_batches_are_logged_again() -> None:
    log = ProgressLog()
    journal = legs("B1", "AAA") + legs("B1", "BBB") + legs("B2", "CCC")
    assert log.changes(journal) == ["batch B1: 0/2 placed, 0 filled", "batch B2: 0/1 placed, 0 filled"]
    assert log.changes(journal) == []
    journal[0] = replace(journal[0], placement=Placement.SENT, status=LegStatus.FILLED)
    assert log.changes(journal) == ["batch B1: 1/2 placed, 1 filled; 1 open with a working stop"]
    journal[6] = replace(journal[6])  # a new record, equal to the old one: the line is the same
    assert log.changes(journal) == []
    journal[2] = replace(journal[2], placement=Placement.SENT, status=LegStatus.FILLED)
    journal += legs("B3", "DDD")
    assert log.changes(journal) == [
        "batch B1: 1/2 placed, 1 filled; closed: 0 at target, 1 at stop",
        "batch B3: 0/1 placed, 0 filled",
    ]
