"""Linked orders per symbol: side tracking, scale-ins, close-all and the reset when flat."""

from __future__ import annotations

from decimal import Decimal
from itertools import count

import pytest

from core.broker_events import Fill
from core.clock import EPOCH
from core.linked import ClosePlan, LinkApproved, LinkedOrders, LinkedState, LinkRejected
from core.values import ExecId, OrderRef, Side

D = Decimal
R = OrderRef
_ids = count(1)


def fill(ref: str, side: Side, quantity: int, symbol: str = "AAPL") -> Fill:
    return Fill(ExecId(f"X{next(_ids)}"), R(ref), symbol, side, D(quantity), D("100"), EPOCH)


def opened(side: Side = Side.BUY, quantity: int = 100) -> LinkedOrders:
    linked = LinkedOrders()
    decision = linked.open("AAPL", side, R("e1"), R("s1"), R("t1"), D(quantity))
    assert isinstance(decision, LinkApproved)
    return linked


def state(linked: LinkedOrders, symbol: str = "AAPL") -> LinkedState:
    current = linked.get(symbol)
    assert current is not None
    return current


def rejected(decision: object) -> str:
    assert isinstance(decision, LinkRejected), decision
    return decision.reason


def test_open_links_the_entry_stop_and_target_on_one_side() -> None:
    linked = LinkedOrders()
    decision = linked.open("AAPL", Side.BUY, R("e1"), R("s1"), R("t1"), D(100))
    assert isinstance(decision, LinkApproved)
    assert decision.state == linked.get("AAPL")
    current = state(linked)
    assert current.side is Side.BUY
    assert (current.entry_refs, current.stop_refs, current.target_refs) == (("e1",), ("s1",), ("t1",))
    assert current.scale_ins == 0
    assert current.ordered_quantity == 100
    assert current.open_quantity == current.net_quantity == 0
    assert current.working_refs == ("e1", "t1", "s1")
    assert linked.symbols() == ("AAPL",)


def test_opening_the_other_side_while_open_is_refused_until_close_all() -> None:
    linked = opened(Side.BUY)
    reason = rejected(linked.open("AAPL", Side.SELL, R("e2"), R("s2"), R("t2"), D(50)))
    assert reason == (
        "AAPL has an open long (BUY) position; opening a short (SELL) would mix sides: close_all AAPL first"
    )
    assert state(linked).entry_refs == ("e1",)


def test_opening_the_same_side_again_must_be_a_scale_in() -> None:
    linked = opened(Side.SELL)
    reason = rejected(linked.open("AAPL", Side.SELL, R("e2"), R("s2"), R("t2"), D(50)))
    assert reason == (
        "AAPL already has an open short (SELL) position; adding to it on the same side is a scale-in: "
        "use scale_in"
    )


def test_symbols_are_independent() -> None:
    linked = opened(Side.BUY)
    assert isinstance(linked.open("MSFT", Side.SELL, R("m1"), R("ms1"), R("mt1"), D(5)), LinkApproved)
    assert state(linked, "MSFT").side is Side.SELL
    assert linked.symbols() == ("AAPL", "MSFT")


def test_scale_in_on_the_same_side_adds_linked_orders() -> None:
    linked = opened(Side.BUY)
    decision = linked.scale_in("AAPL", Side.BUY, D(50), R("e2"), R("s2"), R("t2"))
    assert isinstance(decision, LinkApproved)
    current = state(linked)
    assert current.side is Side.BUY
    assert current.entry_refs == ("e1", "e2")
    assert current.stop_refs == ("s1", "s2")
    assert current.target_refs == ("t1", "t2")
    assert current.scale_ins == 1
    assert current.ordered_quantity == 150


def test_scale_in_on_the_other_side_is_refused() -> None:
    linked = opened(Side.BUY)
    reason = rejected(linked.scale_in("AAPL", Side.SELL, D(50), R("e2"), R("s2"), R("t2")))
    assert reason == (
        "AAPL is long (BUY); a SELL scale-in would mix sides. Scale in with BUY, or close_all AAPL "
        "before trading the other side"
    )
    assert state(linked).scale_ins == 0


def test_scale_in_with_nothing_open_is_refused() -> None:
    reason = rejected(LinkedOrders().scale_in("AAPL", Side.BUY, D(50), R("e2"), R("s2"), R("t2")))
    assert reason == "nothing is open for AAPL to scale into; open a position first"


@pytest.mark.parametrize(
    ("symbol", "quantity", "refs", "message"),
    [
        ("", D(1), ("a", "b", "c"), "the symbol is empty; name the stock to link orders for"),
        ("AAPL", D(0), ("a", "b", "c"), "AAPL: quantity must be a whole number above 0, got 0"),
        ("AAPL", D("1.5"), ("a", "b", "c"), "AAPL: quantity must be a whole number above 0, got 1.5"),
        ("AAPL", D(1), ("a", "", "c"),
         "AAPL: every linked order needs an order ref (entry, stop and target)"),
        ("AAPL", D(1), ("a", "a", "c"), "AAPL: entry, stop and target must have different order refs, "
                                        "got a, a, c"),
    ],
)
def test_bad_orders_are_refused_with_what_to_fix(
    symbol: str, quantity: Decimal, refs: tuple[str, str, str], message: str
) -> None:
    linked = LinkedOrders()
    assert rejected(linked.open(symbol, Side.BUY, R(refs[0]), R(refs[1]), R(refs[2]), quantity)) == message
    assert linked.symbols() == ()


def test_a_scale_in_may_not_reuse_a_linked_ref() -> None:
    linked = opened()
    reason = rejected(linked.scale_in("AAPL", Side.BUY, D(5), R("e2"), R("s1"), R("t2")))
    assert reason == "AAPL: order ref s1 is already linked; use a new ref per order"


