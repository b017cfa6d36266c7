"""What the broker holds now, by order_ref: open and completed orders, executions, positions and
account values. These feed the executor's reconciliation, so each answers from a fresh request to
TWS where one exists (reqAllOpenOrders, reqCompletedOrders, reqExecutions); positions and account
values come from the subscriptions ib_async keeps current (reqPositions / reqAccountUpdates).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal

from ib_async import Trade

from adapters.ibkr.connection import TWSConnection
from adapters.ibkr.pacing import Priority
from adapters.ibkr.translate import (
    account_snapshot,
    decimal_of,
    effective_ib_status,
    fill_from_ib,
    from_ib_trade,
    positions_from_ib,
    price_or_none,
)
from core.broker_events import AccountSnapshot, BrokerOrder, BrokerPosition, Fill
from core.order_status import OrderStatus

log = logging.getLogger(__name__)
_DONE_IB = frozenset({"Filled", "Cancelled", "ApiCancelled", "Inactive"})


def known_fills(connection: TWSConnection) -> list[Fill]:
    """Every execution ib_async holds (startup download plus live), with commissions."""
    return [fill_from_ib(f) for f in connection.ib.fills() if f.execution.orderRef is not None]


def fills_by_ref(fills: Iterable[Fill]) -> dict[str, list[Fill]]:
    grouped: dict[str, list[Fill]] = defaultdict(list)
    for fill in fills:
        grouped[fill.order_ref].append(fill)
    return grouped


def parent_is_open(trade: Trade, trades: Iterable[Trade]) -> bool:
    """Whether the trade's parent order is known and still open (not filled, not ended): then a
    PreSubmitted child is HELD. An unknown parent has ended, and a live child of an ended parent
    means the parent filled (cancelling a parent cancels its children)."""
    parent_id = trade.order.parentId
    if not parent_id:
        return False
    for candidate in trades:
        if candidate.order.orderId == parent_id and candidate.order.clientId == trade.order.clientId:
            return effective_ib_status(candidate) not in _DONE_IB
    return False


def parent_ref_of(trade: Trade, trades: Sequence[Trade]) -> str | None:
    """The order_ref of the trade's parent, by (client id, order id) or by perm id."""
    order = trade.order
    for candidate in trades:
        other = candidate.order
        same_id = order.parentId and other.orderId == order.parentId and other.clientId == order.clientId
        same_perm = order.parentPermId and other.permId == order.parentPermId
        if (same_id or same_perm) and other.orderRef:
            return str(other.orderRef)
    return None


def to_broker_orders(
    trades: Sequence[Trade], context: Sequence[Trade], fills: Mapping[str, list[Fill]],
    last_reported: Mapping[str, OrderStatus],
) -> list[BrokerOrder]:
    """BrokerOrders for the trades that carry an order_ref; orders the domain cannot express
    (other order types) are logged and left out."""
    result = []
    for trade in trades:
        ref = trade.order.orderRef
        if not ref:
            continue
        try:
            order = from_ib_trade(
                trade, parent_open=parent_is_open(trade, context), parent_ref=parent_ref_of(trade, context),
                fills=fills.get(ref, ()),
            )
        except ValueError as error:
            log.warning("order %s at TWS cannot be expressed in the domain (%s); left out", ref, error)
            continue
        reported = last_reported.get(ref)
        if reported is not None and reported.is_terminal and order.status.is_terminal:
            # Our own session saw why it ended (e.g. REJECTED with a code); IB's completed record
            # only says Cancelled.
            order = BrokerOrder(
                order.request, reported, order.filled, order.avg_fill_price, order.broker_order_id
            )
        result.append(order)
    return result


async def open_orders(connection: TWSConnection) -> list[BrokerOrder]:
    """Every unfinished order of every API client of the account (reqAllOpenOrders)."""
    connection.require_connection("list open orders")
    await connection.budget.acquire(1, Priority.QUERY)
    trades = await connection.ib.reqAllOpenOrdersAsync()
    context = [*connection.ib.trades(), *trades]
    fills = fills_by_ref(known_fills(connection))
    orders = to_broker_orders(trades, context, fills, {})
    return [o for o in orders if not o.status.is_terminal]


async def completed_orders(
    connection: TWSConnection, last_reported: Mapping[str, OrderStatus]
) -> list[BrokerOrder]:
    """Filled, cancelled and rejected orders TWS still lists (reqCompletedOrders)."""
    connection.require_connection("list completed orders")
    await connection.budget.acquire(1, Priority.QUERY)
    trades = await connection.ib.reqCompletedOrdersAsync(False)
    context = [*connection.ib.trades(), *trades]
    fills = fills_by_ref(known_fills(connection))
    seen: set[str] = set()
    result = []
    for order in to_broker_orders(trades, context, fills, last_reported):
        if order.status.is_terminal and order.request.order_ref not in seen:
            seen.add(order.request.order_ref)
            result.append(order)
    return result


async def executions(connection: TWSConnection) -> list[Fill]:
    """Every execution TWS reports (reqExecutions: since midnight), with commissions."""
    connection.require_connection("list executions")
    await connection.budget.acquire(1, Priority.QUERY)
    answered = await connection.ib.reqExecutionsAsync()
    stored = {f.execution.execId: f for f in connection.ib.fills()}
    result, seen = [], set()
    for fill in answered:
        exec_id = fill.execution.execId
        if exec_id in seen:
            continue
        seen.add(exec_id)
        result.append(fill_from_ib(stored.get(exec_id, fill)))
    return result


def positions(connection: TWSConnection) -> list[BrokerPosition]:
    """Non-zero positions of the account (see translate.positions_from_ib on average cost)."""
    connection.require_connection("list positions")
    return positions_from_ib(connection.ib.positions(), known_fills(connection), connection.account)


def account_summary(connection: TWSConnection) -> AccountSnapshot:
    """Net liquidation, cash and P&L of the account."""
    connection.require_connection("read the account summary")
    account = connection.account
    marks: dict[str, Decimal] = {}
    ib_unrealized: dict[str, Decimal] = {}
    for item in connection.ib.portfolio(account):
        mark = price_or_none(item.marketPrice)
        if mark is not None:
            marks[item.contract.symbol] = mark
            ib_unrealized[item.contract.symbol] = decimal_of(item.unrealizedPNL, "unrealizedPNL")
    return account_snapshot(
        account, connection.ib.accountValues(account), positions(connection), marks, ib_unrealized
    )

