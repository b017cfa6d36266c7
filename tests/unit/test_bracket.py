"""The executor's view of a bracket: each rule of BRACKET_RULES.md, and every refusal."""

from __future__ import annotations

from decimal import Decimal
from itertools import count

import pytest

from core.bracket import ActivateExits, Bracket, CancelLegs, FlattenPosition, ResizeExits
from core.broker_events import Fill, OrderStatusUpdate
from core.clock import EPOCH
from core.order_status import InvalidTransition, OrderStatus
from core.orders import BracketRequest, OrderRequest, OverFill
from core.values import ExecId, OrderRef, OrderType, Side

D = Decimal
S = OrderStatus
ENTRY, TP, SL = OrderRef("B1-entry"), OrderRef("B1-tp"), OrderRef("B1-sl")


def request(side: Side = Side.BUY, quantity: int = 100) -> BracketRequest:
    exit_side = side.opposite
    target, stop = (D("110"), D("95")) if side is Side.BUY else (D("90"), D("105"))
    qty = D(quantity)
    return BracketRequest(
        OrderRequest(ENTRY, "AAPL", side, qty, OrderType.LIMIT, limit_price=D("100")),
        OrderRequest(TP, "AAPL", exit_side, qty, OrderType.LIMIT, limit_price=target, parent_ref=ENTRY,
                     oca_group="B1"),
        OrderRequest(SL, "AAPL", exit_side, qty, OrderType.STOP, stop_price=stop, parent_ref=ENTRY,
                     oca_group="B1"),
    )


class Feed:
    """Builds broker reports for one bracket, with fresh execution ids."""

    def __init__(self, bracket: Bracket) -> None:
        self.bracket = bracket
        self.ids = count(1)

    def fill(self, ref: OrderRef, quantity: int, price: str = "100") -> Fill:
        side = next(order.request.side for order in self.bracket.legs if order.order_ref == ref)
        return Fill(ExecId(f"X{next(self.ids)}"), ref, "AAPL", side, D(quantity), D(price), EPOCH)

    def fills(self, ref: OrderRef, quantity: int, price: str = "100") -> tuple[object, ...]:
        return self.bracket.apply_fill(self.fill(ref, quantity, price))

    def status(self, ref: OrderRef, status: OrderStatus, message: str = "") -> tuple[object, ...]:
        return self.bracket.apply_status(OrderStatusUpdate(ref, status, message=message))


def placed(side: Side = Side.BUY, quantity: int = 100) -> tuple[Bracket, Feed]:
    """A bracket the broker has acknowledged: entry working, exits held."""
    bracket = Bracket(request(side, quantity))
    feed = Feed(bracket)
    bracket.mark_submitted()
    feed.status(ENTRY, S.WORKING)
    feed.status(TP, S.HELD)
    feed.status(SL, S.HELD)
    return bracket, feed


def statuses(bracket: Bracket) -> tuple[OrderStatus, ...]:
    return tuple(order.status for order in bracket.legs)


def test_a_new_bracket_holds_three_pending_orders_and_nothing_open() -> None:
    bracket = Bracket(request())
    assert [order.order_ref for order in bracket.legs] == [ENTRY, TP, SL]
    assert statuses(bracket) == (S.PENDING, S.PENDING, S.PENDING)
    assert bracket.open_quantity == 0
    assert bracket.exit_working_quantity == 0
    assert not bracket.is_closed
    assert not bracket.is_naked


def test_exits_are_held_until_the_entry_fills_even_if_reported_working() -> None:
    bracket, feed = placed()
    assert statuses(bracket) == (S.WORKING, S.HELD, S.HELD)
    assert feed.status(SL, S.WORKING) == ()
    assert bracket.stop_loss.status is S.HELD
    assert bracket.exit_working_quantity == 0


