"""The executor's own risk gate: whatever the cloud sent, a bracket whose entry breaks the
executor's limits or trading state never reaches the broker, and every reason is reported."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from core.batches import Leg, leg_ref
from core.clock import EPOCH, ManualClock, SequentialIds
from core.journal import BatchState, LegStatus, Placement
from core.risk import RiskLimits
from core.service_layer.executor.service import ExecutorService
from core.service_layer.executor.settings import ExecutorSettings
from core.values import BatchId, Side
from tests.fakes.broker import FakeBroker
from tests.fakes.journal import InMemoryJournal, wire_batch, wire_order

NONE = RiskLimits.unlimited()


class World:
    """A started executor on a fake broker and an in-memory journal."""

    def __init__(self, limits: RiskLimits) -> None:
        self.clock = ManualClock()
        self.broker = FakeBroker(self.clock, cash=Decimal(10_000_000))
        self.journal = InMemoryJournal()
        self.executor = ExecutorService(self.journal, self.broker, self.clock, SequentialIds(),
                                        ExecutorSettings(limits=limits))

    async def start(self) -> None:
        await self.broker.connect()
        await self.executor.start()

    def leg_messages(self, symbol: str, batch_id: str = "B1") -> list[str]:
        legs = [self.journal.leg(leg_ref(batch_id, symbol, leg)) for leg in Leg]
        assert all(leg is not None and leg.status is LegStatus.REJECTED for leg in legs)
        assert all(leg is not None and leg.placement is Placement.SKIPPED for leg in legs)
        return [leg.message for leg in legs if leg]


async def _world(limits: RiskLimits) -> World:
    world = World(limits)
    await world.start()
    return world


@pytest.mark.parametrize(
    ("limits", "order", "reason"),
    [
        (RiskLimits(max_order_quantity=Decimal(5)), wire_order("AAA", quantity=10), "max_order_quantity"),
        (RiskLimits(max_order_notional=Decimal(500)), wire_order("AAA", quantity=10), "max_order_notional"),
        (RiskLimits(max_position_per_symbol=Decimal(5)), wire_order("AAA"), "max_position_per_symbol"),
        (RiskLimits(max_open_positions=0), wire_order("AAA"), "max_open_positions"),
    ],
)
async def test_each_limit_rejects_before_the_broker(limits: RiskLimits, order: object, reason: str) -> None:
    world = await _world(limits)
    world.executor.receive(wire_batch("B1", order), 1)  # type: ignore[arg-type]
    await world.executor.place_pending()
    assert world.broker.orders == {}
    messages = world.leg_messages("AAA")
    assert all(reason in message and "risk gate" in message for message in messages)
    rejected = [r for r in world.journal.pending_reports() if r.status is LegStatus.REJECTED]
    assert len(rejected) == 3 and all(reason in r.message for r in rejected)
    batch = world.journal.batch(BatchId("B1"))
    assert batch is not None and batch.state is BatchState.REJECTED


async def test_every_reason_is_reported_not_only_the_first() -> None:
    limits = RiskLimits(max_order_quantity=Decimal(5), max_order_notional=Decimal(500), max_open_positions=0)
    world = await _world(limits)
    world.executor.receive(wire_batch("B1", wire_order("AAA")), 1)
    await world.executor.place_pending()
    message = world.leg_messages("AAA")[0]
    for reason in ("max_order_quantity", "max_order_notional", "max_open_positions"):
        assert reason in message


async def test_the_default_limits_are_on() -> None:
    world = await _world(ExecutorSettings().limits)
    world.executor.receive(wire_batch("B1", wire_order("AAA", quantity=20_000)), 1)
    await world.executor.place_pending()
    assert "max_order_quantity" in world.leg_messages("AAA")[0]


async def test_a_passing_bracket_goes_to_the_broker_and_a_failing_one_does_not() -> None:
    world = await _world(RiskLimits(max_order_quantity=Decimal(50), max_orders_per_second=None,
                                    price_band_pct=None, max_daily_loss=None))
    world.executor.receive(wire_batch("B1", wire_order("AAA", quantity=10), wire_order("BBB", quantity=60)),
                           1)
    await world.executor.place_pending()
    assert set(world.broker.orders) == {leg_ref("B1", "AAA", leg) for leg in Leg}
    world.leg_messages("BBB")
    batch = world.journal.batch(BatchId("B1"))
    assert batch is not None and batch.state is BatchState.PLACED


async def test_the_orders_per_second_limit_applies_when_configured() -> None:
    world = await _world(RiskLimits(None, None, None, None, None, None, max_orders_per_second=1))
    world.executor.receive(wire_batch("B1", wire_order("AAA"), wire_order("BBB")), 1)
    await world.executor.place_pending()
    assert leg_ref("B1", "AAA", Leg.ENTRY) in world.broker.orders
    assert "max_orders_per_second" in world.leg_messages("BBB")[0]


async def test_a_halted_executor_rejects_new_entries_with_the_halt_reason() -> None:
    world = await _world(NONE)
    await world.executor.halt("test")
    world.executor.receive(wire_batch("B1", wire_order("AAA")), 1)
    await world.executor.place_pending()
    assert world.broker.orders == {}
    assert "HALTED" in world.leg_messages("AAA")[0]


async def test_a_daily_loss_makes_the_gate_reducing_only() -> None:
    world = await _world(RiskLimits(max_daily_loss=Decimal(100), max_orders_per_second=None))
    world.broker.realized = Decimal(-500)
    world.executor.receive(wire_batch("B1", wire_order("AAA")), 1)
    await world.executor.place_pending()
    assert "REDUCING" in world.leg_messages("AAA")[0]


async def test_a_batch_that_expires_while_waiting_is_rejected_as_expired() -> None:
    world = World(NONE)
    world.executor.receive(wire_batch("B1", wire_order("AAA"), expires_at=EPOCH + timedelta(minutes=1)), 1)
    world.clock.advance(120)  # expires before the executor is reconciled and allowed to place
    await world.start()
    await world.executor.place_pending()
    assert world.broker.orders == {}
    assert world.leg_messages("AAA")[0].startswith("expired")
    batch = world.journal.batch(BatchId("B1"))
    assert batch is not None and batch.state is BatchState.EXPIRED


async def test_a_short_entry_is_gated_on_its_own_side() -> None:
    world = await _world(RiskLimits(max_position_per_symbol=Decimal(5)))
    world.executor.receive(wire_batch("B1", wire_order("AAA", side="SELL", stop="110", target="90")), 1)
    await world.executor.place_pending()
    assert "-10" in world.leg_messages("AAA")[0]
    assert Side.SELL.value in world.leg_messages("AAA")[0]
