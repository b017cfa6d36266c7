"""The simulated broker's journaled state (entrypoints.executor.sim_journal): after every call, the
snapshot + journal restore exactly `state_dict()`; a torn last line is ignored; a kill -9 of a
process in the middle of a stream of broker calls loses none of the calls that returned (with the
default, no fsync: what was written to the kernel outlives the process)."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.simulated import SimulatedBroker, SimulationConfig
from core.clock import ManualClock
from core.orders import BracketRequest, OrderRequest
from core.ports import BrokerError
from core.values import OrderRef, OrderType, Side
from entrypoints.executor.sim import DurableSimulatedBroker
from entrypoints.executor.sim_journal import StateJournal

SYMBOLS = ("AAPL", "MSFT", "KO")


def bracket(ref: str, symbol: str, side: Side, quantity: int, price: Decimal) -> BracketRequest:
    away = Decimal(5) if side is Side.BUY else Decimal(-5)
    exit_side = Side.SELL if side is Side.BUY else Side.BUY
    return BracketRequest(
        OrderRequest(OrderRef(f"{ref}:E"), symbol, side, Decimal(quantity)),
        OrderRequest(OrderRef(f"{ref}:TP"), symbol, exit_side, Decimal(quantity), OrderType.LIMIT,
                     limit_price=price + away, parent_ref=OrderRef(f"{ref}:E"), oca_group=f"oca-{ref}"),
        OrderRequest(OrderRef(f"{ref}:SL"), symbol, exit_side, Decimal(quantity), OrderType.STOP,
                     stop_price=price - away, parent_ref=OrderRef(f"{ref}:E"), oca_group=f"oca-{ref}"),
    )


async def random_call(broker: SimulatedBroker, draw: random.Random, number: int) -> str:
    """One broker call at random; the symbol it concerns."""
    symbol = draw.choice(SYMBOLS)
    price = broker.exchange.prices.get(symbol, Decimal(100))
    choice = draw.random()
    try:
        if choice < 0.35:
            side = draw.choice([Side.BUY, Side.SELL])
            await broker.place_bracket(bracket(f"b{number}", symbol, side, draw.randint(1, 12), price))
        elif choice < 0.45:
            limit = price + Decimal(draw.randint(-3, 3))
            quantity = Decimal(draw.randint(1, 5))
            await broker.place_order(OrderRequest(OrderRef(f"o{number}"), symbol, draw.choice(list(Side)),
                                                  quantity, OrderType.LIMIT, limit_price=limit))
        elif choice < 0.55 and broker.exchange.open:
            ref = draw.choice(list(broker.exchange.open))
            symbol = broker.exchange.orders[ref].symbol
            await broker.cancel_order(ref)
        else:
            broker.set_price(symbol, max(Decimal(1), price + Decimal(draw.randint(-8, 8))))
    except BrokerError:
        pass  # a refusal may still have changed something: it is journaled like any call
    return symbol


@pytest.mark.parametrize("seed, compact_bytes", [(1, 1 << 20), (2, 1 << 20), (3, 3000), (4, 700)])
async def test_every_call_is_restored_exactly(tmp_path: Path, seed: int, compact_bytes: int) -> None:
    draw = random.Random(seed)
    config = SimulationConfig(account="SIM1", partial_fill_quantity=Decimal(4))
    broker = SimulatedBroker(ManualClock(), config)
    await broker.connect()
    path = tmp_path / "state.json"
    journal = StateJournal(path, compact_bytes=compact_bytes)
    journal.start(broker)
    for number in range(120):
        symbol = await random_call(broker, draw, number)
        broker.clock.advance(seconds=1)  # type: ignore[attr-defined]
        journal.record(broker, (symbol,))
        if number % 10 == 0:
            journal.refresh(broker)
        assert StateJournal(path).load() == broker.state_dict(), f"after call {number}"
    restored = SimulatedBroker.from_state(StateJournal(path).load() or {}, ManualClock())
    assert restored.state_dict() == broker.state_dict() | {"time": restored.state_dict()["time"]}
    journal.close(broker)
    assert json.loads(path.read_text()) | {"journal": None} == broker.state_dict() | {"journal": None}


async def test_a_torn_last_line_is_ignored_and_a_damaged_journal_is_refused(tmp_path: Path) -> None:
    broker = SimulatedBroker(ManualClock(), SimulationConfig(account="SIM1"))
    await broker.connect()
    path = tmp_path / "state.json"
    journal = StateJournal(path)
    journal.start(broker)
    await broker.place_bracket(bracket("b1", "AAPL", Side.BUY, 3, Decimal(100)))
    journal.record(broker, ("AAPL",))
    kept = broker.state_dict()
    log = path.with_name("state.json.log")
    with open(log, "ab") as handle:
        handle.write(b'{"o":[{"order_ref":"half')  # the kill came mid-write
    assert StateJournal(path).load() == kept
    with open(log, "ab") as handle:
        handle.write(b'\n{"h":{}}\n')
    with pytest.raises(ValueError, match="is damaged at line 3"):
        StateJournal(path).load()


@pytest.mark.parametrize("fsync", [False, True])
async def test_the_durable_broker_restores_across_instances_and_keeps_the_state_file(
    tmp_path: Path, fsync: bool
) -> None:
    path = tmp_path / "sim.json"
    first = DurableSimulatedBroker(ManualClock(), path, "SIM9", fsync=fsync)
    await first.connect()
    first.set_price("AAPL", Decimal(100))
    await first.place_bracket(bracket("b1", "AAPL", Side.BUY, 5, Decimal(100)))
    first.set_price("AAPL", Decimal(106))  # the take profit fills
    expected = first.inner.state_dict()
    second = DurableSimulatedBroker(ManualClock(), path)  # without a clean stop: as after kill -9
    assert second.inner.state_dict() | {"time": None} == expected | {"time": None}
    await second.connect()
    await second.disconnect()
    on_disk = json.loads(path.read_text())
    assert on_disk["orders"] == expected["orders"] and on_disk["positions"] == expected["positions"]


CHILD = """
import asyncio, sys
from decimal import Decimal
from pathlib import Path
from core.clock import ManualClock
from entrypoints.executor.sim import DurableSimulatedBroker
from tests.e2e.test_sim_journal import bracket
from core.values import Side