def test_a_partial_entry_fill_activates_both_exits_for_the_filled_quantity() -> None:
    bracket, feed = placed()
    assert feed.fills(ENTRY, 40) == (ActivateExits(D(40)),)
    assert statuses(bracket) == (S.PARTIALLY_FILLED, S.WORKING, S.WORKING)
    assert bracket.take_profit.remaining == bracket.stop_loss.remaining == 40
    assert bracket.open_quantity == bracket.exit_working_quantity == 40
    assert feed.fills(ENTRY, 60) == (ResizeExits(D(100)),)
    assert bracket.entry.status is S.FILLED
    assert bracket.open_quantity == bracket.exit_working_quantity == 100
    assert not bracket.is_naked


def test_an_exit_partial_fill_shrinks_the_other_exit_and_the_closing_fill_cancels_it() -> None:
    bracket, feed = placed()
    feed.fills(ENTRY, 100)
    assert feed.fills(TP, 30, "110") == (ResizeExits(D(70)),)
    assert bracket.take_profit.status is S.PARTIALLY_FILLED
    assert bracket.stop_loss.remaining == bracket.take_profit.remaining == 70
    intentions = feed.fills(SL, 70, "95")
    assert intentions == (CancelLegs((TP,), "bracket B1-entry (AAPL) closed by its stop loss B1-sl; "
                                     "cancel what is left of it"),)
    assert statuses(bracket) == (S.FILLED, S.CANCELLED, S.FILLED)
    assert bracket.is_closed and not bracket.is_naked
    assert bracket.open_quantity == 0
    assert feed.status(TP, S.CANCELLED) == ()  # the broker's confirmation is a repeat


def test_closing_with_the_entry_still_working_asks_to_cancel_its_remainder() -> None:
    bracket, feed = placed()
    feed.fills(ENTRY, 50)
    [cancel] = feed.fills(SL, 50, "95")
    assert isinstance(cancel, CancelLegs)
    assert cancel.order_refs == (ENTRY, TP)
    assert statuses(bracket) == (S.PARTIALLY_FILLED, S.CANCELLED, S.FILLED)  # entry: until confirmed
    assert bracket.is_closed
    assert feed.status(ENTRY, S.CANCELLED) == ()
    assert bracket.entry.status is S.CANCELLED


def test_an_entry_fill_racing_its_cancel_after_the_close_is_flattened_never_reopened() -> None:
    bracket, feed = placed()
    feed.fills(ENTRY, 50)
    feed.fills(TP, 50, "110")
    [flatten] = feed.fills(ENTRY, 20)
    assert flatten == FlattenPosition(
        "AAPL", Side.SELL, D(20),
        "NAKED: bracket B1-entry (AAPL) closed by its take profit B1-tp, leaving 20 AAPL long without "
        "a working stop; flatten at market and report it",
    )
    assert bracket.is_naked and bracket.is_closed
    assert bracket.flatten_ordered == 20
    again = FlattenPosition("AAPL", Side.SELL, D(5), flatten.reason.replace("20", "5"))
    assert feed.fills(ENTRY, 5) == (again,)


def test_cancelling_the_entry_before_any_fill_cancels_both_exits() -> None:
    bracket, feed = placed()
    [cancel] = feed.status(ENTRY, S.CANCELLED, "cancelled by user")
    assert cancel == CancelLegs(
        (TP, SL), "bracket B1-entry (AAPL) entry B1-entry ended CANCELLED before any fill; cancel what is "
        "left of it",
    )
    assert statuses(bracket) == (S.CANCELLED, S.CANCELLED, S.CANCELLED)
    assert bracket.entry.message == "cancelled by user"
    assert bracket.is_closed and not bracket.is_naked


def test_cancelling_the_entry_after_a_partial_fill_keeps_the_exits_for_the_filled_quantity() -> None:
    bracket, feed = placed()
    feed.fills(ENTRY, 30)
    assert feed.status(ENTRY, S.CANCELLED) == ()
    assert statuses(bracket) == (S.CANCELLED, S.WORKING, S.WORKING)
    assert bracket.exit_working_quantity == bracket.open_quantity == 30
    assert not bracket.is_closed
    assert feed.fills(TP, 30, "110") == (CancelLegs((SL,), bracket_reason("take profit B1-tp")),)
    assert bracket.is_closed


