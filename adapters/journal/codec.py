"""Order requests and brackets as JSON text for the journal's columns, and back.

Decimals travel as strings (exact digits, never floats); enums as their values. The journal is
read back only by this codec, so the shape may grow fields but must keep reading old rows.
Encoded with msgspec (keys sorted, no spaces; 3-4x faster than the json module, which wrote the
older rows with spaces: both read back the same). A batch's orders are written as rows of values
(`_ORDER_KEYS` order), not objects, less than half the bytes (journaled, synchronous=FULL, before
the batch is acknowledged); objects written before are read back as ever.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal

import msgspec

from core.journal import BatchOrder
from core.orders import BracketRequest, OrderRequest
from core.values import OrderRef, OrderType, Side, TimeInForce

JsonDict = dict[str, str | None]
_encoder = msgspec.json.Encoder(order="sorted")


def order_to_dict(order: OrderRequest) -> JsonDict:
    """One order request as JSON-ready strings."""
    return {
        "order_ref": order.order_ref, "symbol": order.symbol, "side": order.side.value,
        "quantity": str(order.quantity), "order_type": order.order_type.value,
        "limit_price": _text(order.limit_price), "stop_price": _text(order.stop_price),
        "tif": order.tif.value, "parent_ref": order.parent_ref, "oca_group": order.oca_group,
    }


def order_from_dict(data: JsonDict) -> OrderRequest:
    """The order request `order_to_dict` wrote."""
    return OrderRequest(
        OrderRef(_required(data, "order_ref")), _required(data, "symbol"), Side(_required(data, "side")),
        Decimal(_required(data, "quantity")), OrderType(_required(data, "order_type")),
        _decimal(data.get("limit_price")), _decimal(data.get("stop_price")),
        TimeInForce(_required(data, "tif")),
        None if data.get("parent_ref") is None else OrderRef(_required(data, "parent_ref")),
        data.get("oca_group"),
    )


class _OrderJson(msgspec.Struct):
    """`order_to_dict`'s keys as a Struct, declared in sorted order: encoded as the sorted dict is,
    at half the cost (the journal writes one per leg, 60 per 20-order batch)."""

    limit_price: str | None
    oca_group: str | None
    order_ref: str
    order_type: str
    parent_ref: str | None
    quantity: str
    side: str
    stop_price: str | None
    symbol: str
    tif: str


_plain_encoder = msgspec.json.Encoder()


def order_to_json(order: OrderRequest) -> str:
    """`order_to_dict` as JSON text, keys sorted, no spaces."""
    limit, stop = order.limit_price, order.stop_price
    return _plain_encoder.encode(_OrderJson(
        None if limit is None else str(limit), order.oca_group, order.order_ref, order.order_type.value,
        order.parent_ref, str(order.quantity), order.side.value, None if stop is None else str(stop),
        order.symbol, order.tif.value,
    )).decode()


def order_from_json(text: str) -> OrderRequest:
    return order_from_dict(json.loads(text))


# A request's values in a batch's row, in this order.
_ORDER_KEYS = ("order_ref", "symbol", "side", "quantity", "order_type", "limit_price", "stop_price", "tif",
               "parent_ref", "oca_group")


# Enum members to their text: a dict lookup costs a fraction of `.value` (a descriptor call), and a
# 20-order batch writes 60 rows.
_SIDE_TEXT = {side: side.value for side in Side}
_ORDER_TYPE_TEXT = {order_type: order_type.value for order_type in OrderType}
_TIF_TEXT = {tif: tif.value for tif in TimeInForce}


def _order_row(order: OrderRequest) -> tuple[str | None, ...]:
    limit, stop = order.limit_price, order.stop_price
    return (order.order_ref, order.symbol, _SIDE_TEXT[order.side], str(order.quantity),
            _ORDER_TYPE_TEXT[order.order_type], None if limit is None else str(limit),
            None if stop is None else str(stop), _TIF_TEXT[order.tif], order.parent_ref, order.oca_group)


def batch_orders_to_json(orders: tuple[BatchOrder, ...]) -> str:
    """The brackets of a batch, each `[reference price, entry, take profit, stop loss]`, a leg as
    the row of its values (`_ORDER_KEYS`)."""
    return _plain_encoder.encode([
        (str(item.reference_price), *(_order_row(leg) for leg in item.bracket.legs)) for item in orders
    ]).decode()


def batch_orders_from_json(text: str) -> tuple[BatchOrder, ...]:
    """The brackets `batch_orders_to_json` wrote, or the objects older versions wrote
    (`{"reference_price": ..., "legs": [order_to_dict, ...]}`)."""
    result = []
    for item in json.loads(text):
        if isinstance(item, dict):
            reference, legs = item["reference_price"], item["legs"]
        else:
            reference, *rows = item
            legs = [dict(zip(_ORDER_KEYS, row, strict=True)) for row in rows]
        entry, take_profit, stop_loss = (order_from_dict(leg) for leg in legs)
        result.append(BatchOrder(BracketRequest(entry, take_profit, stop_loss), Decimal(reference)))
    return tuple(result)


# The text last made for a time object, by its id, with the object (so that an id reused by another
# object never matches): a status report's time is written to the journal, then sent to the cloud in
# the same form, and `isoformat` costs more than the rest of the report's wire form. Two flat dicts,
# not one of pairs: a pair per report would be one more object for the garbage collector to visit.
_TIME_OBJECTS: dict[int, datetime] = {}
_TIME_TEXTS: dict[int, str] = {}
_TIMES_KEPT = 4096


def time_text(moment: datetime) -> str:
    """`moment.isoformat()`, made once per time object while the last few thousand are kept."""
    key = id(moment)
    if _TIME_OBJECTS.get(key) is moment:
        return _TIME_TEXTS[key]
    if len(_TIME_OBJECTS) >= _TIMES_KEPT:
        _TIME_OBJECTS.clear()
        _TIME_TEXTS.clear()
    text = _TIME_TEXTS[key] = moment.isoformat()
    _TIME_OBJECTS[key] = moment
    return text


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _decimal(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _required(data: JsonDict, key: str) -> str:
    value = data.get(key)
    if value is None:
        raise ValueError(f"journal row is missing {key!r}: the journal file is damaged or from a newer "
                         "version of tradebridge")
    return value
