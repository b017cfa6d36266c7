"""What the durable simulated broker journals when it goes by the broker's reports
(entrypoints.executor.sim `_end`): every case where the reports heard are not all that changed
(a stop triggered without a fill, reports held, dropped or lost by a fault, a call made from
inside a delivery, a call that raised midway) still journals exactly what changed before the
call returns; and the cost of a call does not grow with the open orders of its symbol."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from adapters.simulated import SimulatedBroker
from core.broker_events import BrokerEvent, Fill
from core.clock import ManualClock
from core.orders import BracketRequest, OrderRequest
from core.values import OrderRef, OrderType, Side
from entrypoints.executor import sim_journal
from entrypoints.executor.sim import DurableSimulatedBroker, RandomWalkMarket
from entrypoints.executor.sim_journal import StateJournal, _book_change
from tests.e2e.test_sim_journal import bracket


async def durable(tmp_path: Path, **prices: int) -> DurableSimulatedBroker:
    broker = DurableSimulatedBroker(ManualClock(), tmp_path / "sim.json", "SIM1")
    await broker.connect()
    broker.set_prices({symbol: Decimal(price) for symbol, price in prices.items()})
    return broker


def journaled(broker: DurableSimulatedBroker) -> dict[str, Any]:
    assert broker.path is not None
    state = StateJournal(broker.path).load()
    assert state is not None
    return state


def order_of(state: dict[str, Any], ref: str) -> dict[str, Any]:
    return next(order for order in state["orders"] if order["order_ref"] == ref)


def waiting_bracket(ref: str, symbol: str, price: int) -> BracketRequest:
    """A buy bracket whose limit entry waits 2 below `price`."""
    request = bracket(ref, symbol, Side.BUY, 4, Decimal(price - 2))
    limit_entry = OrderRequest(request.entry.order_ref, symbol, Side.BUY, Decimal(4), OrderType.LIMIT,
                               limit_price=Decimal(price - 2))
    return BracketRequest(limit_entry, request.take_profit, request.stop_loss)


async def test_a_stop_limit_triggered_without_a_fill_is_journaled(tmp_path: Path) -> None:
    broker = await durable(tmp_path, AAPL=100)
    await broker.place_order(OrderRequest(OrderRef("s1"), "AAPL", Side.BUY, Decimal(3), OrderType.STOP_LIMIT,
                                          limit_price=Decimal(102), stop_price=Decimal(101)))
    broker.set_price("AAPL", Decimal(105))  # through the stop and past the limit: triggered, not filled
    order = broker.inner.exchange.orders[OrderRef("s1")]
    assert order.triggered and order.filled == 0  # no report said so
    assert order_of(journaled(broker), "s1")["triggered"] is True
    assert journaled(broker) == broker.inner.state_dict()


@pytest.mark.parametrize("fault", ["delay", "drop", "disconnect"])
async def test_changes_whose_reports_a_fault_holds_back_are_journaled(tmp_path: Path, fault: str) -> None:
    broker = await durable(tmp_path, AAPL=100)
    await broker.place_bracket(waiting_bracket("b1", "AAPL", 100))
    faults = broker.inner.faults
    if fault == "delay":
        faults.delay_acks()  # the exits' activation reports wait
    elif fault == "drop":
        faults.drop_next_status("b1:TP")
    else:
        faults.disconnect()  # every report is lost
    broker.set_price("AAPL", Decimal(97))  # the entry fills: the exits work, unreported
    assert broker.inner.exchange.orders[OrderRef("b1:TP")].status.value == "WORKING"
    assert order_of(journaled(broker), "b1:TP")["status"] == "WORKING"
    assert journaled(broker) == broker.inner.state_dict()


async def test_a_call_made_from_inside_a_delivery_is_journaled_before_it_returns(tmp_path: Path) -> None:
    broker = await durable(tmp_path, AAPL=100, MSFT=200)
    await broker.place_bracket(waiting_bracket("m1", "MSFT", 200))
    checked: list[bool] = []

    def on_fill(event: BrokerEvent) -> None:  # a subscriber that calls the broker again
        if isinstance(event, Fill) and event.symbol == "AAPL" and not checked:
            checked.append(True)
            broker.set_price("MSFT", Decimal(197))  # m1's entry fills, its exits start working
            # Its reports are delivered after the outer call's: the journal holds it all the same.
            state, now = journaled(broker), broker.inner.state_dict()
            for ref in ("m1:E", "m1:TP", "m1:SL"):
                assert order_of(state, ref) == order_of(now, ref)
            assert state["prices"]["MSFT"] == "197" and state["working"]["MSFT"] == now["working"]["MSFT"]

    broker.subscribe(on_fill)
    await broker.place_bracket(bracket("a1", "AAPL", Side.BUY, 2, Decimal(100)))  # fills at once
    assert checked
    assert journaled(broker) == broker.inner.state_dict()


async def test_a_call_that_raises_midway_journals_what_it_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker = await durable(tmp_path, AAPL=100)
    await broker.place_bracket(waiting_bracket("b1", "AAPL", 100))
    exchange = broker.inner.exchange
    on_price = exchange.on_price

    def match_then_fail(symbol: str, price: Decimal) -> None:
        on_price(symbol, price)
        raise RuntimeError("the matching failed midway")  # its reports are never delivered

    monkeypatch.setattr(exchange, "on_price", match_then_fail)
    with pytest.raises(RuntimeError):
        broker.set_price("AAPL", Decimal(97))  # the entry fills, its exits start working
    assert exchange.events  # reports made, not delivered
    assert order_of(journaled(broker), "b1:TP")["status"] == "WORKING"
    assert journaled(broker) == broker.inner.state_dict()


async def test_an_order_changed_to_an_equal_value_written_otherwise_is_journaled(tmp_path: Path) -> None:
    broker = SimulatedBroker(ManualClock())
    await broker.connect()
    broker.set_price("AAPL", Decimal(100))
    await broker.place_order(OrderRequest(OrderRef("o1"), "AAPL", Side.BUY, Decimal(5), OrderType.LIMIT,
                                          limit_price=Decimal(90)))
    journal = StateJournal(tmp_path / "sim.json")
    journal.start(broker)
    broker.exchange.orders[OrderRef("o1")].quantity = Decimal("5.0")  # == Decimal(5); its text differs
    for changed in (None, [OrderRef("o1")]):
        journal.record(broker, ("AAPL",), changed)
        assert StateJournal(tmp_path / "sim.json").load() == broker.state_dict()
        broker.exchange.orders[OrderRef("o1")].quantity = Decimal("5.00")


async def test_a_call_compares_only_what_it_changed_however_many_orders_are_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker = await durable(tmp_path, AAPL=100)
    for number in range(60):  # 120 working exits on AAPL
        await broker.place_bracket(bracket(f"b{number}", "AAPL", Side.BUY, 1, Decimal(100)))
    compared: list[object] = []
    fingerprint: Callable[[Any], tuple[object, ...]] = sim_journal._fingerprint

    def counting(order: Any) -> tuple[object, ...]:
        compared.append(order)
        return fingerprint(order)

    monkeypatch.setattr(sim_journal, "_fingerprint", counting)
    assert broker.path is not None
    log = broker.path.with_name("sim.json.log")
    size = log.stat().st_size
    await broker.place_bracket(bracket("last", "AAPL", Side.BUY, 1, Decimal(100)))
    assert len(compared) <= 3  # the bracket's own legs, not the 120 open exits
    line = log.read_bytes()[size:]
    assert len(line) < 3000, line  # the book's change, not the whole book of 120 refs
    assert b'"wa":{"AAPL":["last:TP","last:SL"]}' in line
    assert journaled(broker) == broker.inner.state_dict()


@pytest.mark.parametrize(
    "before, now, change",
    [
        ((), (), ([], [])),
        (("a",), ("a", "b"), ([], ["b"])),
        (("a", "b", "c"), ("a", "c", "d"), (["b"], ["d"])),
        (("a", "b"), (), (["a", "b"], [])),
        (("a", "b"), ("b", "a"), None),  # reordered: written whole
        (("a", "b"), ("b", "c", "a"), None),
    ],
)
def test_a_book_changes_by_removals_and_appends_or_is_written_whole(
    before: tuple[str, ...], now: tuple[str, ...], change: tuple[list[str], list[str]] | None
) -> None:
    assert _book_change(before, now) == change
    if change is not None:
        removed, appended = change
        assert (*(ref for ref in before if ref not in removed), *appended) == now


async def test_a_snapshot_is_the_broker_as_it_is_even_where_nothing_was_journaled(tmp_path: Path) -> None:
    """The state file reuses each order's encoded form while the order stays the same: a change
    (even to an equal value written otherwise) is still seen when the snapshot is written."""
    broker = SimulatedBroker(ManualClock())
    await broker.connect()
    broker.set_price("AAPL", Decimal(100))
    await broker.place_bracket(bracket("b1", "AAPL", Side.BUY, 5, Decimal(100)))
    path = tmp_path / "sim.json"
    journal = StateJournal(path)
    journal.start(broker)  # a snapshot: every form encoded
    broker.exchange.orders[OrderRef("b1:TP")].quantity = Decimal("5.0")  # not journaled
    broker.set_price("AAPL", Decimal(94))  # the stop fills: nor is this
    journal.compact(broker)
    assert json.loads(path.read_text()) | {"journal": None} == broker.state_dict() | {"journal": None}


async def test_the_simulated_market_journals_what_its_moves_change(tmp_path: Path) -> None:
    broker = await durable(tmp_path)
    market = RandomWalkMarket(broker, seed=7, tick_seconds=1.0, step_pct=Decimal("0.01"))
    market.open_prices({"AAPL": Decimal("100.004"), "MSFT": Decimal(200)})
    assert journaled(broker)["prices"] == {"AAPL": "100.00", "MSFT": "200.00"}
    await broker.place_bracket(waiting_bracket("b1", "AAPL", 100))
    await broker.place_order(OrderRequest(OrderRef("s1"), "MSFT", Side.BUY, Decimal(3), OrderType.STOP_LIMIT,
                                          limit_price=Decimal(201), stop_price=Decimal("200.5")))
    for _ in range(60):
        market.tick()
        assert journaled(broker) == broker.inner.state_dict()
    assert broker.inner.exchange.fills  # the walk filled something


async def test_after_a_failed_write_the_next_call_saves_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker = await durable(tmp_path, AAPL=100)
    write = os.write

    def full_disk(fd: int, data: bytes) -> int:
        if not data.startswith(b'{"h":'):
            return write(fd, data)  # not a journal line
        write(fd, data[:10])  # a torn line, then the disk is full
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", full_disk)
    with pytest.raises(OSError):
        await broker.place_bracket(bracket("b1", "AAPL", Side.BUY, 2, Decimal(100)))
    monkeypatch.setattr(os, "write", write)
    broker.set_price("AAPL", Decimal(101))  # the next call: a fresh snapshot holds the lost line too
    assert journaled(broker) == broker.inner.state_dict()
