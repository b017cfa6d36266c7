"""The order state machine: every edge of the table, and every edge that is not in it."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.order_status import (
    TERMINAL,
    TRANSITIONS,
    InvalidTransition,
    OrderStatus,
    OrderTrigger,
    next_status,
)
from core.orders import Order, OrderRequest, OverFill
from core.values import OrderRef, OrderType, Side


@pytest.mark.parametrize(("edge", "target"), sorted(TRANSITIONS.items()))
def test_every_edge_in_the_table_is_taken(
    edge: tuple[OrderStatus, OrderTrigger], target: OrderStatus
) -> None:
    assert next_status(*edge) is target


MISSING = [
    (status, trigger)
    for status in OrderStatus
    for trigger in OrderTrigger
    if (status, trigger) not in TRANSITIONS
]


@pytest.mark.parametrize(("status", "trigger"), MISSING)
def test_every_edge_not_in_the_table_raises(status: OrderStatus, trigger: OrderTrigger) -> None:
    with pytest.raises(InvalidTransition, match=status.value):
        next_status(status, trigger)


def test_terminal_states_have_no_way_out() -> None:
    assert {s for (s, _t) in TRANSITIONS} & TERMINAL == set()


def test_the_error_says_what_is_allowed() -> None:
    with pytest.raises(InvalidTransition) as caught:
        next_status(OrderStatus.PENDING, OrderTrigger.FILL, "order X-1")
    assert "order X-1 is PENDING and cannot take 'fill'" in str(caught.value)
    assert "allowed: cancel, reject, submit" in str(caught.value)
    with pytest.raises(InvalidTransition, match="FILLED is final"):
        next_status(OrderStatus.FILLED, OrderTrigger.CANCEL)


def _order(quantity: str = "10") -> Order:
    request = OrderRequest(OrderRef("B1-AAPL-E"), "AAPL", Side.BUY, Decimal(quantity), OrderType.MARKET)
    order = Order(request)
    order.apply(OrderTrigger.SUBMIT)
    order.apply(OrderTrigger.ACCEPT)
    return order


def test_fills_accumulate_with_a_weighted_average_and_dedupe_by_exec_id() -> None:
    order = _order()
    assert order.add_fill("e1", Decimal(4), Decimal("100"))
    assert order.status is OrderStatus.PARTIALLY_FILLED
    assert not order.add_fill("e1", Decimal(4), Decimal("100")), "a repeated exec id is ignored"
    assert order.add_fill("e2", Decimal(6), Decimal("101"))
    assert order.status is OrderStatus.FILLED
    assert order.filled == Decimal(10)
    assert order.avg_fill_price == Decimal("100.6")


def test_a_fill_beyond_the_ordered_quantity_is_refused_and_changes_nothing() -> None:
    order = _order("5")
    with pytest.raises(OverFill, match="exceeds the ordered 5"):
        order.add_fill("e1", Decimal(6), Decimal("100"))
    assert order.filled == 0 and order.status is OrderStatus.WORKING


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"quantity": Decimal(0)}, "whole number above 0"),
        ({"quantity": Decimal("1.5")}, "whole number above 0"),
        ({"order_type": OrderType.LIMIT}, "needs a limit price"),
        ({"order_type": OrderType.STOP}, "needs a stop price"),
        ({"symbol": ""}, "symbol is empty"),
    ],
)
def test_invalid_order_requests_say_what_is_wrong(kwargs: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {
        "order_ref": OrderRef("R"), "symbol": "AAPL", "side": Side.BUY, "quantity": Decimal(1),
    }
    fields.update(kwargs)
    with pytest.raises(ValueError, match=message):
        OrderRequest(**fields)  # type: ignore[arg-type]
