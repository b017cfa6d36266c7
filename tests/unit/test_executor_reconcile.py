"""`reconcile` is pure: journal + broker answers in, a plan with every finding out."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from core.batches import Leg, leg_ref
from core.broker_events import BrokerOrder, BrokerPosition, Fill
from core.clock import EPOCH
from core.journal import BatchOrder, JournaledBatch, LegRecord, LegRole, LegStatus, Placement
from core.order_status import OrderStatus
from core.orders import OrderRequest
from core.service_layer.executor.intake import bracket_of
from core.service_layer.executor.reconcile import Abandon, JournalView, ReconciliationPlan, reconcile
from core.values import BatchId, ExecId, OrderRef, OrderType, Side
from tests.fakes.journal import wire_order

BRACKET = bracket_of("B1", wire_order("AAA"))
E, TP, SL = (leg_ref("B1", "AAA", leg) for leg in Leg)
BATCH = JournaledBatch(BatchId("B1"), 1, "h", (BatchOrder(BRACKET, Decimal(100)),), EPOCH,
                       EPOCH + timedelta(hours=1))
NOW = EPOCH + timedelta(minutes=1)
S = OrderStatus


def _legs(placement: Placement = Placement.SENT, status: LegStatus = LegStatus.SUBMITTED) -> list[LegRecord]:
    roles = (LegRole.ENTRY, LegRole.TAKE_PROFIT, LegRole.STOP_LOSS)
    return [LegRecord(leg.order_ref, BATCH.batch_id, E, role, leg, placement, status)
            for leg, role in zip(BRACKET.legs, roles, strict=True)]


def _at(ref: str, status: OrderStatus, filled: int = 0) -> BrokerOrder:
    request = next(leg for leg in BRACKET.legs if leg.order_ref == ref)
    return BrokerOrder(request, status, Decimal(filled), Decimal(100) if filled else Decimal(0))


def _fill(exec_id: str, ref: str, quantity: int, side: Side = Side.BUY) -> Fill:
    return Fill(ExecId(exec_id), OrderRef(ref), "AAA", side, Decimal(quantity), Decimal(100), EPOCH)


def _plan(
    legs: list[LegRecord], open_: list[BrokerOrder] = (), completed: list[BrokerOrder] = (),  # type: ignore[assignment]
    executions: list[Fill] = (), positions: list[BrokerPosition] = (), applied: frozenset[str] = frozenset(),  # type: ignore[assignment]
    now: object = NOW, batch: JournaledBatch = BATCH,
) -> ReconciliationPlan:
    return reconcile(JournalView((batch,), tuple(legs), applied), open_, completed, executions, positions,
                     now)  # type: ignore[arg-type]


def _working_filled_bracket() -> tuple[list[BrokerOrder], list[BrokerOrder], list[Fill]]:
    return [_at(TP, S.WORKING), _at(SL, S.WORKING)], [_at(E, S.FILLED, 10)], [_fill("x1", E, 10)]


def test_a_matching_journal_and_broker_need_nothing() -> None:
    open_, completed, executions = _working_filled_bracket()
    legs = _legs()
    legs[0] = replace(legs[0], status=LegStatus.FILLED, filled=Decimal(10))
    legs[1] = replace(legs[1], status=LegStatus.WORKING)
    legs[2] = replace(legs[2], status=LegStatus.WORKING)
    plan = _plan(legs, open_, completed, executions, [BrokerPosition("AAA", Decimal(10), Decimal(100))],
                 frozenset({"x1"}))
    assert not plan.changes_anything
    assert plan.findings == ()


def test_a_bracket_never_started_is_left_to_placement() -> None:
    plan = _plan(_legs(Placement.PENDING, LegStatus.RECEIVED))
    assert plan == ReconciliationPlan()


def test_a_bracket_being_sent_that_the_broker_lacks_is_placed_under_the_same_refs() -> None:
    plan = _plan(_legs(Placement.SENDING, LegStatus.RECEIVED))
    assert plan.place_brackets == (BRACKET,)
    assert "placing it now" in plan.findings[0]


def test_a_bracket_being_sent_whose_batch_expired_is_abandoned_as_expired() -> None:
    plan = _plan(_legs(Placement.SENDING, LegStatus.RECEIVED), now=EPOCH + timedelta(hours=2))
    assert plan.place_brackets == ()
    assert {a.order_ref for a in plan.abandon} == {E, TP, SL}
    assert all(a.status is LegStatus.REJECTED and a.reason.startswith("expired") for a in plan.abandon)


def test_legs_being_sent_that_the_broker_has_are_confirmed_and_their_status_adopted() -> None:
    plan = _plan(_legs(Placement.SENDING, LegStatus.RECEIVED),
                 open_=[_at(E, S.WORKING), _at(TP, S.HELD), _at(SL, S.HELD)])
    assert set(plan.confirm_sent) == {E, TP, SL}
    assert plan.place_brackets == ()
    updates = [(u.order_ref, u.status) for u in plan.status_updates]
    assert updates == [(E, S.WORKING), (TP, S.HELD), (SL, S.HELD)]


def test_a_sent_bracket_the_broker_no_longer_knows_is_reported_not_placed_again() -> None:
    plan = _plan(_legs())
    assert not plan.changes_anything
    assert "not placed again" in plan.findings[0]


def test_a_half_sent_bracket_with_an_unfilled_entry_is_cancelled() -> None:
    plan = _plan(_legs(Placement.SENDING, LegStatus.RECEIVED), open_=[_at(E, S.WORKING)])
    assert [c.order_ref for c in plan.cancel_orders] == [E]
    assert "approve the order again" in plan.cancel_orders[0].reason
    assert {a.order_ref for a in plan.abandon} == {TP, SL}
    assert plan.place_brackets == () and plan.place_orders == ()


def test_a_half_sent_bracket_with_a_filled_entry_gets_its_stop_rebuilt() -> None:
    plan = _plan(_legs(Placement.SENDING, LegStatus.RECEIVED), completed=[_at(E, S.FILLED, 10)],
                 open_=[_at(TP, S.WORKING)], executions=[_fill("x1", E, 10)])
    assert [a.order_ref for a in plan.abandon] == [SL]
    (rebuilt,) = plan.place_orders
    assert rebuilt.order_ref == f"{SL}:R1" and rebuilt.role is LegRole.REBUILT_STOP
    request = rebuilt.request
    assert (request.side, request.quantity, request.order_type, request.stop_price) == (
        Side.SELL, Decimal(10), OrderType.STOP, Decimal(90))
    assert request.parent_ref is None and request.oca_group is None
    assert [c.order_ref for c in plan.cancel_orders] == [TP]  # no target outside the stop's OCA group
    assert [f.exec_id for f in plan.adopt_fills] == ["x1"]


def test_a_filled_entry_whose_stop_was_cancelled_gets_a_stop_for_the_open_quantity() -> None:
    plan = _plan(_legs(), open_=[_at(TP, S.WORKING)], completed=[_at(E, S.FILLED, 10), _at(SL, S.CANCELLED)],
                 executions=[_fill("x1", E, 10)], applied=frozenset({"x1"}))
    assert [leg.request.quantity for leg in plan.place_orders] == [Decimal(10)]
    assert any("without a working stop" in line for line in plan.findings)


def test_a_partly_filled_entry_without_a_stop_is_cancelled_and_its_shares_protected() -> None:
    plan = _plan(_legs(), open_=[_at(E, S.PARTIALLY_FILLED, 4)],
                 completed=[_at(SL, S.REJECTED), _at(TP, S.CANCELLED)], executions=[_fill("x1", E, 4)])
    assert [c.order_ref for c in plan.cancel_orders] == [E]
    assert [leg.request.quantity for leg in plan.place_orders] == [Decimal(4)]


def test_closing_fills_reduce_what_needs_protection() -> None:
    flatten = LegRecord(OrderRef(f"{E}:FL1"), BATCH.batch_id, E, LegRole.FLATTEN,
                        OrderRequest(OrderRef(f"{E}:FL1"), "AAA", Side.SELL, Decimal(10)), Placement.SENT,
                        LegStatus.FILLED, Decimal(10))
    flattened = BrokerOrder(flatten.request, S.FILLED, Decimal(10))
    ended = [_at(E, S.FILLED, 10), _at(SL, S.CANCELLED), _at(TP, S.CANCELLED), flattened]
    plan = _plan([*_legs(), flatten], completed=ended,
                 executions=[_fill("x1", E, 10), _fill("x2", f"{E}:FL1", 10, Side.SELL)])
    assert plan.place_orders == ()


def test_a_rebuilt_stop_being_sent_is_sent_again_and_a_flatten_is_replaced_by_a_stop() -> None:
    rebuilt = LegRecord(OrderRef(f"{SL}:R1"), BATCH.batch_id, E, LegRole.REBUILT_STOP,
                        OrderRequest(OrderRef(f"{SL}:R1"), "AAA", Side.SELL, Decimal(6), OrderType.STOP,
                                     stop_price=Decimal(90)), Placement.SENDING)
    flatten = LegRecord(OrderRef(f"{E}:FL1"), BATCH.batch_id, E, LegRole.FLATTEN,
                        OrderRequest(OrderRef(f"{E}:FL1"), "AAA", Side.SELL, Decimal(10)), Placement.PENDING)
    plan = _plan([*_legs(), rebuilt, flatten], completed=[_at(E, S.FILLED, 10), _at(SL, S.CANCELLED),
                                                          _at(TP, S.CANCELLED)],
                 executions=[_fill("x1", E, 10)])
    assert plan.abandon == (Abandon(flatten.order_ref, plan.abandon[0].reason),)
    assert [leg.order_ref for leg in plan.place_orders] == [f"{SL}:R1", f"{SL}:R2"]
    assert [leg.request.quantity for leg in plan.place_orders] == [Decimal(6), Decimal(4)]


def test_missed_fills_are_adopted_once_and_foreign_ones_reported() -> None:
    open_, completed, _ = _working_filled_bracket()
    executions = [_fill("x1", E, 10), _fill("x0", "tb:OLD:AAA:E", 3), _fill("m1", "manual", 1)]
    plan = _plan(_legs(), open_, completed, executions, applied=frozenset({"x0-not-this"}))
    assert [f.exec_id for f in plan.adopt_fills] == ["x1"]
    assert any("x0" in line and "left alone" in line for line in plan.findings)
    assert not any("m1" in line for line in plan.findings)


def test_orders_with_our_prefix_unknown_to_the_journal_are_reported_never_cancelled() -> None:
    stray = BrokerOrder(OrderRequest(OrderRef("tb:ZZ:BBB:E"), "BBB", Side.BUY, Decimal(5)), S.WORKING)
    manual = BrokerOrder(OrderRequest(OrderRef("by-hand"), "CCC", Side.BUY, Decimal(5)), S.WORKING)
    plan = _plan(_legs(Placement.PENDING, LegStatus.RECEIVED), open_=[stray, manual])
    assert plan.cancel_orders == ()
    assert len(plan.findings) == 1 and "tb:ZZ:BBB:E" in plan.findings[0]


def test_exits_at_the_broker_without_their_entry_are_cancelled() -> None:
    plan = _plan(_legs(), open_=[_at(TP, S.HELD), _at(SL, S.HELD)])
    assert {c.order_ref for c in plan.cancel_orders} == {TP, SL}


def test_positions_the_journal_does_not_account_for_are_reported() -> None:
    open_, completed, executions = _working_filled_bracket()
    plan = _plan(_legs(), open_, completed, executions, [BrokerPosition("AAA", Decimal(15), Decimal(100)),
                                                        BrokerPosition("ZZZ", Decimal(-3), Decimal(10))],
                 applied=frozenset({"x1"}))
    lines = [line for line in plan.findings if line.startswith("position")]
    assert len(lines) == 2 and "holds 15" in lines[0] and "for 10" in lines[0] and "ZZZ" in lines[1]
