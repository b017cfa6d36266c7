"""The journal codec's faster texts are the texts the plain way makes: an order request's JSON (a
Struct encoded in place of a sorted dict) and a time's ISO-8601 text (kept per time object)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from adapters.journal import codec
from adapters.journal.codec import order_from_json, order_to_dict, order_to_json, time_text
from core.orders import OrderRequest
from core.values import OrderRef, OrderType, Side, TimeInForce


def requests() -> list[OrderRequest]:
    made = []
    for order_type, side, tif, parent in itertools.product(
        OrderType, Side, TimeInForce, (None, "tb:B1:AAA:E")
    ):
        made.append(
            OrderRequest(
                OrderRef("tb:B1:AAA:TP"),
                "BRK B",
                side,
                Decimal("12"),
                order_type,
                Decimal("101.25") if order_type.needs_limit_price else None,
                Decimal("99.0") if order_type.needs_stop_price else None,
                tif,
                None if parent is None else OrderRef(parent),
                None if parent is None else "tb:B1:AAA",
            )
        )
    return made


@pytest.mark.parametrize(
    "request_", requests(), ids=lambda r: f"{r.order_type.value}-{r.side.value}-{r.tif.value}"
)
def test_an_order_request_is_the_text_of_its_sorted_dict(request_: OrderRequest) -> None:
    assert order_to_json(request_) == codec._encoder.encode(order_to_dict(request_)).decode()
    assert order_from_json(order_to_json(request_)) == request_


def test_a_time_is_its_isoformat_text_whatever_its_zone() -> None:
    moments = [
        datetime(2026, 5, 6, 7, 8, 9, 123456, tzinfo=UTC),
        datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC),  # no fraction: none is written
        datetime(2026, 5, 6, 9, 8, 9, 123456, tzinfo=timezone(timedelta(hours=2))),  # the same instant
        datetime(2026, 5, 6, 7, 8, 9, 5),  # naive
    ]
    for moment in moments:
        assert time_text(moment) == moment.isoformat()
        assert time_text(moment) == moment.isoformat()  # and again, from what was kept
    # Equal times of other zones are other objects: each keeps its own text.
    assert time_text(moments[0]) != time_text(moments[2])


def test_the_times_kept_are_forgotten_in_bulk_and_made_again() -> None:
    start = datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC)
    moments = [start + timedelta(microseconds=n) for n in range(codec._TIMES_KEPT + 10)]
    for moment in moments:
        assert time_text(moment) == moment.isoformat()
    assert len(codec._TIME_OBJECTS) <= codec._TIMES_KEPT
    assert all(time_text(moment) == moment.isoformat() for moment in moments)
