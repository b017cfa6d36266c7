"""Intake: journal first, then acknowledge; duplicates acknowledged again and not reprocessed;
expired and malformed batches journaled, reported and never placed."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from core.batches import Leg, leg_ref
from core.clock import EPOCH, ManualClock, SequentialIds
from core.journal import BatchState, LegRole, LegStatus, Placement
from core.service_layer.executor.intake import IntakeOutcome, bracket_of, receive
from core.service_layer.executor.records import Reporter
from core.service_layer.executor.settings import ExecutorSettings
from core.values import BatchId, OrderType, Side, TimeInForce
from tests.fakes.journal import InMemoryJournal, wire_batch, wire_order

SETTINGS = ExecutorSettings()


@pytest.fixture
def journal() -> InMemoryJournal:
    return InMemoryJournal()


@pytest.fixture
def reporter() -> Reporter:
    return Reporter(ManualClock(), SequentialIds())


def test_a_new_batch_is_journaled_before_it_is_acknowledged(
    journal: InMemoryJournal, reporter: Reporter
) -> None:
    result = receive(journal, reporter, SETTINGS, wire_batch("B1"), 7)
    assert (result.ack_seq, result.outcome) == (7, IntakeOutcome.ACCEPTED)
    batch = journal.batch(BatchId("B1"))
    assert batch is not None and batch.state is BatchState.RECEIVED and batch.seq == 7
    assert batch.expires_at == EPOCH + timedelta(hours=24)  # no expiry sent: the default from receipt
    assert [leg.order_ref for leg in journal.legs()] == [
        leg_ref("B1", symbol, leg) for symbol in ("AAA", "BBB") for leg in Leg
    ]
    assert {leg.placement for leg in journal.legs()} == {Placement.PENDING}
    assert [r.status for r in journal.pending_reports()] == [LegStatus.RECEIVED] * 6
    assert journal.last_seq() == 7
    assert journal.commits == 1  # one transaction


def test_a_duplicate_is_acknowledged_again_and_not_reprocessed(
    journal: InMemoryJournal, reporter: Reporter
) -> None:
    receive(journal, reporter, SETTINGS, wire_batch("B1"), 7)
    before = (journal.legs(), journal.pending_reports(), journal.commits)
    result = receive(journal, reporter, SETTINGS, wire_batch("B1", wire_order("ZZZ")), 9)
    assert (result.ack_seq, result.outcome) == (9, IntakeOutcome.DUPLICATE)
    assert (journal.legs(), journal.pending_reports(), journal.commits) == before


def test_a_reused_batch_id_with_other_content_is_flagged(
    journal: InMemoryJournal, reporter: Reporter
) -> None:
    receive(journal, reporter, SETTINGS, wire_batch("B1", content_hash="aaaa"), 1)
    result = receive(journal, reporter, SETTINGS, wire_batch("B1", content_hash="bbbb"), 2)
    assert result.outcome is IntakeOutcome.DUPLICATE
    assert "content differs" in result.message and "new id" in result.message


def test_an_expired_batch_is_journaled_rejected_and_never_placeable(
    journal: InMemoryJournal, reporter: Reporter
) -> None:
    stale = wire_batch("B1", expires_at=EPOCH - timedelta(seconds=1))
    result = receive(journal, reporter, SETTINGS, stale, 3)
    assert (result.ack_seq, result.outcome) == (3, IntakeOutcome.EXPIRED)
    batch = journal.batch(BatchId("B1"))
    assert batch is not None and batch.state is BatchState.EXPIRED and batch.reason.startswith("expired")
    assert {leg.placement for leg in journal.legs()} == {Placement.SKIPPED}
    reports = journal.pending_reports()
    assert len(reports) == 6
    assert all(r.status is LegStatus.REJECTED and r.message.startswith("expired") for r in reports)


def test_expiry_at_exactly_now_is_expired(journal: InMemoryJournal, reporter: Reporter) -> None:
    result = receive(journal, reporter, SETTINGS, wire_batch("B1", expires_at=EPOCH), 1)
    assert result.outcome is IntakeOutcome.EXPIRED


def test_the_default_expiry_counts_from_approval(journal: InMemoryJournal, reporter: Reporter) -> None:
    old = wire_batch("B1", approved_at=EPOCH - timedelta(hours=25))
    result = receive(journal, reporter, SETTINGS, old, 1)
    assert result.outcome is IntakeOutcome.EXPIRED


@pytest.mark.parametrize(
    ("order", "problem"),
    [
        (wire_order("AAA", side="SIDEWAYS"), "side"),
        (wire_order("AAA", order_type="MOC"), "order type"),
        (wire_order("AAA", quantity=0), "quantity"),
        (wire_order("AAA", stop="120", target="110"), "stop"),
        (wire_order("aaa lower"), "symbol"),
    ],
)
def test_a_malformed_batch_is_journaled_rejected_with_every_problem(
    journal: InMemoryJournal, reporter: Reporter, order: object, problem: str
) -> None:
    batch = wire_batch("B1", wire_order("OK"), order)  # type: ignore[arg-type]
    result = receive(journal, reporter, SETTINGS, batch, 4)
    assert (result.ack_seq, result.outcome) == (4, IntakeOutcome.REJECTED)
    assert problem in result.message
    journaled = journal.batch(BatchId("B1"))
    assert journaled is not None and journaled.state is BatchState.REJECTED
    assert journal.legs() == ()
    assert [r.status for r in journal.pending_reports()] == [LegStatus.REJECTED] * 2


def test_a_batch_without_orders_or_with_a_repeated_symbol_is_refused(
    journal: InMemoryJournal, reporter: Reporter
) -> None:
    empty = wire_batch("B1")
    empty.orders = []
    assert "no orders" in receive(journal, reporter, SETTINGS, empty, 1).message
    twice = receive(journal, reporter, SETTINGS, wire_batch("B2", wire_order("AAA"), wire_order("AAA")), 2)
    assert twice.outcome is IntakeOutcome.REJECTED and "more than once" in twice.message


def test_bad_times_and_a_bad_batch_id_are_refused(journal: InMemoryJournal, reporter: Reporter) -> None:
    naive = wire_batch("B1")
    naive.expires_at = "2026-01-03T10:00:00"
    assert "time zone" in receive(journal, reporter, SETTINGS, naive, 1).message
    garbled = wire_batch("B2")
    garbled.approved_at = "yesterday"
    assert "ISO-8601" in receive(journal, reporter, SETTINGS, garbled, 2).message
    bad_id = receive(journal, reporter, SETTINGS, wire_batch("no/slashes"), 3)
    assert (bad_id.ack_seq, bad_id.outcome) == (3, IntakeOutcome.REJECTED)
    assert journal.batch(BatchId("no/slashes")) is None


def test_wire_orders_become_brackets_with_deterministic_refs() -> None:
    made = bracket_of("B1", wire_order("AAA", side="SELL", entry="50", stop="55", target="45"))
    assert [leg.order_ref for leg in made.legs] == [leg_ref("B1", "AAA", leg) for leg in Leg]
    assert made.entry.side is Side.SELL and made.entry.order_type is OrderType.MARKET
    assert made.entry.tif is TimeInForce.DAY and made.stop_loss.tif is TimeInForce.GTC
    assert made.stop_loss.stop_price == Decimal(55) and made.take_profit.limit_price == Decimal(45)
    assert made.take_profit.oca_group == made.stop_loss.oca_group == "tb:B1:AAA"


def test_the_legs_the_cloud_names_are_used() -> None:
    order = wire_order("AAA", batch_id="OTHER")
    made = bracket_of("B1", order)
    assert made.entry.order_ref == leg_ref("OTHER", "AAA", Leg.ENTRY)
    limit = bracket_of("B1", wire_order("AAA", order_type="LMT", entry="99.5"))
    assert limit.entry.limit_price == Decimal("99.5")
    assert bracket_of("B1", wire_order("AAA", order_type="Market")).entry.order_type is OrderType.MARKET


def test_an_entry_ref_that_contradicts_its_legs_is_refused() -> None:
    order = wire_order("AAA", batch_id="B1")
    order.order_ref = "tb:B1:AAA:X"
    with pytest.raises(ValueError, match="differs"):
        bracket_of("B1", order)


def test_leg_roles_are_recorded(journal: InMemoryJournal, reporter: Reporter) -> None:
    receive(journal, reporter, SETTINGS, wire_batch("B1", wire_order("AAA")), 1)
    assert [leg.role for leg in journal.legs()] == [LegRole.ENTRY, LegRole.TAKE_PROFIT, LegRole.STOP_LOSS]
    assert {leg.bracket_ref for leg in journal.legs()} == {leg_ref("B1", "AAA", Leg.ENTRY)}
