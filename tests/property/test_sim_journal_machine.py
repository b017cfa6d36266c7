"""A Hypothesis state machine over the executor's durable simulated broker (entrypoints.executor.sim):
after every step, the state file plus its journal restore exactly the broker's `state_dict()`.

Each call journals only the orders the broker reported on (plus new and completed ones, and stops a
price move triggered without a fill) when it can know those are all that changed, and compares
every open order of the call's symbols otherwise (a fault armed, disconnected, a call made from
inside a delivery). The steps drive both: brackets of every entry type, exits added on their own,
standalone orders (IOC too), partial fills, price moves of one or several symbols, cancels,
rejections, held and dropped reports, lost connections, a subscriber that calls the broker again
from a delivery or raises, the end of the day (changes made outside a call, saved with `save`),
refreshes and compactions of the state file, and restarts as after a kill -9. A crash between the
two steps of a compaction (the new state file beside the whole old journal) restores exactly too.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from adapters.simulated import SimulatedBroker, SimulationConfig
from adapters.simulated.book import SimOrder
from core.broker_events import BrokerEvent, ConnectionEvent, Fill
from core.clock import ManualClock
from core.order_status import OrderStatus
from core.orders import BracketRequest, OrderRequest
from core.ports import BrokerError
from core.values import OrderRef, OrderType, Side, TimeInForce
from entrypoints.executor.sim import DurableSimulatedBroker
from entrypoints.executor.sim_journal import StateJournal
from tests.fakes.orders import run_now

SYMBOLS = ("AAA", "BBB", "CCC")
START = Decimal(100)
HELD, WORKING = OrderStatus.HELD, OrderStatus.WORKING


class Hooked(Exception):
    """Raised by the test's subscriber when asked to (the broker re-raises it after delivering)."""


class DurableSimulatedMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.directory = Path(tempfile.mkdtemp(prefix="sim-journal-machine-"))
        self.path = self.directory / "sim.json"
        self.clock = ManualClock()
        self.numbers = iter(range(1_000_000))
        self.entries: list[OrderRef] = []
        self.refs: list[OrderRef] = []
        self.on_event: Callable[[BrokerEvent], None] | None = None  # a one-shot action of the subscriber
        self.compact_bytes = 1 << 20
        self.broker: DurableSimulatedBroker

    def teardown(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)

    def _open(self) -> None:
        self.broker = DurableSimulatedBroker(self.clock, self.path, "SIM1", compact_bytes=self.compact_bytes)
        self.broker.subscribe(self._subscriber)
        run_now(self.broker.connect())

    def _subscriber(self, event: BrokerEvent) -> None:
        if isinstance(event, ConnectionEvent):
            return  # the actions are about orders
        action, self.on_event = self.on_event, None
        if action is not None:
            action(event)

    def _ref(self, prefix: str) -> OrderRef:
        return OrderRef(f"{prefix}{next(self.numbers)}")

    def _price(self, symbol: str) -> Decimal:
        return self.broker.price(symbol) or START

    def _call(self, call: Callable[[], Any]) -> None:
        try:
            call()
        except BrokerError:
            pass  # refused (or not connected): what changed, if anything, is journaled all the same
        except Hooked:
            pass  # the test's subscriber raised: every event was delivered, and journaled

    @initialize(
        partial=st.sampled_from([None, 1, 3]),
        compact_bytes=st.sampled_from([1 << 20, 4000, 900]),
    )
    def start(self, partial: int | None, compact_bytes: int) -> None:
        self.compact_bytes = compact_bytes
        quantity = None if partial is None else Decimal(partial)
        config = SimulationConfig(account="SIM1", partial_fill_quantity=quantity)
        # A state file of a new account with partial fills: the durable broker starts from it.
        self.path.write_text(json.dumps(SimulatedBroker(self.clock, config).state_dict()))
        self._open()
        self.broker.set_prices(dict.fromkeys(SYMBOLS, START))

    # -- calls -----------------------------------------------------------------------------------

    @rule(
        symbol=st.sampled_from(SYMBOLS),
        side=st.sampled_from(Side),
        quantity=st.integers(1, 9),
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
        ref = self._ref("B")
        price = self._price(symbol)
        level = price + entry_offset
        reference = price if entry_type is OrderType.MARKET else level
        target, stop = reference + target_ticks * side.sign, reference - stop_ticks * side.sign
        if min(target, stop, level) <= 2:
            return
        entry = OrderRequest(
            ref, symbol, side, Decimal(quantity), entry_type,
            (level + side.sign if entry_type is OrderType.STOP_LIMIT else level)
            if entry_type.needs_limit_price else None,
            level if entry_type.needs_stop_price else None,
        )
        exit_side = side.opposite
        request = BracketRequest(
            entry,
            OrderRequest(OrderRef(f"{ref}.tp"), symbol, exit_side, Decimal(quantity), OrderType.LIMIT,
                         target, parent_ref=ref, oca_group=ref),
            OrderRequest(OrderRef(f"{ref}.sl"), symbol, exit_side, Decimal(quantity),
                         OrderType.STOP_LIMIT if stop_limit else OrderType.STOP,
                         stop - side.sign if stop_limit else None, stop, parent_ref=ref, oca_group=ref),
        )
        self._call(lambda: run_now(self.broker.place_bracket(request)))
        self.entries.append(ref)
        self.refs.extend(leg.order_ref for leg in request.legs)

    @precondition(lambda self: bool(self.entries))
    @rule(data=st.data(), stop=st.booleans(), ticks=st.integers(1, 5))
    def place_exit(self, data: st.DataObject, stop: bool, ticks: int) -> None:
        """An exit placed on its own (a rebuilt leg): joins the bracket, or is refused."""
        parent = self.broker.inner.exchange.orders.get(data.draw(st.sampled_from(self.entries)))
        if parent is None:
            return
        side = parent.request.side.opposite
        price = self._price(parent.symbol)
        level = price + ticks * (side.sign if stop else -side.sign)
        if level <= 1:
            return
        ref = self._ref("X")
        request = OrderRequest(ref, parent.symbol, side, parent.request.quantity,
                               OrderType.STOP if stop else OrderType.LIMIT,
                               None if stop else level, level if stop else None, parent_ref=parent.ref)
        self._call(lambda: run_now(self.broker.place_order(request)))
        self.refs.append(ref)

    @rule(
        symbol=st.sampled_from(SYMBOLS), side=st.sampled_from(Side), quantity=st.integers(1, 6),
        order_type=st.sampled_from(OrderType), offset=st.integers(-3, 3),
        tif=st.sampled_from([TimeInForce.DAY, TimeInForce.GTC, TimeInForce.IOC]),
    )
    def place_order(
        self, symbol: str, side: Side, quantity: int, order_type: OrderType, offset: int, tif: TimeInForce
    ) -> None:
        level = self._price(symbol) + offset
        ref = self._ref("O")
        request = OrderRequest(
            ref, symbol, side, Decimal(quantity), order_type,
            (level + side.sign if order_type is OrderType.STOP_LIMIT else level)
            if order_type.needs_limit_price else None,
            level if order_type.needs_stop_price else None, tif,
        )
        self._call(lambda: run_now(self.broker.place_order(request)))
        self.refs.append(ref)

    @precondition(lambda self: bool(self.refs))
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        ref = data.draw(st.sampled_from(self.refs))
        self._call(lambda: run_now(self.broker.cancel_order(ref)))

    @rule(symbol=st.sampled_from(SYMBOLS), move=st.integers(-9, 9), advance=st.booleans())
    def move_price(self, symbol: str, move: int, advance: bool) -> None:
        if advance:
            self.clock.advance(1)  # also releases held reports at the next delivery
        price = max(Decimal(2), self._price(symbol) + move)
        self._call(lambda: self.broker.set_price(symbol, price))

    @rule(data=st.data())
    def fill_a_waiting_entry(self, data: st.DataObject) -> None:
        """Move the price to where a waiting bracket entry fills (its exits start working)."""
        waiting = self._waiting_entries()
        if waiting:
            entry = data.draw(st.sampled_from(waiting)).request
            price = entry.stop_price or entry.limit_price or START
            self._call(lambda: self.broker.set_price(entry.symbol, price))

    def _waiting_entries(self) -> list[SimOrder]:
        return [order for order in self.broker.inner.exchange.open.values()
                if order.status is WORKING and order.bracket is not None and order.bracket.entry is order]

    @rule(moves=st.dictionaries(st.sampled_from(SYMBOLS), st.integers(-9, 9), min_size=2))
    def move_prices(self, moves: dict[str, int]) -> None:
        prices = {symbol: max(Decimal(2), self._price(symbol) + move) for symbol, move in moves.items()}
        self._call(lambda: self.broker.set_prices(prices))

    @rule()
    def end_of_day(self) -> None:
        """A change made on the broker directly, outside the port's calls, then saved."""
        try:
            self._call(self.broker.inner.end_of_day)
        finally:
            self.broker.save()

    # -- faults and subscribers --------------------------------------------------------------------

    @rule(code=st.sampled_from([201, 202]))
    def reject_next(self, code: int) -> None:
        self.broker.inner.faults.reject_next(code, f"simulated rejection {code}")

    @rule(events=st.sampled_from([None, 1, 3]))
    def delay_reports(self, events: int | None) -> None:
        self.broker.inner.faults.delay_acks(events)

    @rule(data=st.data())
    def drop_next_report(self, data: st.DataObject) -> None:
        """Drop the next status report of a held exit (its activation), or of any order."""
        held = [ref for ref, order in self.broker.inner.exchange.open.items() if order.status is HELD]
        self.broker.inner.faults.drop_next_status(data.draw(st.sampled_from(held)) if held else None)

    @rule()
    def release_reports(self) -> None:
        self._call(self.broker.inner.faults.release)

    @precondition(lambda self: self.broker.is_connected())
    @rule()
    def lose_connection(self) -> None:
        self.broker.inner.faults.disconnect()

    @precondition(lambda self: not self.broker.is_connected())
    @rule()
    def reconnect(self) -> None:
        run_now(self.broker.connect())

    @rule(
        symbol=st.sampled_from(SYMBOLS), move=st.integers(3, 9) | st.integers(-9, -3), on_fill=st.booleans(),
        fill_an_entry=st.booleans(),
    )
    def call_from_a_delivery(self, symbol: str, move: int, on_fill: bool, fill_an_entry: bool) -> None:
        """The next event (or fill) makes the subscriber move a price (to where a waiting bracket
        entry fills, if asked and there is one): a call inside a call."""

        def act(event: BrokerEvent) -> None:
            if on_fill and not isinstance(event, Fill):
                self.on_event = act  # wait for a fill
                return
            moved, price = symbol, max(Decimal(2), self._price(symbol) + move)
            waiting = self._waiting_entries()
            if fill_an_entry and waiting:
                entry = waiting[0].request  # at its stop (or limit): it fills there
                moved, price = entry.symbol, entry.stop_price or entry.limit_price or price
            before = {order["order_ref"]: order for order in self.broker.inner.state_dict()["orders"]}
            self.broker.set_price(moved, price)
            # Returned: what it changed is journaled, though the outer call is not over yet.
            now = self.broker.inner.state_dict()
            journaled = StateJournal(self.path).load()
            assert journaled is not None
            kept = {order["order_ref"]: order for order in journaled["orders"]}
            for order in now["orders"]:
                if before.get(order["order_ref"]) != order:
                    assert kept.get(order["order_ref"]) == order
            assert journaled["prices"][moved] == now["prices"][moved]

        self.on_event = act

    @precondition(lambda self: bool(self.refs))
    @rule(data=st.data())
    def cancel_from_a_delivery(self, data: st.DataObject) -> None:
        ref = data.draw(st.sampled_from(self.refs))

        def act(event: BrokerEvent) -> None:
            with contextlib.suppress(BrokerError):
                run_now(self.broker.cancel_order(ref))

        self.on_event = act

    @rule()
    def raise_from_a_delivery(self) -> None:
        def act(event: BrokerEvent) -> None:
            raise Hooked("the subscriber failed")

        self.on_event = act

    # -- the state file ----------------------------------------------------------------------------

    @rule()
    def refresh(self) -> None:
        self.broker.refresh_state_file()

    @rule()
    def restart(self) -> None:
        """As after a kill -9: a new broker from the state file and journal (no clean stop)."""
        before = self.broker.inner.state_dict()
        self.on_event = None
        self._open()
        assert self.broker.inner.state_dict() == before

    # -- what must always hold -------------------------------------------------------------------

    @invariant()
    def the_journal_restores_the_broker_exactly(self) -> None:
        expected = self.broker.inner.state_dict()
        assert StateJournal(self.path).load() == expected

    @invariant()
    def a_crash_between_the_steps_of_a_compaction_loses_nothing(self) -> None:
        """The new state file (as of now, another journal id) beside the whole current journal."""
        expected = self.broker.inner.state_dict()
        other = self.directory / "mid-compaction"
        other.mkdir(exist_ok=True)
        snapshot = other / "sim.json"
        snapshot.write_text(json.dumps({**expected, "journal": {"id": "next", "offset": 17}}))
        shutil.copyfile(self.path.with_name("sim.json.log"), other / "sim.json.log")
        assert StateJournal(snapshot).load() == expected


DurableSimulatedMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=50, deadline=None)
TestDurableSimulatedBroker = DurableSimulatedMachine.TestCase
