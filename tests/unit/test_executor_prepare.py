"""`ExecutorService.receive_and_prepare`: a batch that can be placed at once is journaled with its
brackets gated and `sending`, in one transaction, before its acknowledgement; its brackets are
sent by the next `place_pending`, exactly once, whatever comes in between (a halt, a
reconciliation, its expiry). Otherwise it is a plain `receive`."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from core.batches import Leg, leg_ref
from core.clock import ManualClock, SequentialIds
from core.journal import LegStatus, Placement
from core.orders import BracketRequest
from core.risk import RiskLimits
from core.service_layer.executor.intake import IntakeOutcome
from core.service_layer.executor.service import ExecutorService
from core.service_layer.executor.settings import ExecutorSettings
from tests.fakes.broker import FakeBroker
from tests.fakes.journal import InMemoryJournal, wire_batch, wire_order

B1 = [leg_ref("B1", "AAA", leg) for leg in Leg]
B2 = [leg_ref("B2", "BBB", leg) for leg in Leg]


class CountingBroker(FakeBroker):
    """Counts every ref sent: nothing may be sent twice."""

    def __init__(self, clock: ManualClock) -> None:
        super().__init__(clock)
        self.sent: Counter[str] = Counter()

    async def place_bracket(self, bracket: BracketRequest) -> None:
        self.sent.update(leg.order_ref for leg in bracket.legs)
        await super().place_bracket(bracket)


async def _started() -> tuple[ExecutorService, InMemoryJournal, CountingBroker]:
    clock = ManualClock()
    broker = CountingBroker(clock)
    await broker.connect()
    journal = InMemoryJournal()
    executor = ExecutorService(journal, broker, clock, SequentialIds(),
                               ExecutorSettings(limits=RiskLimits.unlimited()))
    await executor.start()
    return executor, journal, broker


def _placements(journal: InMemoryJournal, refs: list[str]) -> list[Placement]:
    return [leg.placement for ref in refs if (leg := journal.leg(ref)) is not None]


async def test_a_batch_is_durable_and_sending_when_it_may_be_acknowledged_then_sent_once() -> None:
    executor, journal, broker = await _started()
    commits = journal.commits
    result = await executor.receive_and_prepare(wire_batch("B1", wire_order("AAA")), 1)
    assert (result.ack_seq, result.outcome) == (1, IntakeOutcome.ACCEPTED)
    assert journal.commits == commits + 1  # the batch with its `sending` brackets: one transaction
    assert _placements(journal, B1) == [Placement.SENDING] * 3
    assert broker.sent == Counter()  # the broker calls are place_pending's
    await executor.place_pending()
    assert broker.sent == Counter(B1)
    assert _placements(journal, B1) == [Placement.SENT] * 3
    await executor.place_pending()
    assert broker.sent == Counter(B1)


async def test_a_halt_before_sending_puts_the_brackets_back_and_the_gate_refuses_them() -> None:
    executor, journal, broker = await _started()
    await executor.receive_and_prepare(wire_batch("B1", wire_order("AAA")), 1)
    await executor.halt("kill switch in a test")
    await executor.place_pending()
    assert broker.sent == Counter()
    legs = [journal.leg(ref) for ref in B1]
    assert all(leg is not None and leg.placement is Placement.SKIPPED and leg.status is LegStatus.REJECTED
               and "HALTED" in leg.message for leg in legs), legs


async def test_a_reconciliation_before_sending_places_each_bracket_once() -> None:
    executor, journal, broker = await _started()
    await executor.receive_and_prepare(wire_batch("B1", wire_order("AAA")), 1)
    await executor.reconcile()  # e.g. after a reconnect: it settles the `sending` legs itself
    await executor.place_pending()
    assert broker.sent == Counter(B1)
    assert _placements(journal, B1) == [Placement.SENT] * 3


async def test_a_batch_behind_another_one_waits_its_turn() -> None:
    executor, journal, broker = await _started()
    executor.receive(wire_batch("B1", wire_order("AAA")), 1)  # not placed yet
    await executor.receive_and_prepare(wire_batch("B2", wire_order("BBB")), 2)
    assert _placements(journal, B2) == [Placement.PENDING] * 3  # journal order: B1 goes first
    await executor.place_pending()
    assert list(broker.sent) == B1 + B2


async def test_before_reconciliation_it_only_journals() -> None:
    clock = ManualClock()
    broker = CountingBroker(clock)
    await broker.connect()
    journal = InMemoryJournal()
    executor = ExecutorService(journal, broker, clock, SequentialIds(),
                               ExecutorSettings(limits=RiskLimits.unlimited()))
    result = await executor.receive_and_prepare(wire_batch("B1", wire_order("AAA")), 1)
    assert result.outcome is IntakeOutcome.ACCEPTED
    assert _placements(journal, B1) == [Placement.PENDING] * 3
    await executor.start()  # reconciles, then places what waited
    assert broker.sent == Counter(B1)


async def test_a_duplicate_is_acknowledged_again_and_never_sent_again() -> None:
    executor, _, broker = await _started()
    await executor.receive_and_prepare(wire_batch("B1", wire_order("AAA")), 1)
    await executor.place_pending()
    again = await executor.receive_and_prepare(wire_batch("B1", wire_order("AAA")), 1)
    assert again.outcome is IntakeOutcome.DUPLICATE
    await executor.place_pending()
    assert broker.sent == Counter(B1)


async def test_a_batch_expired_before_its_brackets_are_sent_is_not_sent() -> None:
    clock = ManualClock()
    broker = CountingBroker(clock)
    await broker.connect()
    journal = InMemoryJournal()
    executor = ExecutorService(journal, broker, clock, SequentialIds(),
                               ExecutorSettings(limits=RiskLimits.unlimited()))
    await executor.start()
    expires = clock.now() + timedelta(minutes=1)
    await executor.receive_and_prepare(wire_batch("B1", wire_order("AAA"), expires_at=expires), 1)
    clock.advance(120)
    await executor.place_pending()
    assert broker.sent == Counter()
    legs = [journal.leg(ref) for ref in B1]
    assert all(leg is not None and leg.placement is Placement.SKIPPED and leg.message.startswith("expired")
               for leg in legs), legs


async def test_a_refused_bracket_is_journaled_with_the_batch() -> None:
    clock = ManualClock()
    broker = CountingBroker(clock)
    await broker.connect()
    journal = InMemoryJournal()
    limits = replace(RiskLimits.unlimited(), max_order_quantity=Decimal(5))
    executor = ExecutorService(journal, broker, clock, SequentialIds(), ExecutorSettings(limits=limits))
    await executor.start()
    commits = journal.commits
    await executor.receive_and_prepare(wire_batch("B1", wire_order("AAA", quantity=3), wire_order("BBB")), 1)
    assert journal.commits == commits + 1
    refused = [journal.leg(leg_ref("B1", "BBB", leg)) for leg in Leg]
    assert all(leg is not None and leg.status is LegStatus.REJECTED and leg.placement is Placement.SKIPPED
               for leg in refused), refused
    reported = {(r.order_ref, r.status) for r in journal.pending_reports()}
    assert (leg_ref("B1", "BBB", Leg.ENTRY), LegStatus.REJECTED) in reported
    await executor.place_pending()
    assert broker.sent == Counter(B1)