async def main() -> None:
    broker = DurableSimulatedBroker(ManualClock(), Path(sys.argv[1]), "SIM1")
    await broker.connect()
    broker.set_price("AAPL", Decimal(100))
    for number in range(100000):
        await broker.place_bracket(bracket(f"b{number}", "AAPL", Side.BUY, 1, Decimal(100)))
        print(number, flush=True)  # the call returned: it must survive the kill

asyncio.run(main())
"""


def test_a_kill_9_loses_no_call_that_returned(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    root = Path(__file__).resolve().parents[2]
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], cwd=root, stdout=subprocess.PIPE,
                             env={**os.environ, "PYTHONPATH": str(root)})
    assert child.stdout is not None
    returned = -1
    for line in child.stdout:
        returned = int(line)
        if returned >= 150:
            break
    child.send_signal(signal.SIGKILL)
    child.wait()
    state = StateJournal(path).load()
    assert state is not None
    refs = {order["order_ref"] for order in state["orders"]}
    assert all(f"b{number}:SL" in refs for number in range(returned + 1))
    SimulatedBroker.from_state(state)  # and it restores


# The order form journal lines held before rows (`order_row`): `dump_order`'s dict, these names.
OLD_ORDER_KEYS = (
    "order_ref", "symbol", "side", "quantity", "order_type", "limit_price", "stop_price", "tif",
    "parent_ref", "oca_group", "broker_id", "status", "current_quantity", "filled", "avg_price",
    "notional", "commission", "triggered", "message", "code",
)  # fmt: skip


@pytest.mark.parametrize("upgraded_at", [None, 0.5])
async def test_a_journal_written_before_order_rows_still_replays(
    tmp_path: Path, upgraded_at: float | None
) -> None:
    """Lines from before an upgrade (each order a dict), alone or followed by lines with rows,
    replay to the same state."""
    draw = random.Random(7)
    config = SimulationConfig(account="SIM1", partial_fill_quantity=Decimal(4))
    broker = SimulatedBroker(ManualClock(), config)
    await broker.connect()
    path = tmp_path / "state.json"
    journal = StateJournal(path, compact_bytes=1 << 30)
    journal.start(broker)
    for number in range(80):
        symbol = await random_call(broker, draw, number)
        broker.clock.advance(seconds=1)  # type: ignore[attr-defined]
        journal.record(broker, (symbol,))
    log = path.with_name("state.json.log")
    header, *lines = log.read_bytes().splitlines()
    decoded = [json.loads(line) for line in lines]
    rows = [row for line in decoded for row in line.get("o", ())]
    assert len(rows) > 100 and all(isinstance(row, list) for row in rows)
    old_until = len(decoded) if upgraded_at is None else int(len(decoded) * upgraded_at)
    for line in decoded[:old_until]:
        if "o" in line:
            line["o"] = [dict(zip(OLD_ORDER_KEYS, row, strict=True)) for row in line["o"]]
    log.write_bytes(b"\n".join([header, *(json.dumps(line).encode() for line in decoded)]) + b"\n")
    assert any(isinstance(order, dict) for line in decoded for order in line.get("o", ()))
    assert StateJournal(path).load() == broker.state_dict()


def test_an_order_row_is_the_snapshot_form_without_the_names() -> None:
    from adapters.simulated.state import ORDER_FIELDS, dump_order, order_from_row, order_row

    assert ORDER_FIELDS == OLD_ORDER_KEYS
    broker = SimulatedBroker(ManualClock(), SimulationConfig(account="SIM1"))
    asyncio.run(_place_and_move(broker))
    assert len(broker.exchange.orders) >= 6
    for order in broker.exchange.orders.values():
        assert order_from_row(list(order_row(order))) == dump_order(order)
        assert list(order_from_row(order_row(order))) == list(dump_order(order))
    with pytest.raises(ValueError, match="holds 20 values, not 2"):
        order_from_row(["b1:E", "AAPL"])


async def _place_and_move(broker: SimulatedBroker) -> None:
    await broker.connect()
    broker.set_price("AAPL", Decimal(100))
    await broker.place_bracket(bracket("b1", "AAPL", Side.BUY, 5, Decimal(100)))
    await broker.place_bracket(bracket("b2", "AAPL", Side.SELL, 3, Decimal(100)))
    await broker.cancel_order(OrderRef("b2:SL"))
    broker.set_price("AAPL", Decimal(94))  # b1's stop fills
