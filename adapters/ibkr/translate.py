"""All translation between ib_async and the domain, in one place. No ib_async type leaves here
except toward the adapter's own modules.

Statuses (`IB_STATUS`): IB spells order states its own way. Two of them need context:
* `PreSubmitted` means "accepted, held at IB". For a bracket exit whose parent (entry) is still
  open it is HELD: the exit cannot work before the entry fills. For anything else (an untriggered
  stop, an exit whose entry has filled, a stop entry) it is WORKING: the order is live at IB and
  will act on its own when the price arrives (IB simulates stops, so they sit PreSubmitted until
  triggered). The core accepts fills from HELD too, so a fill overtaking the status is fine.
* `Cancelled` after an order error (201 margin, 110 tick, 103 duplicate, 200 unknown symbol) is a
  REJECTED with that code; `Inactive` is REJECTED.
`PendingCancel`, `ValidationError` (a warning on a live order) and `ApiUpdate` change nothing: the
order keeps its last domain state (`None` in the table).

Orders: `to_ib_orders(bracket)` gives parent + take profit + stop, linked by `parentId`, with
`transmit` False on all but the last leg, the exits in one OCA group (ocaType 3: reduce the other
on a fill, with block), `orderRef` = the leg's order_ref, prices rounded to the tick.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal

from ib_async import AccountValue, Contract, Order, Stock, Trade
from ib_async import Fill as IbFill
from ib_async import Position as IbPosition

from adapters.ibkr.errors import order_status_for
from core.broker_events import AccountSnapshot, BrokerOrder, BrokerPosition, Fill, OrderStatusUpdate
from core.order_status import OrderStatus
from core.orders import BracketRequest, OrderRequest
from core.position import fold_fills
from core.values import CENT, ZERO, ExecId, OrderRef, OrderType, Side, TimeInForce, quantize_price, to_decimal

TICK = CENT
OCA_REDUCE_WITH_BLOCK = 3
UNSET_DOUBLE = 1.7976931348623157e308
UNSET_INTEGER = 2**31 - 1
HELD_OR_WORKING = "PreSubmitted"

IB_STATUS: dict[str, OrderStatus | None] = {
    "PendingSubmit": OrderStatus.SUBMITTED,
    "ApiPending": OrderStatus.SUBMITTED,
    "PreSubmitted": OrderStatus.HELD,  # or WORKING: see `domain_status`
    "Submitted": OrderStatus.WORKING,
    "PendingCancel": None,
    "ApiCancelled": OrderStatus.CANCELLED,
    "Cancelled": OrderStatus.CANCELLED,
    "Filled": OrderStatus.FILLED,
    "Inactive": OrderStatus.REJECTED,
    "ValidationError": None,
    "ApiUpdate": None,
}
"""IB status string -> domain status; None: no change (the order keeps its last state)."""

IB_TIF: dict[TimeInForce, str] = {TimeInForce.DAY: "DAY", TimeInForce.GTC: "GTC", TimeInForce.IOC: "IOC"}
DOMAIN_TIF: dict[str, TimeInForce] = {ib: domain for domain, ib in IB_TIF.items()}
IB_ACTION: dict[Side, str] = {Side.BUY: "BUY", Side.SELL: "SELL"}
IB_EXEC_SIDE: dict[str, Side] = {"BOT": Side.BUY, "SLD": Side.SELL}

ParentIsOpen = Callable[[Trade], bool]
"""Whether the trade's parent order is still open (not yet filled): decides HELD vs WORKING."""


# -- numbers ---------------------------------------------------------------------------------------


def round_to_tick(price: Decimal, tick: Decimal = TICK) -> Decimal:
    """The price on the tick grid (IB answers error 110 to anything else)."""
    return quantize_price(price, tick)


def price_or_none(value: float | Decimal | None) -> Decimal | None:
    """An IB price field, None when unset (IB's sentinel, empty, NaN or 0)."""
    if value is None or value == 0 or value >= UNSET_DOUBLE or math.isnan(value):
        return None
    return to_decimal(value, "IB price")


def decimal_of(value: float | Decimal | str, what: str) -> Decimal:
    """An IB quantity or amount as a Decimal (floats go through repr: 95.1 -> Decimal('95.1'))."""
    return to_decimal(value, what)


# -- orders out --------------------------------------------------------------------------------------


def to_ib_contract(symbol: str) -> Contract:
    """A US stock routed SMART in USD."""
    return Stock(symbol, "SMART", "USD")


