"""Snapshot and restore of a simulated broker, as a JSON-able dict.

What a real broker keeps across a client crash is what a snapshot keeps: orders (with their
status, fills, triggered stops and bracket links), executions, positions (with their cost basis
and P&L), cash, last prices and id counters. What lives only in the connection is left out:
subscribers, armed faults, held reports, and the connection itself (a restored broker starts
disconnected). Daily bars of the price feed are not kept either.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from adapters.simulated.book import SimBracket, SimOrder
from adapters.simulated.config import SimulationConfig
from core.broker_events import Fill
from core.clock import ManualClock
from core.order_status import OrderStatus
from core.orders import OrderRequest
from core.ports import Clock
from core.position import Position
from core.values import ExecId, OrderRef, OrderType, Side, TimeInForce

if TYPE_CHECKING:
    from adapters.simulated.broker import SimulatedBroker

STATE_VERSION = 1


def _number(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


# Enum members to their JSON text: a dict lookup costs a fraction of `.value` (a descriptor call),
# and the sim journal dumps every order that changes, on each broker call.
_SIDE = {side: side.value for side in Side}
_ORDER_TYPE = {order_type: order_type.value for order_type in OrderType}
_TIF = {tif: tif.value for tif in TimeInForce}
_STATUS = {status: status.value for status in OrderStatus}


def dump_order(order: SimOrder) -> dict[str, Any]:
    """One order in the snapshot's JSON form (also used per change by the executor's sim journal)."""
    request = order.request
    limit, stop = request.limit_price, request.stop_price
    return {
        "order_ref": request.order_ref,
        "symbol": request.symbol,
        "side": _SIDE[request.side],
        "quantity": str(request.quantity),
        "order_type": _ORDER_TYPE[request.order_type],
        "limit_price": None if limit is None else str(limit),
        "stop_price": None if stop is None else str(stop),
        "tif": _TIF[request.tif],
        "parent_ref": request.parent_ref,
        "oca_group": request.oca_group,
        "broker_id": order.broker_id,
        "status": _STATUS[order.status],
        "current_quantity": str(order.quantity),
        "filled": str(order.filled),
        "avg_price": str(order.avg_price),
        "notional": str(order.notional),
        "commission": str(order.commission),
        "triggered": order.triggered,
        "message": order.message,
        "code": order.code,
    }


# The fields of `dump_order`, in order: `order_row` is the same values without the names.
ORDER_FIELDS = (
    "order_ref", "symbol", "side", "quantity", "order_type", "limit_price", "stop_price", "tif",
    "parent_ref", "oca_group", "broker_id", "status", "current_quantity", "filled", "avg_price",
    "notional", "commission", "triggered", "message", "code",
)  # fmt: skip


def order_row(order: SimOrder) -> tuple[Any, ...]:
    """`dump_order` as the values of ORDER_FIELDS: the sim journal writes each changed order on
    each broker call, and a row costs half a dict to build and to encode (and a third the bytes)."""
    request = order.request
    limit, stop = request.limit_price, request.stop_price
    return (
        request.order_ref, request.symbol, _SIDE[request.side], str(request.quantity),
        _ORDER_TYPE[request.order_type], None if limit is None else str(limit),
        None if stop is None else str(stop), _TIF[request.tif], request.parent_ref, request.oca_group,
        order.broker_id, _STATUS[order.status], str(order.quantity), str(order.filled),
        str(order.avg_price), str(order.notional), str(order.commission), order.triggered,
        order.message, order.code,
    )


def order_from_row(row: Sequence[Any]) -> dict[str, Any]:
    """An `order_row` back in `dump_order` form."""
    if len(row) != len(ORDER_FIELDS):
        raise ValueError(f"an order row holds {len(ORDER_FIELDS)} values, not {len(row)}: {row!r}")
    return dict(zip(ORDER_FIELDS, row, strict=True))


def dump_bracket(bracket: SimBracket) -> dict[str, Any]:
    """One bracket in the snapshot's JSON form: its legs by ref."""
    take_profit, stop_loss = bracket.take_profit, bracket.stop_loss
    return {
        "entry": bracket.entry.ref,
        "take_profit": None if take_profit is None else take_profit.ref,
        "stop_loss": None if stop_loss is None else stop_loss.ref,
        "exit_filled": str(bracket.exit_filled),
    }


def dump_position(position: Position) -> dict[str, Any]:
    """One position in the snapshot's JSON form."""
    return {
        "quantity": str(position.quantity), "cost_basis": str(position.cost_basis),
        "realized_pnl": str(position.realized_pnl), "commissions": str(position.commissions),
    }