def bracket_reason(closed_by: str) -> str:
    return f"bracket B1-entry (AAPL) closed by its {closed_by}; cancel what is left of it"


@pytest.mark.parametrize("ending", [S.REJECTED, S.EXPIRED])
def test_an_entry_ending_unfilled_cancels_both_exits(ending: OrderStatus) -> None:
    bracket, feed = placed()
    [cancel] = feed.status(ENTRY, ending)
    assert isinstance(cancel, CancelLegs) and cancel.order_refs == (TP, SL)
    assert statuses(bracket) == (ending, S.CANCELLED, S.CANCELLED)
    assert bracket.is_closed


@pytest.mark.parametrize("lost", [S.REJECTED, S.CANCELLED, S.EXPIRED])
def test_a_stop_lost_with_shares_open_leaves_them_naked_and_they_are_flattened(lost: OrderStatus) -> None:
    bracket, feed = placed()
    feed.fills(ENTRY, 60)
    cancel, flatten = feed.status(SL, lost, "margin")
    assert cancel == CancelLegs(
        (ENTRY, TP), f"bracket B1-entry (AAPL) stop loss B1-sl is {lost.value}; cancel what is left of it"
    )
    assert flatten == FlattenPosition(
        "AAPL", Side.SELL, D(60),
        f"NAKED: bracket B1-entry (AAPL) stop loss B1-sl is {lost.value}, leaving 60 AAPL long without a "
        "working stop; flatten at market and report it",
    )
    assert bracket.is_naked and bracket.is_closed
    assert bracket.take_profit.status is S.WORKING  # cancelled when the broker confirms it


def test_a_short_bracket_that_loses_its_stop_is_flattened_by_buying() -> None:
    _bracket, feed = placed(Side.SELL, 10)
    feed.fills(ENTRY, 10)
    cancel, flatten = feed.status(SL, S.CANCELLED)
    assert cancel == CancelLegs((TP,), "bracket B1-entry (AAPL) stop loss B1-sl is CANCELLED; cancel what "
                                "is left of it")
    assert isinstance(flatten, FlattenPosition)
    assert (flatten.side, flatten.quantity) == (Side.BUY, D(10))
    assert "10 AAPL short" in flatten.reason


def test_a_stop_rejected_before_the_entry_fills_cancels_the_entry_and_nothing_is_flattened() -> None:
    bracket, feed = placed()
    [cancel] = feed.status(SL, S.REJECTED)
    assert isinstance(cancel, CancelLegs) and cancel.order_refs == (ENTRY, TP)
    assert bracket.is_closed and not bracket.is_naked
    assert feed.status(ENTRY, S.CANCELLED) == ()
    assert statuses(bracket) == (S.CANCELLED, S.CANCELLED, S.REJECTED)


def test_a_rejected_take_profit_leaves_the_stop_protecting_the_position() -> None:
    bracket, feed = placed()
    feed.fills(ENTRY, 100)
    assert feed.status(TP, S.REJECTED, "price too far") == ()
    assert not bracket.is_closed and not bracket.is_naked
    assert bracket.exit_working_quantity == 100
    assert feed.fills(SL, 100, "95") == ()
    assert bracket.is_closed


def test_a_take_profit_rejected_while_held_does_not_stop_the_stop_from_activating() -> None:
    bracket, feed = placed()
    feed.status(TP, S.REJECTED)
    assert feed.fills(ENTRY, 10) == (ActivateExits(D(10)),)
    assert statuses(bracket) == (S.PARTIALLY_FILLED, S.REJECTED, S.WORKING)


def test_a_duplicate_execution_changes_nothing() -> None:
    bracket, feed = placed()
    fill = feed.fill(ENTRY, 40)
    assert bracket.apply_fill(fill) == (ActivateExits(D(40)),)
    assert bracket.apply_fill(fill) == ()
    assert bracket.entry.filled == 40
    exit_fill = feed.fill(TP, 40, "110")
    bracket.apply_fill(exit_fill)
    assert bracket.apply_fill(exit_fill) == ()  # even after the bracket closed
    assert bracket.take_profit.filled == 40


