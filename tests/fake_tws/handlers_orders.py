"""Handlers for order requests: place, cancel, global cancel, open/completed orders, executions."""

from __future__ import annotations

from tests.fake_tws.connection import Session
from tests.fake_tws.context import Context
from tests.fake_tws.executions import matches
from tests.fake_tws.feeds import send_order_status
from tests.fake_tws.messages import orders as msg
from tests.fake_tws.messages import system
from tests.fake_tws.model import OrderRecord, Status
from tests.fake_tws.requests import parse_executions, parse_place_order, to_int


def _client(session: Session) -> int:
    assert session.client_id is not None, "requests are dispatched only after startApi"
    return session.client_id


def place_order(ctx: Context, session: Session, fields: list[str]) -> None:
    """placeOrder (3): new order, modification, staging or what-if."""
    ctx.engine.place(_client(session), parse_place_order(fields))


def cancel_order(ctx: Context, session: Session, fields: list[str]) -> None:
    """cancelOrder (4): `4, 1, orderId, manualCancelOrderTime`."""
    ctx.engine.cancel(_client(session), to_int(fields[2]))


def global_cancel(ctx: Context, session: Session, fields: list[str]) -> None:
    """reqGlobalCancel (58): cancel every order of every client."""
    ctx.engine.cancel_all()


def _is_open(order: OrderRecord) -> bool:
    # Staged (transmit=0) orders were never reported, so they are not listed either.
    return not order.status.is_done and order.status != Status.PENDING_SUBMIT


def _send_open_orders(ctx: Context, session: Session, client_id: int | None) -> None:
    for order in ctx.engine.book:
        if _is_open(order) and client_id in (None, order.client_id):
            session.send(msg.open_order(order))
            send_order_status(session, order, ctx.faults)
    session.send(msg.open_order_end())


def open_orders(ctx: Context, session: Session, fields: list[str]) -> None:
    """reqOpenOrders (5): this client's open orders (same order ids as before a reconnect)."""
    _send_open_orders(ctx, session, _client(session))


def all_open_orders(ctx: Context, session: Session, fields: list[str]) -> None:
    """reqAllOpenOrders (16): every client's open orders."""
    _send_open_orders(ctx, session, None)


def completed_orders(ctx: Context, session: Session, fields: list[str]) -> None:
    """reqCompletedOrders (99): filled, cancelled and rejected orders of every client."""
    for order in ctx.engine.book:
        if order.status.is_done:
            session.send(msg.completed_order(order))
    session.send(msg.completed_orders_end())


def executions(ctx: Context, session: Session, fields: list[str]) -> None:
    """reqExecutions (7): matching executions with their commission reports, then the END."""
    wanted = parse_executions(fields)
    for execution in ctx.engine.executions:
        if matches(execution, wanted):
            session.send(msg.execution_data(wanted.req_id, execution))
            session.send(msg.commission_report(execution))
    session.send(msg.execution_data_end(wanted.req_id))


def req_ids(ctx: Context, session: Session, fields: list[str]) -> None:
    """reqIds (8): the next valid order id."""
    session.send(system.next_valid_id(ctx.engine.next_order_id()))


def auto_open_orders(ctx: Context, session: Session, fields: list[str]) -> None:
    """reqAutoOpenOrders (15): accepted; the fake has no manual TWS orders to bind."""