def _load_order(data: Mapping[str, Any]) -> SimOrder:
    parent = data["parent_ref"]
    request = OrderRequest(
        order_ref=OrderRef(data["order_ref"]),
        symbol=data["symbol"],
        side=Side(data["side"]),
        quantity=Decimal(data["quantity"]),
        order_type=OrderType(data["order_type"]),
        limit_price=_number(data["limit_price"]),
        stop_price=_number(data["stop_price"]),
        tif=TimeInForce(data["tif"]),
        parent_ref=None if parent is None else OrderRef(parent),
        oca_group=data["oca_group"],
    )
    order = SimOrder(request, data["broker_id"], OrderStatus(data["status"]))
    order.quantity = Decimal(data["current_quantity"])
    order.filled = Decimal(data["filled"])
    order.avg_price = Decimal(data["avg_price"])
    order.notional = Decimal(data["notional"])
    order.commission = Decimal(data["commission"])
    order.triggered = bool(data["triggered"])
    order.message = data["message"]
    order.code = data["code"]
    return order


def dump_fill(fill: Fill) -> dict[str, Any]:
    """One fill in the snapshot's JSON form."""
    return {
        "exec_id": fill.exec_id,
        "order_ref": fill.order_ref,
        "symbol": fill.symbol,
        "side": _SIDE[fill.side],
        "quantity": str(fill.quantity),
        "price": str(fill.price),
        "time": fill.time.isoformat(),
        "commission": str(fill.commission),
    }


def _load_fill(data: Mapping[str, Any]) -> Fill:
    return Fill(
        ExecId(data["exec_id"]), OrderRef(data["order_ref"]), data["symbol"], Side(data["side"]),
        Decimal(data["quantity"]), Decimal(data["price"]), datetime.fromisoformat(data["time"]),
        Decimal(data["commission"]),
    )


def dump_state(
    broker: SimulatedBroker,
    order_form: Callable[[SimOrder], Any] = dump_order,
    fill_form: Callable[[Fill], Any] = dump_fill,
) -> dict[str, Any]:
    """The broker's state as plain JSON types (str, int, bool, None, list, dict). `order_form` and
    `fill_form` make the form of each order and fill (the executor's sim journal passes ones that
    reuse what it encoded before, for an order that has not changed since)."""
    exchange, ledger = broker.exchange, broker.ledger
    brackets: dict[str, SimBracket] = {}
    for order in exchange.orders.values():
        if order.bracket is not None:
            brackets.setdefault(order.bracket.entry.ref, order.bracket)
    return {
        "version": STATE_VERSION,
        "time": broker.clock.now().isoformat(),
        "config": broker.config.to_dict(),
        "orders": [order_form(order) for order in exchange.orders.values()],
        "completed": list(exchange.completed),
        "working": {symbol: list(book) for symbol, book in exchange.working.items() if book},
        "brackets": [dump_bracket(bracket) for bracket in brackets.values()],
        "fills": [fill_form(fill) for fill in exchange.fills],
        "cash": str(ledger.cash),
        "positions": {symbol: dump_position(p) for symbol, p in ledger.positions_by_symbol.items()},
        "prices": {symbol: str(price) for symbol, price in exchange.prices.items()},
        "next_order_id": exchange.next_order_id,
        "next_exec_id": exchange.next_exec_id,
    }


def load_state(
    cls: type[SimulatedBroker], state: Mapping[str, Any], clock: Clock | None
) -> SimulatedBroker:
    """A new, disconnected broker holding what `dump_state` wrote. `clock` defaults to a
    ManualClock at the snapshot's time."""
    version = state.get("version")
    if version != STATE_VERSION:
        raise ValueError(
            f"simulated broker state version {version!r} is not supported (expected {STATE_VERSION}); "
            f"it was written by another version of tradebridge"
        )
    if clock is None:
        clock = ManualClock(datetime.fromisoformat(state["time"]))
    broker = cls(clock=clock, config=SimulationConfig.from_dict(state["config"]))
    exchange, ledger = broker.exchange, broker.ledger
    orders = {order.ref: order for order in map(_load_order, state["orders"])}
    exchange.orders = orders
    completed_refs = state["completed"]
    exchange.completed = {OrderRef(ref): orders[ref] for ref in completed_refs}
    exchange.open = {ref: order for ref, order in orders.items() if ref not in exchange.completed}
    exchange.working = {
        symbol: {OrderRef(ref): orders[ref] for ref in refs} for symbol, refs in state["working"].items()
    }
    for data in state["brackets"]:
        bracket = SimBracket(orders[data["entry"]])
        bracket.take_profit = orders[data["take_profit"]] if data["take_profit"] else None
        bracket.stop_loss = orders[data["stop_loss"]] if data["stop_loss"] else None
        bracket.exit_filled = Decimal(data["exit_filled"])
        for leg in (bracket.entry, *bracket.exits()):
            leg.bracket = bracket
    exchange.fills = [_load_fill(fill) for fill in state["fills"]]
    ledger.cash = Decimal(state["cash"])
    ledger.positions_by_symbol = {
        symbol: Position(
            symbol, Decimal(p["quantity"]), Decimal(p["cost_basis"]), Decimal(p["realized_pnl"]),
            Decimal(p["commissions"]),
        )
        for symbol, p in state["positions"].items()
    }
    exchange.prices = {symbol: Decimal(price) for symbol, price in state["prices"].items()}
    broker.feed.prices.update(exchange.prices)
    exchange.next_order_id = int(state["next_order_id"])
    exchange.next_exec_id = int(state["next_exec_id"])
    return broker