def to_ib_order(
    order: OrderRequest, order_id: int, *, parent_id: int = 0, transmit: bool = True, account: str = ""
) -> Order:
    """One leg as an ib_async Order."""
    ib_order = Order(
        orderId=order_id,
        action=IB_ACTION[order.side],
        totalQuantity=float(order.quantity),
        orderType=order.order_type.value,
        tif=IB_TIF[order.tif],
        orderRef=order.order_ref,
        transmit=transmit,
        parentId=parent_id,
        account=account,
    )
    if order.limit_price is not None and order.order_type.needs_limit_price:
        ib_order.lmtPrice = float(round_to_tick(order.limit_price))
    if order.stop_price is not None and order.order_type.needs_stop_price:
        ib_order.auxPrice = float(round_to_tick(order.stop_price))
    if order.oca_group:
        ib_order.ocaGroup = order.oca_group
        ib_order.ocaType = OCA_REDUCE_WITH_BLOCK
    return ib_order


def to_ib_orders(bracket: BracketRequest, order_ids: Sequence[int], account: str = "") -> list[Order]:
    """Entry, take profit, stop loss: children name the entry as parent; only the stop (the last
    leg) transmits, so TWS activates the three together and never holds a naked entry."""
    if len(order_ids) != 3 or len(set(order_ids)) != 3:
        raise ValueError(f"a bracket needs three distinct order ids, got {list(order_ids)}")
    entry_id, tp_id, sl_id = order_ids
    return [
        to_ib_order(bracket.entry, entry_id, transmit=False, account=account),
        to_ib_order(bracket.take_profit, tp_id, parent_id=entry_id, transmit=False, account=account),
        to_ib_order(bracket.stop_loss, sl_id, parent_id=entry_id, transmit=True, account=account),
    ]


# -- orders in ---------------------------------------------------------------------------------------


def last_error_code(trade: Trade) -> int | None:
    """The code of the most recent error ib_async logged on the trade, if the last entry is one."""
    if trade.log and trade.log[-1].errorCode:
        return int(trade.log[-1].errorCode)
    return None


def effective_ib_status(trade: Trade) -> str:
    """The trade's IB status, looking back past the statuses that change nothing (ValidationError,
    PendingCancel) to the last one that means something."""
    status = trade.orderStatus.status
    if IB_STATUS.get(status) is not None:
        return status
    for entry in reversed(trade.log):
        if IB_STATUS.get(entry.status) is not None:
            return entry.status
    return status


def domain_status(ib_status: str, filled: Decimal, *, parent_open: bool, error_code: int | None = None
                  ) -> OrderStatus | None:
    """The domain status of an IB status string in context (see the module docstring)."""
    if ib_status == "Cancelled" and error_code is not None:
        return order_status_for(error_code) or OrderStatus.CANCELLED
    status = IB_STATUS.get(ib_status)
    if status is None:
        return None
    if ib_status == HELD_OR_WORKING:
        status = OrderStatus.HELD if parent_open else OrderStatus.WORKING
    if status in (OrderStatus.WORKING, OrderStatus.HELD) and filled > ZERO:
        return OrderStatus.PARTIALLY_FILLED
    return status


def status_update(trade: Trade, parent_open: bool) -> OrderStatusUpdate | None:
    """An ib_async trade's latest state as a status report (None: nothing to report)."""
    ref = trade.order.orderRef
    if not ref:
        return None
    code = last_error_code(trade)
    ib_status = trade.orderStatus.status
    filled = decimal_of(trade.orderStatus.filled, "filled")
    status = domain_status(ib_status, filled, parent_open=parent_open, error_code=code)
    if status is None:
        return None
    message = trade.log[-1].message if trade.log and code else ""
    reported_code = code if status in (OrderStatus.REJECTED, OrderStatus.CANCELLED) else None
    avg = price_or_none(trade.orderStatus.avgFillPrice) or ZERO
    remaining = decimal_of(max(trade.orderStatus.remaining, 0.0), "remaining")
    return OrderStatusUpdate(OrderRef(ref), status, filled, remaining, avg, message, reported_code)


def request_from_ib(order: Order, contract: Contract, parent_ref: str | None) -> OrderRequest:
    """The OrderRequest an IB order stands for. ValueError for what the domain cannot express."""
    order_type = OrderType(order.orderType)
    return OrderRequest(
        order_ref=OrderRef(order.orderRef),
        symbol=contract.symbol,
        side=Side.parse(order.action),
        quantity=decimal_of(order.totalQuantity, "totalQuantity"),
        order_type=order_type,
        limit_price=price_or_none(order.lmtPrice) if order_type.needs_limit_price else None,
        stop_price=price_or_none(order.auxPrice) if order_type.needs_stop_price else None,
        tif=DOMAIN_TIF.get(order.tif, TimeInForce.DAY),
        parent_ref=OrderRef(parent_ref) if parent_ref else None,
        oca_group=order.ocaGroup or None,
    )


