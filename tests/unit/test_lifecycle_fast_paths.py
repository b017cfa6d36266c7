"""The shortcuts a bracket's lifecycle takes through the core and the simulated broker give what the
long way gives: the last whole quantity an `OrderRequest` remembers, the reports and fills the
exchange makes through their writable twins, the first-fill commission written out in the
exchange, a bracket placed in one pass (broker ids, arrival), delivery to a lone listener, and
`Bracket.is_closed` / `is_naked` tested without their helpers."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.simulated import SimulatedBroker, SimulationConfig
from adapters.simulated.book import SimOrder, new_bracket
from core.bracket import Bracket, CancelLegs
from core.broker_events import (
    BrokerEvent,
    ConnectionEvent,
    Fill,
    OrderStatusUpdate,
    WritableFill,
    WritableOrderStatusUpdate,
)
from core.clock import EPOCH, ManualClock
from core.order_status import InvalidTransition, OrderStatus
from core.orders import Order, OrderRequest, OverFill
from core.values import ExecId, OrderRef, Side
from tests.fakes.orders import Recorder, bracket, order

D = Decimal
S = OrderStatus


# -- OrderRequest: the last quantity found whole -----------------------------------------------------


def test_a_quantity_is_checked_unless_it_is_the_very_decimal_last_found_whole() -> None:
    whole = D(100)
    OrderRequest(OrderRef("A"), "AAA", Side.BUY, whole)
    for bad in (D("100.5"), D(0), D(-100), D("-0")):
        with pytest.raises(ValueError, match="whole number above 0"):
            OrderRequest(OrderRef("B"), "AAA", Side.BUY, bad)
        with pytest.raises(ValueError, match="whole number above 0"):  # a refusal is not remembered
            OrderRequest(OrderRef("B"), "AAA", Side.BUY, bad)
    # Equal values in other Decimal objects are checked again, and pass.
    assert OrderRequest(OrderRef("C"), "AAA", Side.BUY, D("100")).quantity == whole
    assert OrderRequest(OrderRef("D"), "AAA", Side.BUY, D("1E+2")).quantity == whole
    assert OrderRequest(OrderRef("E"), "AAA", Side.BUY, whole).quantity is whole


# -- the simulated broker's reports and fills ------------------------------------------------------------


async def lifecycle_events() -> tuple[SimulatedBroker, list[BrokerEvent]]:
    """Place a bracket that fills its entry and then its take profit; every event delivered."""
    broker = SimulatedBroker(ManualClock())
    recorder = Recorder(broker)
    await broker.connect()
    broker.set_price("AAA", D(100))
    await broker.place_bracket(bracket("B1", quantity=10, entry=99, take_profit=102, stop_loss=97))
    broker.set_price("AAA", D(99))
    broker.set_price("AAA", D(102))
    return broker, recorder.events


async def test_every_report_and_fill_comes_out_frozen_and_of_its_own_class() -> None:
    _, events = await lifecycle_events()
    kinds = [type(event) for event in events]
    assert kinds.count(Fill) == 2 and kinds.count(OrderStatusUpdate) == 8
    for event in events:
        assert type(event) in {OrderStatusUpdate, Fill, ConnectionEvent}, "a writable twin leaked out"
        assert not isinstance(event, (WritableOrderStatusUpdate, WritableFill))
        name = dataclasses.fields(event)[0].name
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(event, name, None)
        assert dataclasses.replace(event) == event and hash(dataclasses.replace(event)) == hash(event)


async def test_the_reports_carry_what_the_orders_say() -> None:
    broker, events = await lifecycle_events()
    updates = [event for event in events if isinstance(event, OrderStatusUpdate)]
    assert [(u.order_ref, u.status, int(u.filled), int(u.remaining)) for u in updates] == [
        ("B1", S.WORKING, 0, 10), ("B1.tp", S.HELD, 0, 10), ("B1.sl", S.HELD, 0, 10),
        ("B1", S.FILLED, 10, 0), ("B1.tp", S.WORKING, 0, 10), ("B1.sl", S.WORKING, 0, 10),
        ("B1.tp", S.FILLED, 10, 0), ("B1.sl", S.CANCELLED, 0, 10),
    ]
    assert [u.avg_fill_price for u in updates if u.status is S.FILLED] == [99, 102]
    assert updates[-1].message == "cancelled: B1.tp closed the bracket (OCA)"
    fills = [event for event in events if isinstance(event, Fill)]
    assert [(f.exec_id, f.order_ref, f.side, f.quantity, f.price, f.time) for f in fills] == [
        (ExecId("SIM.1"), OrderRef("B1"), Side.BUY, D(10), D(99), EPOCH),
        (ExecId("SIM.2"), OrderRef("B1.tp"), Side.SELL, D(10), D(102), EPOCH),
    ]
    assert fills == await broker.executions()


@pytest.mark.parametrize("per_share", ["0", "0.005", "0.0035", "0.01", "0.25"])
@pytest.mark.parametrize("minimum", ["0", "0.35", "1.00"])
@pytest.mark.parametrize("quantity", [1, 10, 100, 333, 1000])
async def test_the_first_fill_pays_what_the_ledger_charges_an_order(
    per_share: str, minimum: str, quantity: int
) -> None:
    config = SimulationConfig(commission_per_share=D(per_share), min_commission=D(minimum))
    broker = SimulatedBroker(ManualClock(), config)
    recorder = Recorder(broker)
    await broker.connect()
    broker.set_price("AAA", D(100))
    await broker.place_order(order("M", quantity=quantity))
    [fill] = recorder.fills("M")
    expected = broker.ledger.commission(D(0), D(quantity))
    assert fill.commission == expected and str(fill.commission) == str(expected)


async def test_a_bracket_placed_in_one_pass_numbers_its_legs_in_order() -> None:
    broker = SimulatedBroker(ManualClock())
    await broker.connect()
    await broker.place_bracket(bracket("B1"))
    await broker.place_order(order("O1"))
    ids = {o.request.order_ref: o.broker_order_id for o in await broker.open_orders()}
    assert ids == {"B1": "1", "B1.tp": "2", "B1.sl": "3", "O1": "4"}
    assert all(type(broker_id) is str for broker_id in ids.values())
    state = broker.state_dict()
    assert [o["broker_id"] for o in state["orders"]] == ["1", "2", "3", "4"]
    restored = SimulatedBroker.from_state(state)
    await restored.connect()
    assert {o.request.order_ref: o.broker_order_id for o in await restored.open_orders()} == ids
    assert restored.state_dict() == state


async def test_a_bracket_whose_entry_and_stop_are_marketable_on_arrival_fills_both_at_placement() -> None:
    broker = SimulatedBroker(ManualClock())
    recorder = Recorder(broker)
    await broker.connect()
    broker.set_price("AAA", D(95))
    await broker.place_bracket(bracket("B1", quantity=10, entry=100, take_profit=110, stop_loss=97))
    steps = [
        (type(e).__name__, e.order_ref, getattr(e, "status", None), getattr(e, "price", None))
        for e in recorder.events
        if isinstance(e, (Fill, OrderStatusUpdate))
    ]
    assert steps == [
        ("OrderStatusUpdate", "B1", S.WORKING, None), ("OrderStatusUpdate", "B1.tp", S.HELD, None),
        ("OrderStatusUpdate", "B1.sl", S.HELD, None),
        ("Fill", "B1", None, 95), ("OrderStatusUpdate", "B1", S.FILLED, None),  # better than its limit
        ("OrderStatusUpdate", "B1.tp", S.WORKING, None), ("OrderStatusUpdate", "B1.sl", S.WORKING, None),
        ("Fill", "B1.sl", None, 95), ("OrderStatusUpdate", "B1.sl", S.FILLED, None),  # under its stop
        ("OrderStatusUpdate", "B1.tp", S.CANCELLED, None),
    ]
    assert await broker.positions() == []


# -- delivery to a lone listener ----------------------------------------------------------------------


async def test_a_lone_listener_that_subscribes_another_hands_it_the_rest_of_the_batch() -> None:
    broker = SimulatedBroker(ManualClock())
    await broker.connect()
    first: list[BrokerEvent] = []
    second: list[BrokerEvent] = []

    def subscribing(event: BrokerEvent) -> None:
        if not first:
            broker.subscribe(second.append)
        first.append(event)

    broker.subscribe(subscribing)
    await broker.place_bracket(bracket("B1"))
    assert [getattr(e, "order_ref", None) for e in first] == ["B1", "B1.tp", "B1.sl"]
    assert second == first[1:]


async def test_a_lone_listener_that_unsubscribes_hears_nothing_after() -> None:
    broker = SimulatedBroker(ManualClock())
    await broker.connect()
    heard: list[BrokerEvent] = []

    def once(event: BrokerEvent) -> None:
        heard.append(event)
        unsubscribe()

    unsubscribe = broker.subscribe(once)
    await broker.place_bracket(bracket("B1"))
    assert len(heard) == 1
    await broker.place_order(order("O1"))
    assert len(heard) == 1


async def test_a_lone_raising_listener_hears_the_whole_batch_and_the_first_error_comes_after() -> None:
    broker = SimulatedBroker(ManualClock())
    await broker.connect()
    heard: list[BrokerEvent] = []

    def raising(event: BrokerEvent) -> None:
        heard.append(event)
        raise RuntimeError(f"listener bug {len(heard)}")

    broker.subscribe(raising)
    with pytest.raises(RuntimeError, match="listener bug 1") as raised:
        await broker.place_bracket(bracket("B1"))
    assert len(heard) == 3
    assert any("listener bug 2" in note for note in raised.value.__notes__)


# -- Bracket.is_closed and is_naked -------------------------------------------------------------------

LEGS = (OrderRef("B1"), OrderRef("B1.tp"), OrderRef("B1.sl"))
REPORTS = st.lists(
    st.one_of(
        st.tuples(
            st.just("status"), st.sampled_from(LEGS),
            st.sampled_from([S.SUBMITTED, S.HELD, S.WORKING, S.CANCELLED, S.REJECTED, S.EXPIRED]),
        ),
        st.tuples(st.just("fill"), st.sampled_from(LEGS), st.integers(1, 12)),
    ),
    max_size=14,
)


@settings(max_examples=300, deadline=None)
@given(REPORTS, st.booleans())
def test_is_closed_and_is_naked_say_what_their_definitions_say(
    reports: list[tuple[str, OrderRef, object]], submitted: bool
) -> None:
    b = Bracket(bracket("B1", quantity=10, entry=100, take_profit=110, stop_loss=90))
    if submitted:
        b.mark_submitted()
    for number, (kind, ref, what) in enumerate(reports):
        try:
            if kind == "status":
                assert isinstance(what, OrderStatus)
                b.apply_status(OrderStatusUpdate(ref, what))
            else:
                assert isinstance(what, int)
                side = Side.BUY if ref == "B1" else Side.SELL
                b.apply_fill(Fill(ExecId(f"X{number}"), ref, "AAA", side, D(what), D(100), EPOCH))
        except (InvalidTransition, OverFill, ValueError):
            pass  # a report the bracket refuses changes nothing that is checked here
        assert b.is_closed == (b._ending() is not None)
        assert b.is_naked == (b.open_quantity > b.exit_working_quantity)


def test_a_bracket_is_open_and_covered_until_its_entry_fills() -> None:
    b = Bracket(bracket("B1", quantity=10))
    assert not b.is_closed and not b.is_naked
    b.mark_submitted()
    assert not b.is_closed and not b.is_naked


# -- records made blank and filled in -----------------------------------------------------------------


def test_a_bracket_starts_with_the_legs_new_order_makes() -> None:
    request = bracket("B1", quantity=10)
    b = Bracket(request)
    assert b.legs == (Order(request.entry), Order(request.take_profit), Order(request.stop_loss))
    assert all(type(leg) is Order for leg in b.legs)
    for leg, leg_request in zip(b.legs, request.legs, strict=True):
        assert leg.request is leg_request
        for name in Order.__slots__:  # every slot set, as the generated __init__ sets it
            assert getattr(leg, name) == getattr(Order(leg_request), name)


def test_the_legs_of_a_bracket_placed_in_one_pass_are_what_sim_order_makes() -> None:
    request = bracket("B1", quantity=10)
    legs = new_bracket(request.entry, request.take_profit, request.stop_loss, 7, S.WORKING, S.HELD)
    expected = (
        SimOrder(request.entry, "7", S.WORKING),
        SimOrder(request.take_profit, "8", S.HELD),
        SimOrder(request.stop_loss, "9", S.HELD),
    )
    linked = legs[0].bracket
    assert linked is not None
    assert (linked.entry, linked.take_profit, linked.stop_loss, linked.exit_filled) == (*legs, D(0))
    for leg, wanted in zip(legs, expected, strict=True):
        assert type(leg) is SimOrder and leg.bracket is linked
        for name in SimOrder.__slots__:
            if name != "bracket":
                assert getattr(leg, name) == getattr(wanted, name), name
                assert type(getattr(leg, name)) is type(getattr(wanted, name)), name


@pytest.mark.parametrize("closing", ["B1.tp", "B1.sl"])
@pytest.mark.parametrize("same_decimal", [True, False])
def test_an_exit_closing_all_the_entry_filled_ends_the_bracket_with_one_cancel(
    closing: OrderRef, same_decimal: bool
) -> None:
    b = Bracket(bracket("B1", quantity=10, entry=100, take_profit=110, stop_loss=90))
    b.mark_submitted()
    entry_quantity = D(10)
    b.apply_fill(Fill(ExecId("X1"), OrderRef("B1"), "AAA", Side.BUY, entry_quantity, D(100), EPOCH))
    exit_quantity = entry_quantity if same_decimal else D("10.0")
    intentions = b.apply_fill(Fill(ExecId("X2"), closing, "AAA", Side.SELL, exit_quantity, D(110), EPOCH))
    [cancel] = intentions
    assert isinstance(cancel, CancelLegs)
    other = "B1.sl" if closing == "B1.tp" else "B1.tp"
    assert cancel.order_refs == ("B1", other) or cancel.order_refs == (other,)
    assert b.is_closed and not b.is_naked and b.open_quantity == 0 and b.flatten_ordered == 0
