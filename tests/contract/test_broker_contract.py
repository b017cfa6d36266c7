"""The Broker port's contract, run against every adapter (the `harness` fixture; see harnesses.py).

Assertions are about what any broker must show: final statuses, executions, positions, account
values and the query methods, compared by `order_ref`. They avoid what brokers legitimately differ
on (the exact sequence of intermediate reports, commissions, the price a marketable limit gets
within its limit).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from decimal import Decimal

import pytest

from core.broker_events import (
    BrokerEvent,
    BrokerOrder,
    ConnectionEvent,
    ConnectionState,
    Fill,
    OrderStatusUpdate,
)
from core.order_status import OrderStatus
from core.orders import BracketRequest, OrderRequest
from core.ports import Broker, BrokerError
from core.values import ZERO, OrderRef, OrderType, Side
from tests.contract.harnesses import HARNESSES, BrokerHarness

SYMBOL = "AAPL"
D = Decimal


@pytest.fixture(params=sorted(HARNESSES))
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[BrokerHarness]:
    """A connected broker of each adapter, closed after the test."""
    made = HARNESSES[request.param]()
    await made.start()
    yield made
    await made.close()


class EventLog:
    """Everything a broker reported, in order."""

    def __init__(self, broker: Broker) -> None:
        self.events: list[BrokerEvent] = []
        broker.subscribe(self.events.append)

    def fills(self, ref: str) -> list[Fill]:
        return [e for e in self.events if isinstance(e, Fill) and e.order_ref == ref]

    def last_status(self, ref: str) -> OrderStatus | None:
        updates = [e for e in self.events if isinstance(e, OrderStatusUpdate) and e.order_ref == ref]
        return updates[-1].status if updates else None

    def connection_states(self) -> list[ConnectionState]:
        return [e.state for e in self.events if isinstance(e, ConnectionEvent)]


def order(
    ref: str, side: Side, quantity: int, order_type: OrderType = OrderType.MARKET,
    limit: str | None = None, stop: str | None = None,
) -> OrderRequest:
    return OrderRequest(
        OrderRef(ref), SYMBOL, side, D(quantity), order_type,
        D(limit) if limit else None, D(stop) if stop else None,
    )


def bracket(
    ref: str, side: Side, quantity: int, entry: str, take_profit: str, stop_loss: str
) -> BracketRequest:
    """A bracket with a limit entry at `entry`."""
    exit_side = side.opposite
    return BracketRequest(
        OrderRequest(OrderRef(ref), SYMBOL, side, D(quantity), OrderType.LIMIT, D(entry)),
        OrderRequest(
            OrderRef(f"{ref}.tp"), SYMBOL, exit_side, D(quantity), OrderType.LIMIT, D(take_profit),
            parent_ref=OrderRef(ref), oca_group=f"oca-{ref}",
        ),
        OrderRequest(
            OrderRef(f"{ref}.sl"), SYMBOL, exit_side, D(quantity), OrderType.STOP, None, D(stop_loss),
            parent_ref=OrderRef(ref), oca_group=f"oca-{ref}",
        ),
    )


# Long: buy at 95, target 110, stop 90. Short: sell at 105, target 90, stop 110. Price starts at 100.
BRACKETS = {
    Side.BUY: {
        "entry": "95", "take_profit": "110", "stop_loss": "90", "beyond_target": "111", "beyond_stop": "89",
    },
    Side.SELL: {
        "entry": "105", "take_profit": "90", "stop_loss": "110", "beyond_target": "89", "beyond_stop": "111",
    },
}


def make_bracket(ref: str, side: Side, quantity: int = 10) -> BracketRequest:
    levels = BRACKETS[side]
    return bracket(ref, side, quantity, levels["entry"], levels["take_profit"], levels["stop_loss"])


async def by_ref(orders: Sequence[BrokerOrder]) -> dict[str, BrokerOrder]:
    return {o.request.order_ref: o for o in orders}


async def open_by_ref(broker: Broker) -> dict[str, BrokerOrder]:
    return await by_ref(await broker.open_orders())


async def completed_by_ref(broker: Broker) -> dict[str, BrokerOrder]:
    return await by_ref(await broker.completed_orders())


async def position_of(broker: Broker, symbol: str = SYMBOL) -> Decimal:
    return sum((p.quantity for p in await broker.positions() if p.symbol == symbol), ZERO)


def working_quantity(broker_order: BrokerOrder) -> Decimal:
    return broker_order.request.quantity - broker_order.filled


# -- connection ------------------------------------------------------------------------------------


async def test_connect_and_disconnect(harness: BrokerHarness) -> None:
    broker = harness.broker
    log = EventLog(broker)
    assert broker.is_connected()
    assert broker.account

    await broker.disconnect()
    await harness.settle()
    assert not broker.is_connected()
    assert ConnectionState.DISCONNECTED in log.connection_states()
    with pytest.raises(BrokerError):
        await broker.place_order(order("C-1", Side.BUY, 1))
    await broker.disconnect()  # safe when already disconnected

    await broker.connect()
    await harness.settle()
    assert broker.is_connected()
    assert await broker.open_orders() == []


# -- single orders ---------------------------------------------------------------------------------


async def test_market_order_fills_and_makes_a_position(harness: BrokerHarness) -> None:
    broker, log = harness.broker, EventLog(harness.broker)
    await harness.set_price(SYMBOL, D(100))
    await broker.place_order(order("M-1", Side.BUY, 10))
    await harness.settle()

    fills = log.fills("M-1")
    assert sum(f.quantity for f in fills) == 10
    assert all(f.price == 100 and f.side is Side.BUY and f.symbol == SYMBOL for f in fills)
    assert log.last_status("M-1") is OrderStatus.FILLED
    [position] = [p for p in await broker.positions() if p.symbol == SYMBOL]
    assert (position.quantity, position.avg_cost) == (D(10), D(100))


async def test_limit_order_rests_until_the_price_reaches_it(harness: BrokerHarness) -> None:
    broker, log = harness.broker, EventLog(harness.broker)
    await harness.set_price(SYMBOL, D(100))
    await broker.place_order(order("L-1", Side.BUY, 5, OrderType.LIMIT, limit="95"))
    await harness.set_price(SYMBOL, D("95.01"))
    await harness.settle()
    assert log.fills("L-1") == []
    assert (await open_by_ref(broker))["L-1"].status is OrderStatus.WORKING

    await harness.set_price(SYMBOL, D(95))
    await harness.settle()
    fills = log.fills("L-1")
    assert sum(f.quantity for f in fills) == 5
    assert all(f.price <= 95 for f in fills)
    assert log.last_status("L-1") is OrderStatus.FILLED
    assert "L-1" not in await open_by_ref(broker)
    assert (await completed_by_ref(broker))["L-1"].status is OrderStatus.FILLED


async def test_cancel_of_a_working_order(harness: BrokerHarness) -> None:
    broker, log = harness.broker, EventLog(harness.broker)
    await harness.set_price(SYMBOL, D(100))
    await broker.place_order(order("X-1", Side.SELL, 5, OrderType.LIMIT, limit="120"))
    await broker.cancel_order(OrderRef("X-1"))
    await harness.settle()
    assert log.last_status("X-1") is OrderStatus.CANCELLED
    assert "X-1" not in await open_by_ref(broker)
    assert (await completed_by_ref(broker))["X-1"].status is OrderStatus.CANCELLED

    await harness.set_price(SYMBOL, D(125))  # a cancelled order never fills
    await harness.settle()
    assert log.fills("X-1") == []


async def test_cancel_of_an_unknown_order_is_an_error(harness: BrokerHarness) -> None:
    with pytest.raises(BrokerError):
        await harness.broker.cancel_order(OrderRef("NO-SUCH-ORDER"))


async def test_duplicate_order_ref_is_refused_and_nothing_is_placed(harness: BrokerHarness) -> None:
    broker = harness.broker
    await harness.set_price(SYMBOL, D(100))
    await broker.place_order(order("DUP-1", Side.BUY, 3, OrderType.LIMIT, limit="90"))

    with pytest.raises(BrokerError) as refused:
        await broker.place_order(order("DUP-1", Side.BUY, 7, OrderType.LIMIT, limit="91"))
    assert refused.value.code == 103
    # A bracket reusing the ref for one leg is refused whole.
    clash = make_bracket("DUP-2", Side.BUY)
    clash = BracketRequest(
        clash.entry, clash.take_profit,
        OrderRequest(
            OrderRef("DUP-1"), SYMBOL, Side.SELL, D(10), OrderType.STOP, None, D(90),
            parent_ref=OrderRef("DUP-2"), oca_group="oca-DUP-2",
        ),
    )
    with pytest.raises(BrokerError) as refused_bracket:
        await broker.place_bracket(clash)
    assert refused_bracket.value.code == 103
    await harness.settle()

    open_orders = await open_by_ref(broker)
    assert set(open_orders) == {"DUP-1"}
    assert open_orders["DUP-1"].request.quantity == 3
    assert not {"DUP-2", "DUP-2.tp"} & set(await completed_by_ref(broker))


# -- brackets --------------------------------------------------------------------------------------


@pytest.mark.parametrize("side", [Side.BUY, Side.SELL], ids=["long", "short"])
async def test_bracket_exits_are_held_until_the_entry_fills(harness: BrokerHarness, side: Side) -> None:
    broker, log = harness.broker, EventLog(harness.broker)
    await harness.set_price(SYMBOL, D(100))
    await broker.place_bracket(make_bracket("H-1", side))
    await harness.settle()
    placed = await open_by_ref(broker)
    assert placed["H-1"].status is OrderStatus.WORKING
    assert placed["H-1.tp"].status is OrderStatus.HELD
    assert placed["H-1.sl"].status is OrderStatus.HELD

    # The price reaches the target before the entry has filled: a held exit must not fill.
    await harness.set_price(SYMBOL, D(BRACKETS[side]["take_profit"]))
    await harness.settle()
    assert log.fills("H-1.tp") == [] and log.fills("H-1.sl") == []
    assert (await open_by_ref(broker))["H-1.tp"].status is OrderStatus.HELD
    assert await position_of(broker) == 0


@pytest.mark.parametrize("side", [Side.BUY, Side.SELL], ids=["long", "short"])
async def test_entry_fill_activates_exits_for_the_filled_quantity(harness: BrokerHarness, side: Side) -> None:
    broker, log = harness.broker, EventLog(harness.broker)
    await harness.set_price(SYMBOL, D(100))
    await broker.place_bracket(make_bracket("A-1", side, quantity=10))
    await harness.set_price(SYMBOL, D(BRACKETS[side]["entry"]))
    await harness.settle()

    assert sum(f.quantity for f in log.fills("A-1")) == 10
    assert log.last_status("A-1") is OrderStatus.FILLED
    placed = await open_by_ref(broker)
    for exit_ref in ("A-1.tp", "A-1.sl"):
        assert placed[exit_ref].status is OrderStatus.WORKING
        assert working_quantity(placed[exit_ref]) == 10
    assert await position_of(broker) == 10 * side.sign


@pytest.mark.parametrize("side", [Side.BUY, Side.SELL], ids=["long", "short"])
@pytest.mark.parametrize("winner", ["take_profit", "stop_loss"])
async def test_one_exit_filling_cancels_the_other(harness: BrokerHarness, side: Side, winner: str) -> None:
    broker, log = harness.broker, EventLog(harness.broker)
    filled, cancelled = ("O-1.tp", "O-1.sl") if winner == "take_profit" else ("O-1.sl", "O-1.tp")
    await harness.set_price(SYMBOL, D(100))
    await broker.place_bracket(make_bracket("O-1", side, quantity=10))
    await harness.set_price(SYMBOL, D(BRACKETS[side]["entry"]))
    beyond = "beyond_target" if winner == "take_profit" else "beyond_stop"
    await harness.set_price(SYMBOL, D(BRACKETS[side][beyond]))
    await harness.settle()

    assert sum(f.quantity for f in log.fills(filled)) == 10
    assert log.fills(cancelled) == []
    assert log.last_status(filled) is OrderStatus.FILLED
    assert log.last_status(cancelled) is OrderStatus.CANCELLED
    done = await completed_by_ref(broker)
    assert (done[filled].status, done[cancelled].status) == (OrderStatus.FILLED, OrderStatus.CANCELLED)
    assert await open_by_ref(broker) == {}
    assert await position_of(broker) == 0
    assert {f.order_ref for f in await broker.executions()} == {"O-1", filled}


async def test_cancelling_an_unfilled_entry_cancels_its_exits(harness: BrokerHarness) -> None:
    broker, log = harness.broker, EventLog(harness.broker)
    await harness.set_price(SYMBOL, D(100))
    await broker.place_bracket(make_bracket("K-1", Side.BUY))
    await broker.cancel_order(OrderRef("K-1"))
    await harness.settle()
    for ref in ("K-1", "K-1.tp", "K-1.sl"):
        assert log.last_status(ref) is OrderStatus.CANCELLED
    assert await open_by_ref(broker) == {}
    assert set(await completed_by_ref(broker)) == {"K-1", "K-1.tp", "K-1.sl"}

    await harness.set_price(SYMBOL, D(95))  # nothing is left to fill
    await harness.set_price(SYMBOL, D(89))
    await harness.settle()
    assert await broker.executions() == []


# -- queries and account ---------------------------------------------------------------------------


async def test_queries_agree_with_what_happened(harness: BrokerHarness) -> None:
    broker, log = harness.broker, EventLog(harness.broker)
    await harness.set_price(SYMBOL, D(100))
    await broker.place_order(order("Q-mkt", Side.BUY, 4))  # filled
    await broker.place_order(order("Q-rest", Side.BUY, 2, OrderType.LIMIT, limit="80"))  # working
    await broker.place_order(order("Q-gone", Side.SELL, 2, OrderType.LIMIT, limit="130"))
    await broker.cancel_order(OrderRef("Q-gone"))  # cancelled
    await broker.place_bracket(make_bracket("Q-won", Side.BUY, quantity=6))  # closed by target
    await broker.place_bracket(bracket("Q-open", Side.SELL, 3, "105", "90", "120"))  # exits working
    await harness.set_price(SYMBOL, D(95))
    await harness.set_price(SYMBOL, D(105))
    await harness.set_price(SYMBOL, D(111))
    await harness.set_price(SYMBOL, D(100))
    await harness.settle()

    open_orders, completed = await open_by_ref(broker), await completed_by_ref(broker)
    assert set(open_orders) == {"Q-rest", "Q-open.tp", "Q-open.sl"}
    assert set(completed) == {"Q-mkt", "Q-gone", "Q-won", "Q-won.tp", "Q-won.sl", "Q-open"}
    for ref, broker_order in {**open_orders, **completed}.items():
        assert log.last_status(ref) is broker_order.status, ref
        fills = log.fills(ref)
        assert broker_order.filled == sum((f.quantity for f in fills), ZERO), ref
        if fills:
            average = sum(f.quantity * f.price for f in fills) / broker_order.filled
            assert broker_order.avg_fill_price == average, ref

    executions = await broker.executions()
    reported = sorted(e.exec_id for e in log.events if isinstance(e, Fill))
    assert sorted(f.exec_id for f in executions) == reported
    assert len({f.exec_id for f in executions}) == len(executions)
    signed = sum((f.quantity * f.side.sign for f in executions), ZERO)
    assert signed == await position_of(broker) == 4 - 3  # +4 market, +6 -6 long bracket, -3 short entry


async def test_account_summary_follows_the_fills(harness: BrokerHarness) -> None:
    broker, log = harness.broker, EventLog(harness.broker)
    await harness.set_price(SYMBOL, D(100))
    before = await broker.account_summary()
    assert before.account == broker.account

    await broker.place_order(order("P-buy", Side.BUY, 10))
    await harness.settle()
    bought = await broker.account_summary()
    commission = sum((f.commission for f in log.fills("P-buy")), ZERO)
    assert bought.cash == before.cash - 10 * 100 - commission
    assert bought.net_liquidation == bought.cash + 10 * 100

    await harness.set_price(SYMBOL, D(110))
    await harness.settle()
    marked = await broker.account_summary()
    assert marked.unrealized_pnl == 10 * 10
    assert marked.net_liquidation == marked.cash + 10 * 110

    await broker.place_order(order("P-sell", Side.SELL, 10))
    await harness.settle()
    after = await broker.account_summary()
    commissions = sum((f.commission for f in log.events if isinstance(f, Fill)), ZERO)
    assert after.realized_pnl - before.realized_pnl == 10 * 10 - commissions
    assert after.unrealized_pnl == 0
    assert after.net_liquidation == after.cash == before.cash + 10 * 10 - commissions
    assert await position_of(broker) == 0
