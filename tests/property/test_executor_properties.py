"""Crash-safety of the executor, as properties over random histories.

A history interleaves: the cloud delivering batches (in sequence order, plus duplicates and
out-of-order resends of what it sent before), placing, market moves that fill orders, a stop
cancelled behind the executor's back, time passing (batches expire), crashes and restarts.
A crash drops every in-memory object of the executor; the journal and the broker survive, as
a disk and TWS would. Crashes are injected at the points where a process can die mid-step:

- before the batch is journaled, and after it is journaled but before the `ack` is sent;
- after a leg is journaled "sending" but before the broker call (the broker never got it);
- after the broker call but before "sent" is journaled (the broker has it);
- after a fill arrived but before it was journaled;
and also at any moment between steps.

At the end (restart, the cloud resends what was not acknowledged, reconcile, place), for every
history:
- no order ref was ever sent to the broker twice;
- no leg was lost: every leg of every batch is at the broker exactly once, unless its batch
  expired before it could be placed (then it is journaled as expired and is not at the broker),
  and nothing was sent after its batch expired;
- every filled entry has working stops for exactly its open quantity (or a flattening market
  order still filling for the rest), and no stop works for shares that are not open;
- every fill is counted once: the journal holds exactly the broker's executions, and each leg's
  journaled fill equals the sum of its executions.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.simulated.broker import SimulatedBroker
from adapters.simulated.config import SimulationConfig
from core.batches import Leg, leg_ref
from core.broker_events import AccountSnapshot, BrokerOrder, BrokerPosition, Fill
from core.clock import EPOCH, ManualClock, SequentialIds
from core.journal import (
    JournaledBatch,
    JournalStep,
    LegRecord,
    LegRole,
    LegStatus,
    Placement,
    RecordOutcome,
    StatusReport,
)
from core.order_status import OrderStatus
from core.orders import BracketRequest, OrderRequest
from core.ports import BrokerListener, Unsubscribe
from core.risk import RiskLimits
from core.service_layer.executor.intake import IntakeOutcome
from core.service_layer.executor.service import ExecutorService
from core.service_layer.executor.settings import ExecutorSettings
from core.values import BatchId, OrderRef
from tests.fakes.broker import FakeBroker
from tests.fakes.journal import InMemoryJournal, wire_batch, wire_order


class Crash(BaseException):
    """The process dies here. A BaseException, so no `except Exception` in the executor hides it."""


class Point(Enum):
    BEFORE_JOURNAL = "before the batch is journaled"
    BEFORE_ACK = "after journaling, before the ack"
    BEFORE_CALL = "after 'sending', before the broker call"
    BEFORE_SENT = "after the broker call, before 'sent'"
    BEFORE_FILL_JOURNALED = "after a fill, before it is journaled"


class CrashingJournal(InMemoryJournal):
    """The journal, which can kill the process around its writes."""

    def __init__(self) -> None:
        super().__init__()
        self.armed: Point | None = None

    def record_batch(
        self, batch: JournaledBatch, legs: Any, reports: Any
    ) -> RecordOutcome:
        self._maybe(Point.BEFORE_JOURNAL)
        outcome = super().record_batch(batch, legs, reports)
        self._maybe(Point.BEFORE_ACK)
        return outcome

    def commit(self, step: JournalStep) -> None:
        if step.fills:
            self._maybe(Point.BEFORE_FILL_JOURNALED)
        super().commit(step)

    def _maybe(self, point: Point) -> None:
        if self.armed is point:
            self.armed = None
            raise Crash(point.value)


class CrashingBroker:
    """The Broker port over a fake or simulated broker (which outlives executor processes),
    counting every order ref sent to it, and able to kill the process around a placement."""

    def __init__(self, inner: FakeBroker | SimulatedBroker, clock: ManualClock) -> None:
        self.inner = inner
        self.clock = clock
        self.sent: Counter[str] = Counter()
        self.sent_at: dict[str, datetime] = {}
        self.armed: Point | None = None

    @property
    def account(self) -> str:
        return self.inner.account

    async def connect(self) -> None:
        await self.inner.connect()

    async def drop_connection(self) -> None:
        """The connection to the broker breaks (the orders at the broker keep working)."""
        if isinstance(self.inner, SimulatedBroker):
            self.inner.faults.disconnect()
        else:
            await self.inner.disconnect()

    async def disconnect(self) -> None:
        await self.inner.disconnect()

    def is_connected(self) -> bool:
        return self.inner.is_connected()

    def subscribe(self, listener: BrokerListener) -> Unsubscribe:
        return self.inner.subscribe(listener)

    async def place_bracket(self, bracket: BracketRequest) -> None:
        self._maybe(Point.BEFORE_CALL)
        self._count(bracket.legs)
        await self.inner.place_bracket(bracket)
        self._maybe(Point.BEFORE_SENT)

    async def place_order(self, order: OrderRequest) -> None:
        self._maybe(Point.BEFORE_CALL)
        self._count((order,))
        await self.inner.place_order(order)
        self._maybe(Point.BEFORE_SENT)

    async def cancel_order(self, order_ref: OrderRef) -> None:
        await self.inner.cancel_order(order_ref)

    async def open_orders(self) -> Sequence[BrokerOrder]:
        return await self.inner.open_orders()

    async def completed_orders(self) -> Sequence[BrokerOrder]:
        return await self.inner.completed_orders()

    async def executions(self) -> Sequence[Fill]:
        return await self.inner.executions()

    async def positions(self) -> Sequence[BrokerPosition]:
        return await self.inner.positions()

    async def account_summary(self) -> AccountSnapshot:
        return await self.inner.account_summary()

    # -- the market -------------------------------------------------------------------------------

    def set_price(self, symbol: str, price: Decimal) -> None:
        self.inner.set_price(symbol, price)

    def step(self) -> None:
        """One more matching step (partial fills continue); the fake fills whole, so it has none."""
        if isinstance(self.inner, SimulatedBroker):
            self.inner.step()

    async def orders(self) -> dict[str, BrokerOrder]:
        """Every order the broker holds, open or completed, by ref."""
        finished = await self.inner.completed_orders()
        completed: dict[str, BrokerOrder] = {o.request.order_ref: o for o in finished}
        return completed | {o.request.order_ref: o for o in await self.inner.open_orders()}

    def _count(self, legs: tuple[OrderRequest, ...]) -> None:
        for leg in legs:
            self.sent[leg.order_ref] += 1
            self.sent_at.setdefault(leg.order_ref, self.clock.now())

    def _maybe(self, point: Point) -> None:
        if self.armed is point:
            self.armed = None
            raise Crash(point.value)


VENUES: dict[str, Callable[[ManualClock], FakeBroker | SimulatedBroker]] = {
    "fake": lambda clock: FakeBroker(clock, cash=Decimal(10_000_000)),
    "simulated": lambda clock: SimulatedBroker(clock, SimulationConfig(
        starting_cash=Decimal(10_000_000), partial_fill_quantity=Decimal(4))),
}


BATCHES = (  # seq = position + 1
    wire_batch("B1", wire_order("AAA"), wire_order("BBB"), expires_at=EPOCH + timedelta(hours=1)),
    wire_batch("B2", wire_order("CCC"), expires_at=EPOCH + timedelta(minutes=30)),
    wire_batch("B3", wire_order("DDD"), expires_at=EPOCH - timedelta(seconds=1)),
)
SYMBOLS = {"B1": ("AAA", "BBB"), "B2": ("CCC",), "B3": ("DDD",)}


@dataclass
class World:
    clock: ManualClock
    ids: SequentialIds
    journal: CrashingJournal
    broker: CrashingBroker
    executor: ExecutorService | None = None
    cursor: int = 0  # how many batches the cloud has sent, in sequence order
    crashes: int = 0

    def kill(self) -> None:
        if self.executor is not None:
            self.executor.close()  # a dead process hears nothing more
        self.executor = None
        self.journal.armed = self.broker.armed = None
        self.crashes += 1

    async def run(self, action: Any) -> None:
        if self.executor is None:
            return
        try:
            await action(self.executor)
        except Crash:
            self.kill()

    async def restart(self) -> None:
        if self.executor is not None:
            return
        executor = ExecutorService(self.journal, self.broker, self.clock, self.ids,
                                   ExecutorSettings(limits=RiskLimits.unlimited()))
        self.executor = executor
        try:
            await executor.start()
            # `resume` with the last journaled sequence: the cloud resends everything after it.
            self.cursor = min(self.cursor, self.journal.last_seq())
            await executor.place_pending()
        except Crash:
            self.kill()

    async def deliver(self, index: int) -> None:
        """The executor's loop: journal, acknowledge, place."""
        async def receive(executor: ExecutorService) -> None:
            result = executor.receive(BATCHES[index], index + 1)
            assert result.ack_seq == index + 1
            assert result.outcome in (IntakeOutcome.ACCEPTED, IntakeOutcome.DUPLICATE, IntakeOutcome.EXPIRED)
            await executor.place_pending()
        await self.run(receive)


