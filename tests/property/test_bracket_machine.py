"""A Hypothesis state machine drives one bracket through acknowledgements, partial and full fills
of every leg, duplicate executions, cancels and rejects, and checks the bracket rules after every
step: nothing overfills, at most one exit fills, exits never close more than the entry opened,
exits never work before the entry fills, and no filled share is ever left without a working stop
unless it was handed over to be flattened."""

from __future__ import annotations

from decimal import Decimal
from itertools import count

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from core.bracket import ActivateExits, Bracket, BracketIntention, CancelLegs, FlattenPosition, ResizeExits
from core.broker_events import Fill, OrderStatusUpdate
from core.clock import EPOCH
from core.order_status import TRANSITIONS, InvalidTransition, OrderStatus, OrderTrigger
from core.orders import BracketRequest, Order, OrderRequest
from core.values import ZERO, ExecId, OrderRef, OrderType, Side

S = OrderStatus
ENTRY, TP, SL = OrderRef("M-entry"), OrderRef("M-tp"), OrderRef("M-sl")
FILLABLE_ENTRY = (S.PENDING, S.SUBMITTED, S.WORKING, S.PARTIALLY_FILLED)


def request(side: Side, quantity: int) -> BracketRequest:
    target, stop = (Decimal(110), Decimal(95)) if side is Side.BUY else (Decimal(90), Decimal(105))
    qty = Decimal(quantity)
    exit_side = side.opposite
    return BracketRequest(
        OrderRequest(ENTRY, "AAPL", side, qty, OrderType.MARKET),
        OrderRequest(TP, "AAPL", exit_side, qty, OrderType.LIMIT, limit_price=target, parent_ref=ENTRY,
                     oca_group="M"),
        OrderRequest(SL, "AAPL", exit_side, qty, OrderType.STOP, stop_price=stop, parent_ref=ENTRY,
                     oca_group="M"),
    )