def from_ib_trade(
    trade: Trade, *, parent_open: bool, parent_ref: str | None = None, fills: Sequence[Fill] = ()
) -> BrokerOrder:
    """A BrokerOrder from an ib_async trade. `fills` (the executions of this order_ref) give the
    filled quantity and average price when IB's own status lacks them (completed orders carry no
    average price; a dropped orderStatus leaves the trade behind the executions)."""
    request = request_from_ib(trade.order, trade.contract, parent_ref)
    ib_status = effective_ib_status(trade)
    filled = decimal_of(trade.orderStatus.filled, "filled")
    if not filled and trade.order.filledQuantity < UNSET_DOUBLE:
        filled = decimal_of(trade.order.filledQuantity, "filledQuantity")
    avg = price_or_none(trade.orderStatus.avgFillPrice) or ZERO
    if fills:
        filled = sum((f.quantity for f in fills), ZERO)
        avg = sum((f.quantity * f.price for f in fills), ZERO) / filled
    if filled >= request.quantity and ib_status not in ("Cancelled", "ApiCancelled", "Inactive"):
        ib_status = "Filled"  # the executions are stronger evidence than a dropped status
    status = domain_status(ib_status, filled, parent_open=parent_open, error_code=last_error_code(trade))
    if status is None:
        status = OrderStatus.WORKING
    return BrokerOrder(request, status, filled, avg, str(trade.order.orderId or trade.order.permId))


# -- executions, positions, account ----------------------------------------------------------------


def fill_from_ib(fill: IbFill, commission: float | None = None) -> Fill:
    """One execution; the commission comes from its commission report (0 until it arrives)."""
    execution = fill.execution
    paid = fill.commissionReport.commission if commission is None else commission
    when = execution.time if isinstance(execution.time, datetime) else fill.time
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return Fill(
        exec_id=ExecId(execution.execId),
        order_ref=OrderRef(execution.orderRef),
        symbol=fill.contract.symbol,
        side=IB_EXEC_SIDE.get(execution.side) or Side.parse(execution.side),
        quantity=decimal_of(execution.shares, "shares"),
        price=decimal_of(execution.price, "price"),
        time=when.astimezone(UTC),
        commission=decimal_of(paid if paid < UNSET_DOUBLE else 0.0, "commission"),
    )


def positions_from_ib(
    ib_positions: Iterable[IbPosition], fills: Sequence[Fill], account: str = ""
) -> list[BrokerPosition]:
    """Non-zero positions. IB folds commissions into avgCost; the domain's average cost does not
    (core.position), so when today's executions explain the whole position, their fold gives the
    average; otherwise (a position older than today's executions) IB's avgCost is used as is."""
    result = []
    for item in ib_positions:
        if account and item.account != account:
            continue
        quantity = decimal_of(item.position, "position")
        if quantity == ZERO:
            continue
        symbol = item.contract.symbol
        folded = fold_fills(symbol, [f for f in fills if f.symbol == symbol])
        avg = folded.avg_price if folded.quantity == quantity else decimal_of(item.avgCost, "avgCost")
        result.append(BrokerPosition(symbol, quantity, avg))
    return result


def account_snapshot(
    account: str,
    values: Iterable[AccountValue],
    positions: Sequence[BrokerPosition],
    marks: Mapping[str, Decimal],
    ib_unrealized_by_symbol: Mapping[str, Decimal],
) -> AccountSnapshot:
    """Net liquidation, cash and P&L, split the domain's way: unrealized P&L before commissions,
    realized P&L net of every commission paid (IB keeps the opening commission of an open
    position inside its unrealized P&L). The sum, and net liquidation, are IB's own."""
    tags: dict[str, Decimal] = {}
    for value in values:
        if account and value.account != account:
            continue
        if value.currency not in ("USD", "BASE", ""):
            continue
        try:
            tags.setdefault(value.tag, to_decimal(value.value, value.tag))
        except ValueError:
            continue
    ib_unrealized = tags.get("UnrealizedPnL", ZERO)
    unrealized = ib_unrealized
    for position in positions:
        mark = marks.get(position.symbol)
        if mark is None or position.symbol not in ib_unrealized_by_symbol:
            continue
        ours = position.quantity * (mark - position.avg_cost)
        unrealized += ours - ib_unrealized_by_symbol[position.symbol]
    realized = tags.get("RealizedPnL", ZERO) + ib_unrealized - unrealized
    return AccountSnapshot(
        account=account,
        net_liquidation=tags.get("NetLiquidation", ZERO),
        cash=tags.get("TotalCashValue", tags.get("CashBalance", ZERO)),
        realized_pnl=realized,
        unrealized_pnl=unrealized,
    )
