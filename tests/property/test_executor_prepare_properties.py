"""The crash-safety properties of `test_executor_properties`, with batches delivered the way the
executor process delivers them: `receive_and_prepare` (the batch journaled with its brackets
gated and `sending`, before its acknowledgement), then, later, `place_pending` (the broker
calls). Same histories, same crash points, same checks: nothing placed twice, nothing lost,
nothing sent after its batch expired, never naked, every fill once."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given

from core.order_status import OrderStatus
from core.service_layer.executor.intake import IntakeOutcome
from core.service_layer.executor.service import ExecutorService
from tests.property.test_executor_properties import (
    BATCHES,
    VENUES,
    Outcome,
    Point,
    Step,
    World,
    _check,
    steps,
)
from tests.property.test_executor_properties import _play as _play_with


class PreparingWorld(World):
    """The link's part of the executor's loop: journal and prepare, acknowledge. Placing is the
    worker's, later: the history's "place" steps (and the end), so that anything may come in
    between (a halt, a reconnect, market moves, a crash)."""

    async def deliver(self, index: int) -> None:
        async def receive(executor: ExecutorService) -> None:
            result = await executor.receive_and_prepare(BATCHES[index], index + 1)
            assert result.ack_seq == index + 1
            assert result.outcome in (IntakeOutcome.ACCEPTED, IntakeOutcome.DUPLICATE, IntakeOutcome.EXPIRED)
        await self.run(receive)


async def _play(history: list[Step], venue: str) -> Outcome:
    return await _play_with(history, venue, PreparingWorld)


@pytest.mark.parametrize("venue", sorted(VENUES))
@given(history=steps)
def test_prepared_batches_are_placed_once_none_lost_none_naked_every_fill_once(
    venue: str, history: list[Step]
) -> None:
    _check(asyncio.run(_play(history, venue)))


@pytest.mark.parametrize("venue", sorted(VENUES))
@pytest.mark.parametrize("point", list(Point))
def test_a_crash_at_every_point_of_a_prepared_batch_is_survived(venue: str, point: Point) -> None:
    history: list[Step] = [("price", None, "AAA", 100), ("next", point), ("place", point),
                           ("restart", None), ("place", None), ("price", None, "AAA", 100),
                           ("price", None, "AAA", 85)]
    outcome = asyncio.run(_play(history, venue))
    assert outcome.world.crashes >= 2, f"{point.value}: the crash was not reached"
    _check(outcome)
    sl = next(ref for ref in outcome.orders if ref.endswith("B1:AAA:SL"))
    assert outcome.orders[sl].status in (OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED)


def test_a_halt_between_preparing_and_placing_refuses_the_entries() -> None:
    history: list[Step] = [("next", None), ("halt", None), ("place", None), ("resume", None), ("place", None)]
    outcome = asyncio.run(_play(history, "fake"))
    _check(outcome)  # B1 refused while halted (reported), B2 and B3 placed once resumed
    assert outcome.world.broker.sent["tb:B1:AAA:E"] == 0
