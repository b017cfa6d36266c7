"""A Hypothesis state machine over the simulated broker: brackets of random side, size and entry
type, with and without partial fills, under price moves, cancels, rejections and lost connections.

After every step it checks, from the broker's own records and from every event it emitted:
filled <= ordered for every order; at most one exit of a bracket fills it; the working stop of
every bracket equals that bracket's open quantity (never naked); no exit works or fills before
its entry has filled; each symbol's position equals the sum of its signed fills.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from adapters.simulated import SimulatedBroker, SimulationConfig
from adapters.simulated.book import SimOrder
from core.broker_events import BrokerEvent, ConnectionEvent, Fill, OrderStatusUpdate
from core.clock import ManualClock
from core.order_status import OrderStatus
from core.orders import BracketRequest, OrderRequest
from core.ports import BrokerError
from core.values import ZERO, OrderRef, OrderType, Side
from tests.fakes.orders import run_now

SYMBOLS = ("AAA", "BBB")
START = Decimal(100)
LIVE = (OrderStatus.WORKING, OrderStatus.PARTIALLY_FILLED)
NOT_YET_ACTIVE = (OrderStatus.HELD, OrderStatus.CANCELLED, OrderStatus.REJECTED)


class SimulatedBracketMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock()
        self.broker = SimulatedBroker(self.clock)
        self.log: list[BrokerEvent] = []  # delivered events, with those lost while disconnected put back
        self.lost_seen = 0
        self.brackets: list[BracketRequest] = []

    @initialize(partial=st.sampled_from([None, 1, 3]))
    def start(self, partial: int | None) -> None:
        config = SimulationConfig(partial_fill_quantity=None if partial is None else Decimal(partial))
        self.broker = SimulatedBroker(self.clock, config)
        self.broker.subscribe(self.log.append)
        run_now(self.broker.connect())
        for symbol in SYMBOLS:
            self.broker.set_price(symbol, START)

    # -- what happens ----------------------------------------------------------------------------

    @rule(
        symbol=st.sampled_from(SYMBOLS),
        side=st.sampled_from(Side),
        quantity=st.integers(1, 12),
        entry_type=st.sampled_from(OrderType),
        entry_offset=st.integers(-3, 3),
        target_ticks=st.integers(1, 6),
        stop_ticks=st.integers(1, 6),
        stop_limit=st.booleans(),
    )
    def place_bracket(
        self, symbol: str, side: Side, quantity: int, entry_type: OrderType, entry_offset: int,
        target_ticks: int, stop_ticks: int, stop_limit: bool,
    ) -> None:
        ref = OrderRef(f"B{len(self.brackets)}")
        level = self.broker.feed.prices[symbol] + entry_offset
        entry_stop = level if entry_type.needs_stop_price else None
        entry_limit = level + side.sign if entry_type is OrderType.STOP_LIMIT else level
        entry = OrderRequest(
            ref, symbol, side, Decimal(quantity), entry_type,
            entry_limit if entry_type.needs_limit_price else None, entry_stop,
        )
        reference = self.broker.feed.prices[symbol] if entry_type is OrderType.MARKET else level
        exit_side = side.opposite
        target_price = reference + target_ticks * side.sign
        stop_price = reference - stop_ticks * side.sign
        if min(target_price, stop_price, level) <= 1:
            return  # too close to zero for this price path; nothing to test here
        stop_type = OrderType.STOP_LIMIT if stop_limit else OrderType.STOP
        request = BracketRequest(
            entry,
            OrderRequest(OrderRef(f"{ref}.tp"), symbol, exit_side, Decimal(quantity), OrderType.LIMIT,
                         target_price, parent_ref=ref, oca_group=ref),
            OrderRequest(OrderRef(f"{ref}.sl"), symbol, exit_side, Decimal(quantity), stop_type,
                         stop_price - side.sign if stop_limit else None, stop_price,
                         parent_ref=ref, oca_group=ref),
        )
        try:
            run_now(self.broker.place_bracket(request))
        except BrokerError as refused:
            assert not self.broker.is_connected(), refused
            return
        self.brackets.append(request)

    @rule(symbol=st.sampled_from(SYMBOLS), move=st.integers(-8, 8))
    def move_price(self, symbol: str, move: int) -> None:
        self.broker.set_price(symbol, max(Decimal(1), self.broker.feed.prices[symbol] + move))

    @rule()
    def step(self) -> None:
        self.clock.advance(1)
        self.broker.step()

    @precondition(lambda self: bool(self.brackets))
    @rule(data=st.data(), leg=st.sampled_from(["entry", "take_profit"]))
    def cancel(self, data: st.DataObject, leg: str) -> None:
        request = data.draw(st.sampled_from(self.brackets))
        ref = request.entry.order_ref if leg == "entry" else request.take_profit.order_ref
        if not self.broker.is_connected() or self.record(ref).status.is_terminal:
            return
        run_now(self.broker.cancel_order(ref))

    @rule(code=st.sampled_from([201, 202, 110]))
    def reject_next(self, code: int) -> None:
        self.broker.faults.reject_next(code, f"simulated rejection {code}")

    @precondition(lambda self: self.broker.is_connected())
    @rule()
    def lose_connection(self) -> None:
        self.broker.faults.disconnect()

    @precondition(lambda self: not self.broker.is_connected())
    @rule()
    def reconnect(self) -> None:
        lost = self.broker.faults.lost
        self.log.extend(lost[self.lost_seen :])
        self.lost_seen = len(lost)
        run_now(self.broker.connect())

    # -- what must always hold -------------------------------------------------------------------

    def record(self, ref: str) -> SimOrder:
        return self.broker.exchange.orders[OrderRef(ref)]

    def all_events(self) -> list[BrokerEvent]:
        return self.log + self.broker.faults.lost[self.lost_seen :]

    @invariant()
    def filled_never_exceeds_ordered(self) -> None:
        for order in self.broker.exchange.orders.values():
            assert ZERO <= order.filled <= order.quantity <= order.request.quantity, order.ref
            assert (order.status is OrderStatus.FILLED) == (order.filled == order.quantity), order.ref

    @invariant()
    def brackets_follow_the_rules(self) -> None:
        for request in self.brackets:
            entry, tp, sl = (self.record(leg.order_ref) for leg in request.legs)
            open_quantity = entry.filled - tp.filled - sl.filled
            assert open_quantity >= 0, entry.ref
            assert [tp.status, sl.status].count(OrderStatus.FILLED) <= 1, entry.ref
            working_stop = sl.quantity - sl.filled if sl.status in LIVE else ZERO
            assert working_stop == open_quantity, (entry.ref, working_stop, open_quantity)  # never naked
            if tp.status in LIVE:
                assert tp.quantity - tp.filled == open_quantity, entry.ref
            if entry.filled == 0:
                assert tp.status in NOT_YET_ACTIVE and sl.status in NOT_YET_ACTIVE, entry.ref
                assert tp.filled == sl.filled == 0, entry.ref

    @invariant()
    def no_exit_works_before_its_entry_filled(self) -> None:
        first_entry_fill: dict[str, int] = {}
        parents = {leg.order_ref: r.entry.order_ref for r in self.brackets for leg in r.legs[1:]}
        for index, event in enumerate(self.all_events()):
            if isinstance(event, Fill) and event.order_ref not in parents:
                first_entry_fill.setdefault(event.order_ref, index)
            parent = parents.get(event.order_ref) if not isinstance(event, ConnectionEvent) else None
            if parent is None:
                continue
            active = isinstance(event, Fill) or (
                isinstance(event, OrderStatusUpdate) and event.status is not OrderStatus.HELD
                and not event.status.is_terminal
            )
            if active:
                assert first_entry_fill.get(parent, index) < index, (event, parent)

    @invariant()
    def positions_are_the_sum_of_signed_fills(self) -> None:
        fills = self.broker.exchange.fills
        reported = [e for e in self.all_events() if isinstance(e, Fill)]
        assert reported == fills  # every execution was told (or is kept as lost), in order
        per_order: dict[str, Decimal] = {}
        per_symbol: dict[str, Decimal] = {}
        for fill in fills:
            per_order[fill.order_ref] = per_order.get(fill.order_ref, ZERO) + fill.quantity
            per_symbol[fill.symbol] = per_symbol.get(fill.symbol, ZERO) + fill.quantity * fill.side.sign
        for order in self.broker.exchange.orders.values():
            assert order.filled == per_order.get(order.ref, ZERO), order.ref
        holdings = {s: p.quantity for s, p in self.broker.ledger.positions_by_symbol.items() if p.quantity}
        assert holdings == {s: q for s, q in per_symbol.items() if q}

    @invariant()
    def net_liquidation_is_cash_plus_pnl(self) -> None:
        summary = self.broker.ledger.snapshot(self.broker.exchange.prices)
        start = self.broker.config.starting_cash
        drift = summary.net_liquidation - (start + summary.realized_pnl + summary.unrealized_pnl)
        assert drift == 0, drift  # the books are exact (the core Position keeps an exact cost basis)


SimulatedBracketMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=30, deadline=None)
TestSimulatedBrackets = SimulatedBracketMachine.TestCase
