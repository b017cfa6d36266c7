"""Random streams of open / scale-in / fill / order-ended / close-all / flat on a few symbols, with
random sides: a symbol's linked state never mixes sides, a scale-in never flips it, and close-all
always names every linked order still working."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from itertools import count

from hypothesis import given
from hypothesis import strategies as st

from core.broker_events import Fill
from core.clock import EPOCH
from core.linked import LinkApproved, LinkedOrders, LinkedState, LinkRejected, LinkRole
from core.values import ExecId, OrderRef, Side

SYMBOLS = ("AAPL", "MSFT", "NVDA")
symbols = st.sampled_from(SYMBOLS)
sides = st.sampled_from(Side)
small = st.integers(1, 5)

operations = st.one_of(
    st.tuples(st.just("open"), symbols, sides, small),
    st.tuples(st.just("scale_in"), symbols, sides, small),
    st.tuples(st.just("fill"), symbols, st.integers(0, 30), small),
    st.tuples(st.just("ended"), symbols, st.integers(0, 30)),
    st.tuples(st.just("close_all"), symbols),
    st.tuples(st.just("flat"), symbols),
)


@dataclass
class Model:
    """What the test itself remembers of one symbol's linked orders since its state began."""

    side: Side
    ordered: dict[OrderRef, Decimal] = field(default_factory=dict)
    filled: dict[OrderRef, Decimal] = field(default_factory=dict)
    ended: set[OrderRef] = field(default_factory=set)

    def link(self, refs: tuple[OrderRef, ...], quantity: Decimal) -> None:
        for ref in refs:
            self.ordered[ref] = quantity
            self.filled[ref] = Decimal(0)

    def working(self) -> set[OrderRef]:
        return {ref for ref, qty in self.ordered.items() if ref not in self.ended and self.filled[ref] < qty}


class Run:
    def __init__(self) -> None:
        self.linked = LinkedOrders()
        self.models: dict[str, Model] = {}
        self.ids = count(1)

    def refs(self) -> tuple[OrderRef, OrderRef, OrderRef]:
        n = next(self.ids)
        return OrderRef(f"e{n}"), OrderRef(f"s{n}"), OrderRef(f"t{n}")

    def check_state(self, symbol: str) -> None:
        current, model = self.linked.get(symbol), self.models.get(symbol)
        if current is None:
            assert model is None
            return
        assert model is not None
        assert current.side is model.side, "the side of a linked state changed"
        assert current.open_quantity >= 0
        assert current.net_quantity == current.side.sign * current.open_quantity
        assert {leg.order_ref for leg in current.legs} == set(model.ordered)
        assert set(current.working_refs) >= model.working()

    def follow(self, symbol: str, decision: LinkApproved | LinkRejected) -> None:
        if isinstance(decision, LinkApproved) and decision.state is None:
            model = self.models.pop(symbol, None)
            if model is not None:
                assert set(decision.cancel_refs) >= model.working()


def apply(run: Run, operation: tuple[object, ...]) -> None:
    kind, symbol = operation[0], str(operation[1])
    linked, before = run.linked, run.linked.get(symbol)
    if kind in ("open", "scale_in"):
        side, quantity = operation[2], Decimal(str(operation[3]))
        assert isinstance(side, Side)
        entry, stop, target = run.refs()
        if kind == "open":
            decision = linked.open(symbol, side, entry, stop, target, quantity)
        else:
            decision = linked.scale_in(symbol, side, quantity, entry, stop, target)
        if isinstance(decision, LinkApproved):
            assert decision.state is not None and decision.state.side is side
            if kind == "open":
                assert before is None, "opened over a linked state"
                run.models[symbol] = Model(side)
            else:
                assert before is not None and before.side is side, "a scale-in changed the side"
                assert before.closing is None
            run.models[symbol].link((entry, stop, target), quantity)
        else:
            assert linked.get(symbol) == before, "a rejection changed the state"
            if kind == "open" and before is not None and before.side is not side and before.closing is None:
                assert "would mix sides: close_all" in decision.reason
            if kind == "scale_in" and before is None:
                assert decision.reason.startswith("nothing is open")
            if kind == "scale_in" and before is not None and before.side is not side:
                # While a close-all winds down, "close-all is in progress" is the first reason.
                expected = "close-all is in progress" if before.closing is not None else "would mix sides"
                assert expected in decision.reason
    elif kind == "fill" and before is not None:
        fill_leg(run, symbol, before, int(str(operation[2])), Decimal(str(operation[3])))
    elif kind == "ended" and before is not None:
        ref = before.legs[int(str(operation[2])) % len(before.legs)].order_ref
        assert isinstance(linked.on_order_ended(symbol, ref), LinkApproved)
        run.models[symbol].ended.add(ref)
    elif kind == "close_all":
        working = run.models[symbol].working() if symbol in run.models else set()
        plan = linked.close_all(symbol, "test")
        assert set(plan.cancel_refs) >= working, "close_all left a working linked order out"
        if before is not None:
            assert plan.flatten_quantity <= before.open_quantity
            assert plan.flatten_side is (before.side.opposite if plan.flatten_quantity else None)
        if linked.get(symbol) is None:
            run.models.pop(symbol, None)
    elif kind == "flat":
        run.follow(symbol, linked.on_flat(symbol))
    run.check_state(symbol)


def fill_leg(run: Run, symbol: str, state: LinkedState, index: int, quantity: Decimal) -> None:
    leg = state.legs[index % len(state.legs)]
    side = state.side if leg.role is LinkRole.ENTRY else state.side.opposite
    fill = Fill(ExecId(f"x{next(run.ids)}"), leg.order_ref, symbol, side, quantity, Decimal(10), EPOCH)
    decision = run.linked.on_fill(fill)
    if isinstance(decision, LinkRejected):
        assert leg.role is not LinkRole.ENTRY and quantity > state.open_quantity
        assert run.linked.get(symbol) == state
        return
    run.models[symbol].filled[leg.order_ref] += quantity
    run.follow(symbol, decision)
    if decision.state is None:
        assert leg.role is not LinkRole.ENTRY and quantity == state.open_quantity


@given(st.lists(operations, max_size=60))
def test_linked_states_never_mix_sides_and_close_all_covers_every_working_order(
    stream: list[tuple[object, ...]],
) -> None:
    run = Run()
    for operation in stream:
        apply(run, operation)
    for symbol in SYMBOLS:
        working = run.models[symbol].working() if symbol in run.models else set()
        assert set(run.linked.close_all(symbol, "end of day").cancel_refs) >= working