def test_an_execution_may_overtake_the_acknowledgements() -> None:
    bracket = Bracket(request())
    assert bracket.apply_fill(Feed(bracket).fill(ENTRY, 100)) == (ActivateExits(D(100)),)
    assert statuses(bracket) == (S.FILLED, S.WORKING, S.WORKING)
    assert bracket.apply_status(OrderStatusUpdate(SL, S.HELD)) == ()  # a stale acknowledgement
    assert bracket.stop_loss.status is S.WORKING


def test_fill_reports_in_a_status_update_change_nothing_until_the_execution_arrives() -> None:
    bracket, _feed = placed()
    assert bracket.apply_status(OrderStatusUpdate(ENTRY, S.FILLED, filled=D(100))) == ()
    assert bracket.apply_status(OrderStatusUpdate(ENTRY, S.PARTIALLY_FILLED, filled=D(10))) == ()
    assert bracket.entry.status is S.WORKING and bracket.entry.filled == 0


def test_a_repeated_status_changes_nothing() -> None:
    _bracket, feed = placed()
    feed.status(ENTRY, S.CANCELLED)
    assert feed.status(ENTRY, S.CANCELLED) == ()
    assert feed.status(ENTRY, S.WORKING) == ()  # late acknowledgement of an ended order


def test_an_impossible_status_change_is_refused_by_the_transition_table() -> None:
    _bracket, feed = placed()
    feed.fills(ENTRY, 100)
    with pytest.raises(InvalidTransition, match="order B1-entry is FILLED and cannot take 'cancel'"):
        feed.status(ENTRY, S.CANCELLED)


def test_reports_for_an_order_outside_the_bracket_are_refused() -> None:
    bracket, _feed = placed()
    stranger = Fill(ExecId("X9"), OrderRef("B2-entry"), "AAPL", Side.BUY, D(1), D(1), EPOCH)
    message = (
        "fill X9 is for order 'B2-entry', which is not a leg of bracket B1-entry "
        r"\(AAPL: B1-entry, B1-tp, B1-sl\); route it to the bracket that owns it"
    )
    with pytest.raises(ValueError, match=message):
        bracket.apply_fill(stranger)
    with pytest.raises(ValueError, match="status report CANCELLED is for order 'B2-entry'"):
        bracket.apply_status(OrderStatusUpdate(OrderRef("B2-entry"), S.CANCELLED))


def test_a_fill_with_the_wrong_symbol_or_side_is_refused() -> None:
    bracket, _feed = placed()
    wrong_side = Fill(ExecId("X9"), ENTRY, "AAPL", Side.SELL, D(1), D(1), EPOCH)
    with pytest.raises(ValueError, match=r"fill X9 \(SELL AAPL\) does not match order B1-entry \(BUY AAPL\)"):
        bracket.apply_fill(wrong_side)
    wrong_symbol = Fill(ExecId("X9"), ENTRY, "MSFT", Side.BUY, D(1), D(1), EPOCH)
    with pytest.raises(ValueError, match=r"\(BUY MSFT\) does not match"):
        bracket.apply_fill(wrong_symbol)
    assert bracket.entry.filled == 0


def test_an_exit_never_fills_more_than_is_open() -> None:
    bracket, feed = placed()
    with pytest.raises(ValueError, match=r"fill X1 of 5 on exit B1-tp exceeds the open quantity 0"):
        feed.fills(TP, 5)
    feed.fills(ENTRY, 10)
    with pytest.raises(ValueError, match=r"open quantity 10 of bracket B1-entry \(entry filled 10\)"):
        feed.fills(SL, 11)
    assert bracket.stop_loss.filled == 0


def test_an_entry_never_fills_more_than_ordered() -> None:
    _bracket, feed = placed(quantity=10)
    feed.fills(ENTRY, 8)
    with pytest.raises(OverFill, match="exceeds the ordered 10"):
        feed.fills(ENTRY, 3)