Step = tuple[Any, ...]

crash = st.sampled_from([None, None, *Point])
symbol = st.sampled_from(["AAA", "BBB", "CCC"])

# Each step may carry a crash point, armed just before it runs: the crash happens if the step
# reaches that point. Restarts are frequent so that histories go on after a crash.
steps = st.lists(
    st.one_of(
        st.tuples(st.just("next"), crash),
        st.tuples(st.just("next"), crash),
        st.tuples(st.just("resend"), crash, st.integers(0, 2)),
        st.tuples(st.just("place"), crash),
        st.tuples(st.just("place"), crash),
        st.tuples(st.just("price"), crash, symbol, st.sampled_from([85, 100, 115])),
        st.tuples(st.just("cancel_stop"), crash, symbol),
        st.tuples(st.just("cancel_stop"), crash, symbol),
        st.tuples(st.just("tick"), st.none()),
        st.tuples(st.just("reconnect"), crash, st.sampled_from([None, 85, 100, 115])),
        st.tuples(st.just("halt"), crash),
        st.tuples(st.just("resume"), crash),
        st.tuples(st.just("crash"), st.none()),
        st.tuples(st.just("restart"), crash),
    ),
    min_size=4,
    max_size=40,
)


@dataclass(frozen=True)
class Outcome:
    """The world after a history, and what the broker holds then."""

    world: World
    orders: dict[str, BrokerOrder]
    fills: Sequence[Fill]

    def executed(self, ref: str) -> Decimal:
        return sum((f.quantity for f in self.fills if f.order_ref == ref), Decimal(0))


