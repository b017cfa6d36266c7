"""The simulated broker's own behaviour: order types, partial fills, bracket sizing, commissions,
account values. (What every broker must do is in tests/contract/test_broker_contract.py.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from adapters.simulated import SimulatedBroker, SimulationConfig
from core.clock import ManualClock
from core.order_status import OrderStatus
from core.orders import BracketRequest, OrderRequest
from core.ports import BrokerError
from core.values import OrderRef, OrderType, Side, TimeInForce
from tests.fakes.orders import Recorder, bracket, order

D = Decimal
S = OrderStatus
Sim = tuple[SimulatedBroker, Recorder]


async def make(**config: object) -> tuple[SimulatedBroker, Recorder]:
    broker = SimulatedBroker(ManualClock(), SimulationConfig(**config))  # type: ignore[arg-type]
    recorder = Recorder(broker)
    await broker.connect()
    recorder.clear()
    return broker, recorder


@pytest.fixture
async def sim() -> AsyncIterator[tuple[SimulatedBroker, Recorder]]:
    yield await make()


# -- order types -----------------------------------------------------------------------------------


async def test_market_order_waits_for_the_first_price(sim: Sim) -> None:
    broker, rec = sim
    await broker.place_order(order("M", quantity=5))
    assert rec.fills() == [] and rec.last("M").status is S.WORKING
    broker.set_price("AAA", D("12.34"))
    [fill] = rec.fills("M")
    assert (fill.quantity, fill.price) == (D(5), D("12.34"))


async def test_marketable_limit_fills_at_the_better_current_price(sim: Sim) -> None:
    broker, rec = sim
    broker.set_price("AAA", D(95))
    await broker.place_order(order("L", Side.BUY, 10, OrderType.LIMIT, limit=100))
    assert rec.fills("L")[0].price == 95


async def test_resting_limit_gapped_through_fills_at_its_limit(sim: Sim) -> None:
    broker, rec = sim
    broker.set_price("AAA", D(105))
    await broker.place_order(order("L", Side.BUY, 10, OrderType.LIMIT, limit=100))
    broker.set_price("AAA", D("100.01"))
    assert rec.fills("L") == []
    broker.set_price("AAA", D(97))
    assert rec.fills("L")[0].price == 100


@pytest.mark.parametrize(
    ("side", "stop", "no_trigger", "gap"), [(Side.SELL, 90, "90.01", 87), (Side.BUY, 110, "109.99", 113)]
)
async def test_stop_triggers_at_the_stop_and_fills_at_the_market(
    sim: Sim, side: Side, stop: int, no_trigger: str, gap: int
) -> None:
    broker, rec = sim
    broker.set_price("AAA", D(100))
    await broker.place_order(order("S", side, 10, OrderType.STOP, stop=stop))
    broker.set_price("AAA", D(no_trigger))
    assert rec.fills("S") == []
    broker.set_price("AAA", D(gap))  # a gap through the stop fills at the market, not at the stop
    assert rec.fills("S")[0].price == gap


async def test_stop_limit_triggers_then_works_as_a_limit(sim: Sim) -> None:
    broker, rec = sim
    broker.set_price("AAA", D(100))
    await broker.place_order(order("SL", Side.SELL, 10, OrderType.STOP_LIMIT, limit=89, stop=90))
    broker.set_price("AAA", D(88))  # triggered at the stop, but below the limit: no fill
    assert rec.fills("SL") == []
    broker.set_price("AAA", D("88.5"))
    assert rec.fills("SL") == []
    broker.set_price("AAA", D("89.5"))  # back through the limit: the resting sell fills at its limit
    assert rec.fills("SL")[0].price == 89


async def test_untriggered_stop_limit_does_not_fill_at_its_limit(sim: Sim) -> None:
    broker, rec = sim
    broker.set_price("AAA", D(100))
    await broker.place_order(order("SL", Side.BUY, 10, OrderType.STOP_LIMIT, limit=111, stop=110))
    broker.set_price("AAA", D(105))  # below the limit, but the stop has not triggered
    assert rec.fills("SL") == []
    broker.set_price("AAA", D(110))
    assert rec.fills("SL")[0].price == 110


async def test_ioc_cancels_what_does_not_fill_at_once() -> None:
    broker, rec = await make(partial_fill_quantity=D(4))
    broker.set_price("AAA", D(100))
    await broker.place_order(order("I", quantity=10, tif=TimeInForce.IOC))
    assert [f.quantity for f in rec.fills("I")] == [4]
    assert rec.last("I").status is S.CANCELLED and rec.last("I").filled == 4


async def test_day_orders_expire_at_the_end_of_the_day(sim: Sim) -> None:
    broker, rec = sim
    broker.set_price("AAA", D(100))
    await broker.place_order(order("DAY", Side.BUY, 1, OrderType.LIMIT, limit=90, tif=TimeInForce.DAY))
    await broker.place_order(order("GTC", Side.BUY, 1, OrderType.LIMIT, limit=90))
    broker.end_of_day()
    assert rec.last("DAY").status is S.EXPIRED
    assert [o.request.order_ref for o in await broker.open_orders()] == ["GTC"]
    assert [o.status for o in await broker.completed_orders()] == [S.EXPIRED]


async def test_cancel_errors_say_why(sim: Sim) -> None:
    broker, _ = sim
    broker.set_price("AAA", D(100))
    await broker.place_order(order("F", quantity=1))
    with pytest.raises(BrokerError, match="already FILLED") as terminal:
        await broker.cancel_order(OrderRef("F"))
    assert terminal.value.code == 161
    with pytest.raises(BrokerError, match="no order with that order_ref") as unknown:
        await broker.cancel_order(OrderRef("nope"))
    assert unknown.value.code == 135


async def test_duplicate_ref_error_names_the_ref_and_what_to_do(sim: Sim) -> None:
    broker, rec = sim
    await broker.place_order(order("A", quantity=1))
    rec.clear()
    made = bracket("B")
    reusing_a = BracketRequest(
        made.entry, made.take_profit,
        order("A", Side.SELL, 10, OrderType.STOP, stop=90, parent="B", oca="oca-B"),
    )
    with pytest.raises(BrokerError, match=r"duplicate order id: order_ref A .*use a new order_ref") as dup:
        await broker.place_bracket(reusing_a)
    assert (dup.value.code, dup.value.order_ref) == (103, "A")
    assert rec.events == [] and len(await broker.open_orders()) == 1


# -- partial fills and brackets ----------------------------------------------------------------------


async def test_partial_fills_fill_at_most_the_cap_per_step() -> None:
    broker, rec = await make(partial_fill_quantity=D(3))
    broker.set_price("AAA", D(100))
    await broker.place_order(order("P", quantity=10))
    broker.step()
    broker.set_price("AAA", D(101))
    broker.step()
    assert [f.quantity for f in rec.fills("P")] == [3, 3, 3, 1]
    assert rec.status_names("P") == [S.WORKING, *[S.PARTIALLY_FILLED] * 3, S.FILLED]
    assert rec.last("P").avg_fill_price == (D(300) + D(300) + D(303) + D(101)) / 10


async def test_exits_grow_with_each_entry_fill_and_shrink_with_each_exit_fill() -> None:
    broker, rec = await make(partial_fill_quantity=D(4))
    broker.set_price("AAA", D(100))
    await broker.place_bracket(bracket("B", quantity=10, entry_type=OrderType.MARKET))
    assert [(u.status, u.remaining) for u in rec.statuses("B.sl")] == [(S.HELD, D(10)), (S.WORKING, D(4))]
    broker.step()  # entry 8 of 10
    assert rec.last("B.sl").remaining == rec.last("B.tp").remaining == 8
    broker.set_price("AAA", D(110))  # entry completes (10), then the take profit sells 4
    assert rec.last("B").status is S.FILLED
    assert [f.quantity for f in rec.fills("B.tp")] == [4]
    assert rec.last("B.sl").remaining == 6 and rec.last("B.sl").status is S.WORKING
    assert (rec.last("B.tp").filled, rec.last("B.tp").remaining) == (D(4), D(6))
    broker.set_price("AAA", D(89))  # the stop takes the remaining 6, in two steps
    broker.step()
    assert [f.quantity for f in rec.fills("B.sl")] == [4, 2]
    assert rec.last("B.sl").status is S.FILLED
    assert rec.last("B.tp").status is S.CANCELLED
    assert await broker.positions() == []


async def test_closing_exit_cancels_the_entry_remainder() -> None:
    broker, rec = await make(partial_fill_quantity=D(4))
    broker.set_price("AAA", D(101))
    await broker.place_bracket(bracket("B", quantity=10, entry=100, take_profit=101))  # rests: held exits
    broker.set_price("AAA", D(100))  # entry fills 4
    broker.set_price("AAA", D(102))  # take profit sells those 4: closed, the entry's 6 are cancelled
    assert rec.last("B.tp").status is S.FILLED
    assert (rec.last("B").status, rec.last("B").filled) == (S.CANCELLED, D(4))
    assert rec.last("B.sl").status is S.CANCELLED
    assert await broker.open_orders() == []


async def test_cancelling_a_partly_filled_entry_keeps_the_exits_for_what_filled() -> None:
    broker, rec = await make(partial_fill_quantity=D(3))
    broker.set_price("AAA", D(100))
    await broker.place_bracket(bracket("B", quantity=10, entry=100))
    await broker.cancel_order(OrderRef("B"))
    assert rec.last("B").status is S.CANCELLED and rec.last("B").filled == 3
    still = {o.request.order_ref: o for o in await broker.open_orders()}
    assert set(still) == {"B.tp", "B.sl"}
    assert all(o.request.quantity - o.filled == 3 and o.status is S.WORKING for o in still.values())


async def test_rejected_entry_cancels_the_exits(sim: Sim) -> None:
    broker, rec = sim
    broker.faults.reject_next(201, "Order rejected - reason: insufficient margin")
    await broker.place_bracket(bracket("B"))
    assert (rec.last("B").status, rec.last("B").code) == (S.REJECTED, 201)
    assert rec.last("B").message == "Order rejected - reason: insufficient margin"
    assert rec.last("B.tp").status is rec.last("B.sl").status is S.CANCELLED
    assert "rejected" in rec.last("B.sl").message


async def test_a_missing_stop_placed_later_protects_what_the_entry_filled(
    sim: Sim,
) -> None:
    broker, rec = sim
    broker.set_price("AAA", D(100))
    broker.faults.reject_next(order_ref="B.sl")
    await broker.place_bracket(bracket("B", quantity=10, entry=100))
    assert rec.last("B.sl").status is S.REJECTED and rec.last("B").status is S.FILLED
    await broker.place_order(order("B.sl2", Side.SELL, 10, OrderType.STOP, stop=90, parent="B", oca="oca-B"))
    assert (rec.last("B.sl2").status, rec.last("B.sl2").remaining) == (S.WORKING, D(10))
    broker.set_price("AAA", D(89))
    assert rec.last("B.sl2").status is S.FILLED and rec.last("B.tp").status is S.CANCELLED
    assert await broker.positions() == []


async def test_an_exit_placed_before_its_entry_fills_is_held(sim: Sim) -> None:
    broker, rec = sim
    broker.set_price("AAA", D(100))
    await broker.place_order(order("E", Side.BUY, 5, OrderType.LIMIT, limit=95))
    await broker.place_order(order("E.sl", Side.SELL, 5, OrderType.STOP, stop=90, parent="E"))
    assert rec.last("E.sl").status is S.HELD
    broker.set_price("AAA", D(95))
    assert (rec.last("E.sl").status, rec.last("E.sl").remaining) == (S.WORKING, D(5))


@pytest.mark.parametrize(
    ("child", "why"),
    [
        (order("C", Side.SELL, 5, OrderType.STOP, stop=90, parent="nobody"), "not at the broker"),
        (order("C", Side.BUY, 5, OrderType.STOP, stop=90, parent="E"), "side opposite"),
        (order("C", Side.SELL, 5, OrderType.MARKET, parent="E"), "LMT .* or STP"),
        (order("C", Side.SELL, 5, OrderType.STOP, stop=90, oca="group"), "OCA groups"),
    ],
)
async def test_exits_that_cannot_join_a_bracket_are_refused(
    sim: Sim, child: OrderRequest, why: str
) -> None:
    broker, _ = sim
    await broker.place_order(order("E", Side.BUY, 5, OrderType.LIMIT, limit=95))
    with pytest.raises(BrokerError, match=why):
        await broker.place_order(child)
    assert [o.request.order_ref for o in await broker.open_orders()] == ["E"]


# -- commissions and the account -----------------------------------------------------------------


async def test_commission_is_per_share_with_a_minimum_per_order() -> None:
    broker, rec = await make(partial_fill_quantity=D(300))
    broker.set_price("AAA", D(10))
    await broker.place_order(order("SMALL", quantity=10))  # 10 x 0.005 = 0.05 -> the 1.00 minimum
    await broker.place_order(order("BIG", quantity=1000))  # 1000 x 0.005 = 5.00, over four fills
    broker.step()
    broker.step()
    broker.step()
    assert [f.commission for f in rec.fills("SMALL")] == [D("1.00")]
    big = [f.commission for f in rec.fills("BIG")]
    assert big[0] == D("1.50") and sum(big) == D("5.000")


async def test_commission_settings_apply() -> None:
    broker, rec = await make(commission_per_share=D("0.01"), min_commission=D(0))
    broker.set_price("AAA", D(10))
    await broker.place_order(order("X", quantity=7))
    assert rec.fills("X")[0].commission == D("0.07")


async def test_account_tracks_a_short_through_a_flip(sim: Sim) -> None:
    broker, rec = sim
    broker.set_price("AAA", D(50))
    await broker.place_order(order("S1", Side.SELL, 10))
    broker.set_price("AAA", D(45))
    [short] = await broker.positions()
    assert (short.quantity, short.avg_cost) == (D(-10), D(50))
    assert (await broker.account_summary()).unrealized_pnl == 50
    await broker.place_order(order("B1", Side.BUY, 15))  # covers 10 at +5 each, then long 5 at 45
    [long] = await broker.positions()
    assert (long.quantity, long.avg_cost) == (D(5), D(45))
    summary = await broker.account_summary()
    assert summary.realized_pnl == 50 - 2  # minus two 1.00 commissions
    assert summary.cash == 100_000 + 500 - 675 - 2
    assert summary.net_liquidation == summary.cash + 5 * 45 == 100_000 + summary.realized_pnl
    assert rec.fills()[1].side is Side.BUY


async def test_a_raising_subscriber_does_not_stop_the_others(sim: Sim) -> None:
    broker, rec = sim

    def broken(_event: object) -> None:
        raise RuntimeError("subscriber bug")

    broker.subscribe(broken)
    after = Recorder(broker)
    broker.set_price("AAA", D(100))
    with pytest.raises(RuntimeError, match="subscriber bug"):
        await broker.place_order(order("A", quantity=1))
    assert [type(e).__name__ for e in after.events] == ["OrderStatusUpdate", "Fill", "OrderStatusUpdate"]
    assert rec.events == after.events


async def test_a_subscriber_acting_on_an_event_sees_its_results_after_it(
    sim: Sim,
) -> None:
    broker, rec = sim
    moved: list[bool] = []

    def move_the_market_on_the_first_fill(event: object) -> None:
        if rec.fills("A") and not moved:
            moved.append(True)
            broker.set_price("AAA", D(95))

    broker.subscribe(move_the_market_on_the_first_fill)
    broker.set_price("AAA", D(100))
    await broker.place_order(order("L", Side.BUY, 1, OrderType.LIMIT, limit=95))
    await broker.place_order(order("A", quantity=1))
    refs = [(type(e).__name__, getattr(e, "order_ref", "")) for e in rec.events]
    assert refs[-4:] == [("Fill", "A"), ("OrderStatusUpdate", "A"), ("Fill", "L"), ("OrderStatusUpdate", "L")]
