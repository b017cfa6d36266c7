"""The console's batch progress (entrypoints.executor.progress): a line per batch when it changes,
counted again only for batches whose leg records changed."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import replace

from core.journal import LegRecord, LegRole, LegStatus, Placement
from core.values import BatchId
from entrypoints.executor.progress import BatchProgress, ProgressLog, progress
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


def counted_plainly(journal: list[LegRecord]) -> list[BatchProgress]:
    """`progress` as first written (a Counter per batch): the reference for the faster count."""
    counts: dict[str, Counter[str]] = {}
    for leg in journal:
        count = counts.setdefault(leg.batch_id, Counter())
        if leg.role is LegRole.ENTRY:
            count["orders"] += 1
            if leg.placement in (Placement.SENDING, Placement.SENT):
                count["placed"] += 1
            if leg.status is LegStatus.REJECTED or leg.placement in (Placement.SKIPPED, Placement.FAILED):
                count["rejected"] += 1
            if leg.status is LegStatus.FILLED:
                count["filled"] += 1
        elif leg.status is LegStatus.FILLED:
            if leg.role is LegRole.TAKE_PROFIT:
                count["at_target"] += 1
            elif leg.role.is_stop or leg.role is LegRole.FLATTEN:
                count["at_stop"] += 1
    names = ("orders", "placed", "filled", "rejected", "at_target", "at_stop")
    return [BatchProgress(batch_id, *(count[name] for name in names)) for batch_id, count in counts.items()]


def test_every_role_placement_and_status_is_counted_as_plainly_counted() -> None:
    draw = random.Random(5)
    for _ in range(200):
        journal = []
        for number in range(draw.randrange(1, 12)):
            leg = legs(draw.choice(["B1", "B2", "B3"]), f"S{number}")[0]
            role, placement = draw.choice(list(LegRole)), draw.choice(list(Placement))
            journal.append(replace(leg, role=role, placement=placement, status=draw.choice(list(LegStatus))))
        assert progress(journal) == counted_plainly(journal)