async def _play(history: list[Step], venue: str = "fake", world_class: type[World] | None = None) -> Outcome:
    clock = ManualClock()
    world = (world_class or World)(
        clock, SequentialIds(), CrashingJournal(), CrashingBroker(VENUES[venue](clock), clock)
    )
    await world.broker.connect()
    world.broker.set_price("AAA", Decimal(100))  # AAA's entry fills the moment it is placed
    await world.restart()
    for step in history:
        await _step(world, step)
    # The end: the process comes back, the cloud resends what is missing, everything settles.
    world.journal.armed = world.broker.armed = None
    await world.restart()
    while world.cursor < len(BATCHES):
        await _step(world, ("next", None))
    await world.run(lambda executor: executor.place_pending())
    # One more crash and restart, so the final state is what reconciliation alone leaves.
    world.kill()
    await world.restart()
    assert world.executor is not None and world.executor.reconciled
    return Outcome(world, await world.broker.orders(), await world.broker.executions())


async def _step(world: World, step: Step) -> None:
    kind, point = step[0], step[1]
    if world.executor is not None:
        world.journal.armed = world.broker.armed = point
    if kind == "next" and world.executor is not None and world.cursor < len(BATCHES):
        index = world.cursor
        world.cursor += 1
        await world.deliver(index)
    elif kind == "resend" and step[2] < world.cursor:
        await world.deliver(step[2])
    elif kind == "place":
        await world.run(lambda executor: executor.place_pending())
    elif kind == "price":
        world.broker.set_price(step[2], Decimal(step[3]))
        world.broker.step()  # the simulated broker fills in parts: one more part
        await world.run(lambda executor: executor.pump())
    elif kind == "cancel_stop":
        live = (OrderStatus.WORKING, OrderStatus.HELD)
        orders = await world.broker.orders()
        stop = next((ref for ref, order in orders.items()
                     if ref.endswith(f":{step[2]}:SL") and order.status in live), None)
        if stop is not None:
            await world.broker.cancel_order(OrderRef(stop))  # someone cancels the stop in TWS
            await world.run(lambda executor: executor.pump())
    elif kind == "tick":
        world.clock.advance(20 * 60)
    elif kind == "reconnect":
        await world.broker.drop_connection()
        await world.run(lambda executor: executor.pump())  # the executor hears it: HALTED
        if step[2] is not None:
            world.broker.set_price("AAA", Decimal(step[2]))  # the market moves meanwhile
        await world.broker.connect()
        await world.run(lambda executor: executor.pump())  # reconnected: reconcile, then trade
    elif kind == "halt":
        await world.run(lambda executor: executor.halt("kill switch in a test"))
    elif kind == "resume":
        await world.run(lambda executor: executor.resume_trading())
    elif kind == "crash" and world.executor is not None:
        world.kill()
    elif kind == "restart":
        await world.restart()
    world.journal.armed = world.broker.armed = None  # a crash point not reached is not carried over