class BracketMachine(RuleBasedStateMachine):
    """The broker side of one bracket, as random as the rules allow."""

    def __init__(self) -> None:
        super().__init__()
        self.bracket: Bracket | None = None
        self.exec_ids = count(1)
        self.applied: list[Fill] = []
        self.cancel_asked: set[OrderRef] = set()
        self.flattened = ZERO
        self.ordered = ZERO

    @property
    def b(self) -> Bracket:
        assert self.bracket is not None
        return self.bracket

    def leg(self, ref: OrderRef) -> Order:
        return next(order for order in self.b.legs if order.order_ref == ref)

    def record(self, intentions: tuple[BracketIntention, ...]) -> None:
        for intention in intentions:
            if isinstance(intention, ActivateExits | ResizeExits):
                assert intention.quantity == self.b.open_quantity > 0
            elif isinstance(intention, CancelLegs):
                assert intention.order_refs, "an empty cancel"
                assert set(intention.order_refs) <= {ENTRY, TP, SL}
                assert not set(intention.order_refs) & self.cancel_asked, "a leg cancelled twice"
                self.cancel_asked.update(intention.order_refs)
            else:
                assert isinstance(intention, FlattenPosition)
                assert intention.side is self.b.entry.request.side.opposite
                assert intention.quantity > 0
                assert intention.reason.startswith("NAKED")
                self.flattened += intention.quantity

    def fill(self, ref: OrderRef, quantity: int) -> None:
        order = self.leg(ref)
        fill = Fill(
            ExecId(f"X{next(self.exec_ids)}"), ref, "AAPL", order.request.side, Decimal(quantity),
            Decimal(100), EPOCH,
        )
        self.record(self.b.apply_fill(fill))
        self.applied.append(fill)

    @initialize(side=st.sampled_from(Side), quantity=st.integers(1, 12), submitted=st.booleans())
    def place(self, side: Side, quantity: int, submitted: bool) -> None:
        self.bracket = Bracket(request(side, quantity))
        self.ordered = Decimal(quantity)
        if submitted:
            self.b.mark_submitted()

    @rule(ref=st.sampled_from([ENTRY, TP, SL]), status=st.sampled_from([S.SUBMITTED, S.HELD, S.WORKING]))
    def acknowledge(self, ref: OrderRef, status: OrderStatus) -> None:
        self.record(self.b.apply_status(OrderStatusUpdate(ref, status)))

    @precondition(lambda self: self.b.entry.status in FILLABLE_ENTRY)
    @rule(data=st.data())
    def entry_partial_fill(self, data: st.DataObject) -> None:
        self.fill(ENTRY, data.draw(st.integers(1, int(self.b.entry.remaining)), label="quantity"))

    @precondition(lambda self: self.b.entry.status in FILLABLE_ENTRY)
    @rule()
    def entry_full_fill(self) -> None:
        self.fill(ENTRY, int(self.b.entry.remaining))

    @rule(ref=st.sampled_from([TP, SL]), full=st.booleans(), data=st.data())
    def exit_fill(self, ref: OrderRef, full: bool, data: st.DataObject) -> None:
        order = self.leg(ref)
        # Only what the bracket says this exit is working for can fill.
        working = order.remaining if order.status.is_working else ZERO
        if working == 0:
            return
        quantity = int(working) if full else data.draw(st.integers(1, int(working)), label="quantity")
        self.fill(ref, quantity)

    @precondition(lambda self: bool(self.applied))
    @rule(data=st.data())
    def duplicate_fill(self, data: st.DataObject) -> None:
        fill = data.draw(st.sampled_from(self.applied), label="repeat")
        before = [(order.status, order.filled, order.request.quantity) for order in self.b.legs]
        assert self.b.apply_fill(fill) == ()
        assert [(order.status, order.filled, order.request.quantity) for order in self.b.legs] == before

    @precondition(lambda self: not self.b.entry.status.is_terminal)
    @rule()
    def cancel_entry(self) -> None:
        self.record(self.b.apply_status(OrderStatusUpdate(ENTRY, S.CANCELLED, message="user")))

    @rule(ref=st.sampled_from([ENTRY, TP, SL]))
    def reject(self, ref: OrderRef) -> None:
        order = self.leg(ref)
        update = OrderStatusUpdate(ref, S.REJECTED, message="rejected", code=201)
        if order.status is S.REJECTED:
            assert self.b.apply_status(update) == ()
        elif (order.status, OrderTrigger.REJECT) in TRANSITIONS:
            self.record(self.b.apply_status(update))
        else:
            before = order.status
            with pytest.raises(InvalidTransition):
                self.b.apply_status(update)
            assert order.status is before

    @precondition(lambda self: any(
        order.order_ref in self.cancel_asked and not order.status.is_terminal for order in self.b.legs
    ))
    @rule(data=st.data())
    def broker_confirms_a_cancel(self, data: st.DataObject) -> None:
        pending = [
            order.order_ref for order in self.b.legs
            if order.order_ref in self.cancel_asked and not order.status.is_terminal
        ]
        ref = data.draw(st.sampled_from(pending), label="confirmed")
        self.record(self.b.apply_status(OrderStatusUpdate(ref, S.CANCELLED)))

    # -- invariants -------------------------------------------------------------------------

    @invariant()
    def nothing_overfills(self) -> None:
        if self.bracket is None:
            return
        assert self.b.entry.request.quantity == self.ordered
        for order in self.b.legs:
            assert ZERO <= order.filled <= order.request.quantity

    @invariant()
    def at_most_one_exit_fills(self) -> None:
        if self.bracket is None:
            return
        assert [self.b.take_profit.status, self.b.stop_loss.status].count(S.FILLED) <= 1

    @invariant()
    def exits_never_close_more_than_the_entry_opened(self) -> None:
        if self.bracket is None:
            return
        assert self.b.take_profit.filled + self.b.stop_loss.filled <= self.b.entry.filled
        exits_filled = self.b.take_profit.filled + self.b.stop_loss.filled
        assert self.b.open_quantity == self.b.entry.filled - exits_filled

    @invariant()
    def never_naked_while_open(self) -> None:
        if self.bracket is None:
            return
        if not self.b.is_closed and self.b.stop_loss.status is not S.REJECTED:
            assert self.b.exit_working_quantity == self.b.open_quantity
            assert not self.b.is_naked
            if self.b.take_profit.status.is_working:
                assert self.b.take_profit.remaining == self.b.open_quantity

    @invariant()
    def no_exit_works_before_the_entry_fills(self) -> None:
        if self.bracket is None:
            return
        if self.b.entry.filled == 0:
            assert not self.b.take_profit.status.is_working
            assert not self.b.stop_loss.status.is_working
            assert self.b.exit_working_quantity == 0

    @invariant()
    def a_lost_stop_with_shares_open_was_flattened(self) -> None:
        if self.bracket is None:
            return
        if self.b.stop_loss.status is S.REJECTED and self.b.open_quantity > 0:
            assert self.flattened > 0, "stop rejected with shares open but no FlattenPosition"
        # More generally: every share without a working stop was handed over to be flattened.
        assert self.b.open_quantity - self.b.exit_working_quantity <= self.flattened
        assert self.b.flatten_ordered == self.flattened

    @invariant()
    def a_bracket_closed_by_an_exit_has_no_exit_working(self) -> None:
        if self.bracket is None:
            return
        if S.FILLED in (self.b.take_profit.status, self.b.stop_loss.status):
            assert self.b.is_closed
            assert not self.b.take_profit.status.is_working
            assert not self.b.stop_loss.status.is_working


TestBracket = BracketMachine.TestCase
TestBracket.settings = settings(max_examples=200, stateful_step_count=30, deadline=None)
