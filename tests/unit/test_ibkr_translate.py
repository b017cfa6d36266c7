"""translate.py: IB statuses to domain statuses, brackets to IB orders, IB trades, fills,
positions and account values to domain values. Built from real ib_async value objects."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ib_async import AccountValue, CommissionReport, Execution, Order, Stock, Trade
from ib_async import Fill as IbFill
from ib_async import OrderStatus as IbOrderStatus
from ib_async import Position as IbPosition
from ib_async.objects import TradeLogEntry

from adapters.ibkr.translate import (
    IB_STATUS,
    account_snapshot,
    domain_status,
    fill_from_ib,
    from_ib_trade,
    positions_from_ib,
    request_from_ib,
    round_to_tick,
    status_update,
    to_ib_order,
    to_ib_orders,
)
from core.broker_events import BrokerPosition, Fill
from core.order_status import OrderStatus
from core.orders import BracketRequest, OrderRequest
from core.values import ExecId, OrderRef, OrderType, Side, TimeInForce

D = Decimal
NOW = datetime(2026, 1, 2, 15, 0, tzinfo=UTC)


def make_bracket(entry: str = "95.004", target: str = "110.126", stop: str = "89.995") -> BracketRequest:
    return BracketRequest(
        OrderRequest(OrderRef("B1"), "AAPL", Side.BUY, D(10), OrderType.LIMIT, D(entry), tif=TimeInForce.DAY),
        OrderRequest(OrderRef("B1.tp"), "AAPL", Side.SELL, D(10), OrderType.LIMIT, D(target),
                     parent_ref=OrderRef("B1"), oca_group="oca-B1"),
        OrderRequest(OrderRef("B1.sl"), "AAPL", Side.SELL, D(10), OrderType.STOP, None, D(stop),
                     parent_ref=OrderRef("B1"), oca_group="oca-B1"),
    )


def trade(
    order: Order, status: str, filled: float = 0.0, avg: float = 0.0, log: list[TradeLogEntry] | None = None
) -> Trade:
    remaining = order.totalQuantity - filled
    return Trade(Stock("AAPL", "SMART", "USD"), order,
                 IbOrderStatus(order.orderId, status, filled, remaining, avg), [], log or [])


# -- statuses ----------------------------------------------------------------------------------------


def test_every_ib_status_the_brief_names_is_in_the_table() -> None:
    for status in ("PendingSubmit", "PendingCancel", "PreSubmitted", "Submitted", "ApiCancelled", "Cancelled",
                   "Filled", "Inactive"):
        assert status in IB_STATUS
    assert IB_STATUS["Submitted"] is OrderStatus.WORKING
    assert IB_STATUS["Filled"] is OrderStatus.FILLED
    assert IB_STATUS["Inactive"] is OrderStatus.REJECTED
    assert IB_STATUS["PendingCancel"] is None  # still working until IB confirms


def test_presubmitted_is_held_only_for_a_child_whose_parent_is_open() -> None:
    assert domain_status("PreSubmitted", D(0), parent_open=True) is OrderStatus.HELD
    assert domain_status("PreSubmitted", D(0), parent_open=False) is OrderStatus.WORKING  # untriggered stop
    assert domain_status("Submitted", D(3), parent_open=False) is OrderStatus.PARTIALLY_FILLED


def test_cancelled_after_an_order_error_is_a_rejection_with_its_code() -> None:
    assert domain_status("Cancelled", D(0), parent_open=False, error_code=201) is OrderStatus.REJECTED
    assert domain_status("Cancelled", D(0), parent_open=False, error_code=110) is OrderStatus.REJECTED
    assert domain_status("Cancelled", D(0), parent_open=False, error_code=202) is OrderStatus.CANCELLED
    assert domain_status("Cancelled", D(0), parent_open=False) is OrderStatus.CANCELLED


def test_status_update_carries_code_and_message_of_a_rejection() -> None:
    order = to_ib_order(make_bracket().stop_loss, 12, parent_id=10)
    entry = TradeLogEntry(NOW, "Cancelled", "Error 201, reqId 12: Order rejected - reason: margin", 201)
    update = status_update(trade(order, "Cancelled", log=[entry]), parent_open=False)
    assert update is not None
    assert (update.order_ref, update.status, update.code) == ("B1.sl", OrderStatus.REJECTED, 201)
    assert "margin" in update.message


def test_status_update_of_a_partial_fill_and_of_nothing_new() -> None:
    order = to_ib_order(make_bracket().entry, 10)
    update = status_update(trade(order, "Submitted", filled=4.0, avg=95.0), parent_open=False)
    assert update is not None
    assert (update.status, update.filled, update.remaining, update.avg_fill_price) == (
        OrderStatus.PARTIALLY_FILLED, D(4), D(6), D(95))
    assert status_update(trade(order, "PendingCancel"), parent_open=False) is None
    no_ref = Order(orderId=5, action="BUY", totalQuantity=1, orderType="MKT")
    assert status_update(trade(no_ref, "Submitted"), parent_open=False) is None


# -- orders out ------------------------------------------------------------------------------------


def test_a_bracket_becomes_parent_target_and_stop() -> None:
    parent, target, stop = to_ib_orders(make_bracket(), [10, 11, 12], account="DU1")
    assert [o.orderId for o in (parent, target, stop)] == [10, 11, 12]
    assert [o.orderRef for o in (parent, target, stop)] == ["B1", "B1.tp", "B1.sl"]
    assert [o.transmit for o in (parent, target, stop)] == [False, False, True]
    assert [o.parentId for o in (parent, target, stop)] == [0, 10, 10]
    assert (parent.ocaGroup, target.ocaGroup, stop.ocaGroup) == ("", "oca-B1", "oca-B1")
    assert target.ocaType == stop.ocaType == 3
    assert (parent.action, target.action, stop.action) == ("BUY", "SELL", "SELL")
    assert (parent.orderType, target.orderType, stop.orderType) == ("LMT", "LMT", "STP")
    assert (parent.lmtPrice, target.lmtPrice, stop.auxPrice) == (95.0, 110.13, 90.0)  # on the 0.01 tick
    assert (parent.tif, target.tif) == ("DAY", "GTC")
    assert {o.account for o in (parent, target, stop)} == {"DU1"}
    assert parent.totalQuantity == target.totalQuantity == stop.totalQuantity == 10


def test_a_bracket_needs_three_distinct_ids() -> None:
    with pytest.raises(ValueError, match="three distinct"):
        to_ib_orders(make_bracket(), [1, 1, 2])


@given(st.decimals(min_value=D("0.01"), max_value=D(100000), places=6))
def test_rounded_prices_are_on_the_tick_and_within_half_a_tick(price: Decimal) -> None:
    rounded = round_to_tick(price)
    assert rounded % D("0.01") == 0
    assert abs(rounded - price) <= D("0.005")


def test_an_ib_order_reads_back_as_the_same_request() -> None:
    for leg, parent in zip(make_bracket().legs, (None, "B1", "B1"), strict=True):
        ib_order = to_ib_order(leg, 10)
        back = request_from_ib(ib_order, Stock("AAPL", "SMART", "USD"), parent)
        assert back.order_ref == leg.order_ref and back.side is leg.side and back.quantity == leg.quantity
        assert back.order_type is leg.order_type and back.tif is leg.tif and back.parent_ref == leg.parent_ref
        assert back.limit_price == (round_to_tick(leg.limit_price) if leg.limit_price else None)
        assert back.stop_price == (round_to_tick(leg.stop_price) if leg.stop_price else None)
        assert back.oca_group == leg.oca_group


# -- orders, fills, positions, account in ---------------------------------------------------------


def domain_fill(exec_id: str, ref: str, side: Side, quantity: int, price: str, commission: str = "1") -> Fill:
    return Fill(ExecId(exec_id), OrderRef(ref), "AAPL", side, D(quantity), D(price), NOW, D(commission))


def test_from_ib_trade_takes_fill_figures_from_the_executions() -> None:
    order = to_ib_order(make_bracket().entry, 10)
    fills = [domain_fill("e1", "B1", Side.BUY, 4, "95"), domain_fill("e2", "B1", Side.BUY, 6, "94.5")]
    # The status was dropped: IB's trade still says Submitted with nothing filled.
    broker_order = from_ib_trade(trade(order, "Submitted"), parent_open=False, fills=fills)
    assert broker_order.status is OrderStatus.FILLED
    assert broker_order.filled == 10
    assert broker_order.avg_fill_price == (4 * D(95) + 6 * D("94.5")) / 10
    assert broker_order.broker_order_id == "10"
    held = from_ib_trade(trade(to_ib_order(make_bracket().take_profit, 11, parent_id=10), "PreSubmitted"),
                         parent_open=True, parent_ref="B1")
    assert held.status is OrderStatus.HELD and held.request.parent_ref == "B1"


def test_fill_from_ib() -> None:
    execution = Execution(execId="0001.01", time=NOW, side="SLD", shares=10.0, price=110.13, orderRef="B1.tp",
                          permId=7)
    stock = Stock("AAPL", "SMART", "USD")
    fill = fill_from_ib(IbFill(stock, execution, CommissionReport(commission=1.0), NOW))
    expected = Fill(ExecId("0001.01"), OrderRef("B1.tp"), "AAPL", Side.SELL, D(10), D("110.13"), NOW, D(1))
    assert fill == expected
    assert fill_from_ib(IbFill(stock, execution, CommissionReport(), NOW), commission=0.0).commission == 0


def test_positions_use_the_fold_of_todays_fills_for_the_average() -> None:
    stock = Stock("AAPL", "SMART", "USD")
    fills = [domain_fill("e1", "B1", Side.BUY, 10, "100")]
    ib_positions = [IbPosition("DU1", stock, 10.0, 100.1),  # IB folds the $1 commission into avgCost
                    IbPosition("DU1", Stock("MSFT"), -5.0, 300.0),  # opened before today: IB's figure
                    IbPosition("DU1", Stock("IBM"), 0.0, 0.0),  # flat: left out
                    IbPosition("DU2", stock, 3.0, 90.0)]  # another account
    assert positions_from_ib(ib_positions, fills, "DU1") == [
        BrokerPosition("AAPL", D(10), D(100)), BrokerPosition("MSFT", D(-5), D(300))]


def test_account_snapshot_splits_pnl_the_domain_way() -> None:
    values = [AccountValue("DU1", tag, value, "USD", "") for tag, value in (
        ("NetLiquidation", "1000099.00"), ("TotalCashValue", "998999.00"), ("UnrealizedPnL", "99.00"),
        ("RealizedPnL", "0.00"))]
    values.append(AccountValue("DU1", "AccountType", "INDIVIDUAL", "", ""))
    positions = [BrokerPosition("AAPL", D(10), D(100))]
    snapshot = account_snapshot("DU1", values, positions, {"AAPL": D(110)}, {"AAPL": D(99)})
    assert (snapshot.net_liquidation, snapshot.cash) == (D("1000099.00"), D("998999.00"))
    assert snapshot.unrealized_pnl == 100  # before commissions, as core.position has it
    assert snapshot.realized_pnl == -1  # the opening commission, paid
    assert snapshot.realized_pnl + snapshot.unrealized_pnl == D(99)  # IB's total is kept