def _check(outcome: Outcome) -> None:
    world = outcome.world
    broker, journal = world.broker, world.journal
    # Nothing placed twice.
    assert [ref for ref, count in broker.sent.items() if count > 1] == []
    # Nothing lost, nothing stale.
    for batch in BATCHES:
        journaled = journal.batch(BatchId(batch.batch_id))
        assert journaled is not None, f"batch {batch.batch_id} was never journaled"
        for symbol in SYMBOLS[batch.batch_id]:
            refs = [leg_ref(batch.batch_id, symbol, leg) for leg in Leg]
            legs = [journal.leg(ref) for ref in refs]
            at_broker = [ref in outcome.orders for ref in refs]
            if any(at_broker):
                assert all(at_broker), f"half a bracket at the broker: {refs}"
                assert all(broker.sent_at[ref] < journaled.expires_at for ref in refs)
            elif all(leg is not None and leg.message.startswith("expired") for leg in legs):
                assert world.clock.now() >= journaled.expires_at
            else:  # refused by the kill switch: journaled and reported as rejected, with the reason
                assert all(leg is not None and leg.status is LegStatus.REJECTED and "HALTED" in leg.message
                           for leg in legs), legs
    # Every leg's sending is settled.
    assert [leg.order_ref for leg in journal.legs() if leg.placement is Placement.SENDING] == []
    # Every fill counted once.
    assert sorted(fill.exec_id for fill in journal.fills()) == sorted(fill.exec_id for fill in outcome.fills)
    for leg in journal.legs():
        executed = outcome.executed(leg.order_ref)
        assert leg.filled == executed, f"{leg.order_ref}: journal {leg.filled}, broker {executed}"
    # Never naked, never over-protected.
    for batch in BATCHES:
        for symbol in SYMBOLS[batch.batch_id]:
            _check_protection(outcome, leg_ref(batch.batch_id, symbol, Leg.ENTRY), journal.legs())


def _check_protection(outcome: Outcome, entry_ref: str, legs: tuple[LegRecord, ...]) -> None:
    mine = [leg for leg in legs if leg.bracket_ref == entry_ref]
    opened = outcome.executed(entry_ref)
    closed = sum((outcome.executed(leg.order_ref) for leg in mine if leg.order_ref != entry_ref), Decimal(0))
    open_quantity = opened - closed
    assert open_quantity >= 0, f"{entry_ref}: closed {closed} > opened {opened}"
    working = Decimal(0)  # stops working, plus a flattening market order still filling (in parts)
    for leg in mine:
        order = outcome.orders.get(leg.order_ref)
        closing = leg.role.is_stop or leg.role is LegRole.FLATTEN
        if closing and order is not None and order.status.is_working:
            working += order.request.quantity - order.filled
    assert working == open_quantity, f"{entry_ref}: {open_quantity} open, protected {working}"


@pytest.mark.parametrize("venue", sorted(VENUES))
@given(history=steps)
def test_no_leg_placed_twice_none_lost_none_naked_every_fill_once(venue: str, history: list[Step]) -> None:
    _check(asyncio.run(_play(history, venue)))


@pytest.mark.parametrize("venue", sorted(VENUES))
@pytest.mark.parametrize("point", list(Point))
def test_a_crash_at_every_point_is_survived(venue: str, point: Point) -> None:
    """Each crash point, deterministically, in a history that reaches it."""
    history: list[Step] = [("price", None, "AAA", 100), ("next", point), ("place", point),
                           ("restart", None), ("place", None), ("price", None, "AAA", 100),
                           ("price", None, "AAA", 85)]
    outcome = asyncio.run(_play(history, venue))
    assert outcome.world.crashes >= 2, f"{point.value}: the crash was not reached"
    _check(outcome)
    assert outcome.orders[leg_ref("B1", "AAA", Leg.STOP_LOSS)].status in (OrderStatus.FILLED,
                                                                         OrderStatus.PARTIALLY_FILLED)


def test_reports_survive_crashes_until_acknowledged() -> None:
    history: list[Step] = [("next", None), ("crash", None), ("restart", None), ("place", None)]
    outcome = asyncio.run(_play(history))
    reports: tuple[StatusReport, ...] = outcome.world.journal.pending_reports()
    received = {r.order_ref for r in reports if r.status is LegStatus.RECEIVED}
    assert {leg_ref("B1", "AAA", leg) for leg in Leg} <= received