def test_entry_fills_build_the_position_and_exit_fills_to_flat_reset_it() -> None:
    linked = opened(Side.BUY, 100)
    linked.scale_in("AAPL", Side.BUY, D(50), R("e2"), R("s2"), R("t2"))
    linked.on_fill(fill("e1", Side.BUY, 100))
    decision = linked.on_fill(fill("e2", Side.BUY, 50))
    assert isinstance(decision, LinkApproved) and decision.state is not None
    assert decision.state.open_quantity == 150
    assert decision.state.net_quantity == 150
    assert decision.state.working_refs == ("t1", "t2", "s1", "s2")  # filled entries no longer work
    linked.on_fill(fill("s1", Side.SELL, 100))
    assert state(linked).open_quantity == 50
    done = linked.on_fill(fill("s2", Side.SELL, 50))
    assert isinstance(done, LinkApproved)
    assert done.state is None and linked.get("AAPL") is None
    assert done.cancel_refs == ("t1", "t2")  # the targets left over must be cancelled
    assert "AAPL is flat after fill" in done.message
    # The next trade may take the other side.
    assert isinstance(linked.open("AAPL", Side.SELL, R("e3"), R("s3"), R("t3"), D(10)), LinkApproved)


def test_a_short_is_built_by_sells_and_closed_by_buys() -> None:
    linked = opened(Side.SELL, 10)
    linked.on_fill(fill("e1", Side.SELL, 10))
    assert state(linked).net_quantity == -10
    decision = linked.on_fill(fill("t1", Side.BUY, 10))
    assert isinstance(decision, LinkApproved) and decision.state is None
    assert decision.cancel_refs == ("s1",)


def test_fills_that_do_not_fit_are_refused_and_change_nothing() -> None:
    linked = opened(Side.BUY, 100)
    assert rejected(linked.on_fill(fill("x", Side.BUY, 1, symbol="MSFT"))).endswith(
        "is not linked: nothing is open for MSFT"
    )
    reason = rejected(linked.on_fill(fill("e1", Side.SELL, 5)))
    assert "on the wrong side for linked entry e1 of a long (BUY)" in reason
    linked.on_fill(fill("e1", Side.BUY, 10))
    reason = rejected(linked.on_fill(fill("s1", Side.SELL, 11)))
    assert "closes more than the linked 10 long (BUY)" in reason
    assert "reconcile AAPL with the broker" in reason
    assert state(linked).open_quantity == 10


def test_close_all_cancels_every_working_linked_order_and_flattens_what_is_filled() -> None:
    linked = opened(Side.BUY, 100)
    linked.scale_in("AAPL", Side.BUY, D(50), R("e2"), R("s2"), R("t2"))
    linked.on_fill(fill("e1", Side.BUY, 100))
    linked.on_fill(fill("e2", Side.BUY, 20))
    plan = linked.close_all("AAPL", "sell signal")
    assert plan == ClosePlan("AAPL", (R("e2"), R("t1"), R("t2"), R("s1"), R("s2")), Side.SELL, D(120),
                             "sell signal")
    # Until flat, nothing new may be opened or added, on either side.
    assert "close-all is in progress (sell signal)" in rejected(
        linked.open("AAPL", Side.SELL, R("e9"), R("s9"), R("t9"), D(1))
    )
    assert rejected(linked.scale_in("AAPL", Side.BUY, D(1), R("e9"), R("s9"), R("t9"))) == (
        "cannot scale in on AAPL: close-all is in progress (sell signal); wait until the position is flat"
    )
    # Asking again does not flatten twice.
    assert linked.close_all("AAPL", "again").flatten_quantity == 0
    # The flattening order is not linked, but its fill still brings the position to flat.
    decision = linked.on_fill(fill("flatten-1", Side.SELL, 120))
    assert isinstance(decision, LinkApproved) and decision.state is None


def test_close_all_with_nothing_filled_resets_at_once() -> None:
    linked = opened(Side.SELL, 10)
    plan = linked.close_all("AAPL", "stale")
    assert plan == ClosePlan("AAPL", (R("e1"), R("t1"), R("s1")), None, D(0), "stale")
    assert linked.get("AAPL") is None


def test_close_all_with_nothing_linked_has_nothing_to_do() -> None:
    plan = LinkedOrders().close_all("AAPL", "sell signal")
    assert plan == ClosePlan("AAPL", (), None, D(0), "sell signal: nothing is linked for AAPL")


def test_orders_that_ended_are_not_cancelled_again() -> None:
    linked = opened()
    assert isinstance(linked.on_order_ended("AAPL", R("t1")), LinkApproved)
    assert state(linked).working_refs == ("e1", "s1")
    reason = rejected(linked.on_order_ended("AAPL", R("zz")))
    assert reason == "order 'zz' is not linked to AAPL; nothing to update"


def test_on_flat_resets_a_trade_that_had_filled_and_returns_what_still_works() -> None:
    linked = opened()
    linked.on_fill(fill("e1", Side.BUY, 40))
    decision = linked.on_flat("AAPL")
    assert isinstance(decision, LinkApproved)
    assert decision.state is None and linked.get("AAPL") is None
    assert decision.cancel_refs == ("e1", "t1", "s1")
    assert decision.message == (
        "AAPL is flat: linked orders reset; cancel the linked orders still working: e1, t1, s1"
    )


def test_on_flat_before_anything_filled_keeps_the_waiting_entry() -> None:
    linked = opened()
    decision = linked.on_flat("AAPL")
    assert isinstance(decision, LinkApproved)
    assert decision.state == linked.get("AAPL") is not None
    assert LinkedOrders().on_flat("AAPL") == LinkApproved(None, message="nothing is linked for AAPL")
