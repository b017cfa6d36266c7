"""Values made per order or per broker event (requests, reports, fills, bracket intentions) are
built through a writable twin (`core.values.writable_twin`) or a factory function: what comes out
must be an ordinary frozen, slotted instance of the class, equal to what the class makes."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from core.bracket import ActivateExits, Bracket, CancelLegs, ResizeExits
from core.broker_events import Fill, OrderStatusUpdate, make_fill, make_status_update
from core.clock import EPOCH
from core.order_status import OrderStatus, OrderTrigger
from core.orders import BracketRequest, Order, OrderRequest, OverFill, new_order
from core.values import ExecId, OrderRef, OrderType, Side, TimeInForce, become, writable_twin

D = Decimal
ENTRY, TP, SL = OrderRef("B1"), OrderRef("B1.tp"), OrderRef("B1.sl")


def bracket_request() -> BracketRequest:
    quantity = D(100)
    return BracketRequest(
        OrderRequest(ENTRY, "AAPL", Side.BUY, quantity, OrderType.LIMIT, D(99)),
        OrderRequest(TP, "AAPL", Side.SELL, quantity, OrderType.LIMIT, D(110), parent_ref=ENTRY,
                     oca_group="B1"),
        OrderRequest(SL, "AAPL", Side.SELL, quantity, OrderType.STOP, None, D(95), parent_ref=ENTRY,
                     oca_group="B1"),
    )


def values() -> list[object]:
    request = bracket_request()
    return [
        request.entry,
        request.stop_loss,
        request,
        OrderStatusUpdate(ENTRY, OrderStatus.WORKING, D(0), D(100), D(0), "", None),
        make_status_update(ENTRY, OrderStatus.FILLED, D(100), D(0), D(99), "done", 7),
        Fill(ExecId("X1"), ENTRY, "AAPL", Side.BUY, D(100), D(99), EPOCH, D(1)),
        make_fill(ExecId("X2"), TP, "AAPL", Side.SELL, D(100), D(110), EPOCH, D(1)),
        ActivateExits(D(100)),
        ResizeExits(D(40)),
        CancelLegs((TP, SL), "bracket B1 closed"),
    ]


@pytest.mark.parametrize("value", values(), ids=lambda value: type(value).__name__)
def test_values_come_out_frozen_slotted_and_of_their_own_class(value: Any) -> None:
    cls = type(value)
    assert cls in {
        OrderRequest, BracketRequest, OrderStatusUpdate, Fill, ActivateExits, ResizeExits, CancelLegs,
    }, "a writable twin leaked out"
    assert not hasattr(value, "__dict__")
    name = dataclasses.fields(value)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(value, name, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        delattr(value, name)


@pytest.mark.parametrize("value", values(), ids=lambda value: type(value).__name__)
def test_values_compare_hash_copy_pickle_and_replace_as_dataclasses(value: Any) -> None:
    again = dataclasses.replace(value)
    assert again == value and hash(again) == hash(value) and type(again) is type(value)
    assert copy.copy(value) == value and copy.deepcopy(value) == value
    assert pickle.loads(pickle.dumps(value)) == value
    assert repr(value).startswith(f"{type(value).__name__}(")


def test_the_factories_make_what_the_classes_make() -> None:
    update = make_status_update(TP, OrderStatus.CANCELLED, D(0), D(100), D(0), "OCA", 202)
    assert update == OrderStatusUpdate(TP, OrderStatus.CANCELLED, D(0), D(100), D(0), "OCA", 202)
    assert type(update) is OrderStatusUpdate
    fill = make_fill(ExecId("X9"), SL, "AAPL", Side.SELL, D(5), D(95), EPOCH, D("1.00"))
    assert fill == Fill(ExecId("X9"), SL, "AAPL", Side.SELL, D(5), D(95), EPOCH, D("1.00"))
    assert type(fill) is Fill
    request = bracket_request().entry
    assert new_order(request) == Order(request)
    assert type(new_order(request)) is Order


def test_the_intentions_of_a_bracket_are_the_classes_own() -> None:
    bracket = Bracket(bracket_request())
    bracket.mark_submitted()
    [activate] = bracket.apply_fill(Fill(ExecId("X1"), ENTRY, "AAPL", Side.BUY, D(100), D(99), EPOCH))
    assert activate == ActivateExits(D(100)) and type(activate) is ActivateExits
    [cancel] = bracket.apply_fill(Fill(ExecId("X2"), TP, "AAPL", Side.SELL, D(100), D(110), EPOCH))
    assert type(cancel) is CancelLegs and cancel.order_refs == (SL,)


def test_a_twin_is_refused_for_a_class_it_would_not_fit() -> None:
    @dataclass(frozen=True, slots=True)
    class Moved:
        a: int
        b: int

        def __init__(self, b: int, a: int) -> None:  # parameters in another order than the fields
            pass

    @dataclass(frozen=True, slots=True)
    class OtherDefault:
        a: int = 1

        def __init__(self, a: int = 2) -> None:
            pass

    @dataclass(slots=True)
    class NotFrozen:
        a: int

    with pytest.raises(TypeError, match="does not take exactly its fields"):
        writable_twin(Moved, "a", "b")
    with pytest.raises(TypeError, match="not its fields in order"):
        writable_twin(Moved, "b", "a")
    with pytest.raises(TypeError, match="another default"):
        writable_twin(OtherDefault, "a")
    with pytest.raises(TypeError, match="not a frozen dataclass with slots"):
        writable_twin(NotFrozen, "a")


def test_a_twin_writes_its_fields_and_becomes_the_frozen_class() -> None:
    @dataclass(frozen=True, slots=True)
    class Point:
        x: int
        y: int = 0

        def __init__(self, x: int, y: int = 0) -> None:
            writable: Any = self
            become(writable, _WritablePoint)
            writable.x = x
            writable.y = y
            writable.__class__ = Point

    _WritablePoint = writable_twin(Point, "x", "y")
    point = Point(3)
    assert (point.x, point.y, type(point)) == (3, 0, Point)
    with pytest.raises(dataclasses.FrozenInstanceError):
        point.x = 4  # type: ignore[misc]


def test_a_request_made_without_init_is_still_checked() -> None:
    # Tools that make dataclasses without calling __init__ (msgspec decoding, for one) call
    # __post_init__ after setting the fields: the checks of __init__ run again.
    request: Any = object.__new__(OrderRequest)
    for field in dataclasses.fields(OrderRequest):
        object.__setattr__(request, field.name, field.default)
    for name, value in (("order_ref", "R"), ("symbol", "AAPL"), ("side", Side.BUY), ("quantity", D("1.5"))):
        object.__setattr__(request, name, value)
    with pytest.raises(ValueError, match="whole number above 0"):
        request.__post_init__()
    object.__setattr__(request, "quantity", D(2))
    request.__post_init__()
    assert request == OrderRequest(OrderRef("R"), "AAPL", Side.BUY, D(2))


@pytest.mark.parametrize(
    ("order_type", "limit", "stop", "message"),
    [
        ("LMT", D(1), None, "must be an OrderType"),  # the string, not the member
        (OrderType.STOP_LIMIT, None, D(1), "needs a limit price"),
        (OrderType.STOP_LIMIT, D(1), None, "needs a stop price"),
        (OrderType.LIMIT, D(-1), None, "needs a limit price above 0"),
    ],
)
def test_order_types_and_their_prices_are_checked(
    order_type: Any, limit: Decimal | None, stop: Decimal | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        OrderRequest(OrderRef("R"), "AAPL", Side.BUY, D(1), order_type, limit, stop)


def test_every_order_type_with_its_prices_is_accepted() -> None:
    for order_type, limit, stop in (
        (OrderType.MARKET, None, None), (OrderType.LIMIT, D(1), None), (OrderType.STOP, None, D(1)),
        (OrderType.STOP_LIMIT, D(1), D(2)),
    ):
        request = OrderRequest(
            OrderRef("R"), "AAPL", Side.SELL, D(3), order_type, limit, stop, TimeInForce.DAY
        )
        assert (request.order_type, request.limit_price, request.stop_price) == (order_type, limit, stop)


def test_exits_with_their_own_equal_quantities_still_make_a_bracket() -> None:
    request = bracket_request()
    rebuilt = BracketRequest(
        request.entry,
        request.take_profit.with_quantity(D("100")),
        request.stop_loss.with_quantity(D("100.0")),
    )
    assert rebuilt.take_profit.quantity == rebuilt.stop_loss.quantity == rebuilt.entry.quantity
    with pytest.raises(ValueError, match="quantity differs"):
        BracketRequest(request.entry, request.take_profit.with_quantity(D(99)), request.stop_loss)


def test_an_order_keeps_its_execution_ids_in_order_and_refuses_over_fills() -> None:
    order = new_order(OrderRequest(OrderRef("R"), "AAPL", Side.BUY, D(10)))
    assert not order.exec_ids
    assert order.apply(OrderTrigger.SUBMIT) is OrderStatus.SUBMITTED
    assert order.add_fill("e1", D(4), D(100))
    assert order.add_fill("e2", D(6), D(101))
    assert order.exec_ids == ("e1", "e2")
    assert not order.add_fill("e2", D(6), D(101))
    with pytest.raises(OverFill, match="exceeds the ordered 10"):
        order.add_fill("e3", D(1), D(101))
    assert order.filled == 10 and order.status is OrderStatus.FILLED
