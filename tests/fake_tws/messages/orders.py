"""Order messages: OPEN_ORDER (127 fields), COMPLETED_ORDER (96), ORDER_STATUS (12),
EXECUTION_DATA (32), COMMISSION_REPORT (8) and their END markers (spec §7, §8).

OPEN_ORDER and COMPLETED_ORDER are fixed templates: the fake accepts only orders whose variable
sections (combos, delta-neutral, scale, hedge, algo, conditions) are empty, so the layouts never vary.
Unset prices are sent as empty text, which ib_async maps back to its own "unset" value, so the
order objects ib_async caches keep the prices the client placed (real TWS would send 0.0).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from tests.fake_tws.framing import UNSET_DOUBLE, UNSET_INT, Field
from tests.fake_tws.ids import Out
from tests.fake_tws.model import ExecutionRecord, Instrument, OrderRecord

OPEN_ORDER_FIELDS = 127
COMPLETED_ORDER_FIELDS = 96
ORDER_STATUS_FIELDS = 12
EXECUTION_DATA_FIELDS = 32
COMMISSION_REPORT_FIELDS = 8


@dataclass(frozen=True, slots=True)
class WhatIfEstimate:
    """Margin and commission figures for a what-if reply (numbers, never the sentinel)."""

    init_margin_change: Decimal
    maint_margin_change: Decimal
    equity_with_loan: Decimal
    commission: Decimal


def _price(value: Decimal | None) -> Field:
    return "" if value is None else value


def _contract(instrument: Instrument, exchange: str) -> list[Field]:
    """conId, symbol, secType, lastTradeDate, strike, right, multiplier, exchange, currency,
    localSymbol, tradingClass: the contract part of OPEN_ORDER and COMPLETED_ORDER."""
    return [
        instrument.con_id, instrument.symbol, "STK", "", "0", "", "", exchange,
        instrument.currency, instrument.symbol, instrument.symbol,
    ]  # fmt: skip


def open_order(order: OrderRecord, what_if: WhatIfEstimate | None = None) -> list[Field]:
    """OPEN_ORDER at 178 with every variable section empty: exactly 127 fields (spec §8.2)."""
    margins: list[Field] = [UNSET_DOUBLE] * 9
    commission: list[Field] = [UNSET_DOUBLE] * 3
    currency = ""
    if what_if is not None:
        margins = [
            Decimal(0), Decimal(0), what_if.equity_with_loan,
            what_if.init_margin_change, what_if.maint_margin_change, Decimal(0),
            what_if.init_margin_change, what_if.maint_margin_change, what_if.equity_with_loan,
        ]  # fmt: skip
        commission = [what_if.commission, what_if.commission, what_if.commission]
        currency = order.instrument.currency
    fields: list[Field] = [
        Out.OPEN_ORDER, order.order_id,
        *_contract(order.instrument, order.exchange),                          # 2-12
        order.action, order.quantity, order.order_type,                        # 13-15
        _price(order.limit_price), _price(order.aux_price),                    # 16-17
        order.tif, order.oca_group, order.account, "", 0, order.order_ref,     # 18-23
        order.client_id, order.perm_id, order.outside_rth, 0, 0,               # 24-28
        order.good_after_time, "", "", "", "", "",                             # 29-34
        order.good_till_date, "", "", "", 0, "", -1, 0,                        # 35-42
        "", "", "", "", "",                                                    # 43-47
        UNSET_INT, 0, 0, 0, "", order.oca_type, 0, 0, "",                      # 48-56
        order.parent_id, 0, "", UNSET_INT, "", "",                             # 57-62
        0, UNSET_INT, "", "", "", UNSET_INT, "", 0, 0, 0,                      # 63-72
        UNSET_INT, UNSET_INT, "", "", 0, "", "", 0, 0, "",                     # 73-82
        0, what_if is not None, order.status,                                  # 83-85
        *margins,                                                              # 86-94
        *commission, currency, "",                                             # 95-99
        0, 0, 0, "",                                                           # 100-103
        UNSET_DOUBLE, UNSET_DOUBLE, UNSET_DOUBLE,                              # 104-106
        UNSET_DOUBLE, UNSET_DOUBLE, UNSET_DOUBLE, 0,                           # 107-110
        "", "", "", UNSET_DOUBLE,                                              # 111-114
        0, 0, 0, 0, UNSET_INT, UNSET_INT, 0,                                   # 115-121
        UNSET_INT, UNSET_INT, UNSET_DOUBLE, UNSET_DOUBLE, UNSET_DOUBLE,        # 122-126
    ]  # fmt: skip
    assert len(fields) == OPEN_ORDER_FIELDS, len(fields)
    return fields


def open_order_end() -> list[Field]:
    """OPEN_ORDER_END: ends reqOpenOrders / reqAllOpenOrders."""
    return [Out.OPEN_ORDER_END, 1]


def order_status(order: OrderRecord) -> list[Field]:
    """ORDER_STATUS: 12 fields, no version; ib_async finds the trade by (clientId, orderId)."""
    return [
        Out.ORDER_STATUS, order.order_id, order.status, order.filled, order.remaining,
        order.avg_fill_price, order.perm_id, order.parent_id, order.last_fill_price,
        order.client_id, "", 0,
    ]  # fmt: skip


def completed_order(order: OrderRecord) -> list[Field]:
    """COMPLETED_ORDER at 178 with every variable section empty: exactly 96 fields (spec §8.3)."""
    fields: list[Field] = [
        Out.COMPLETED_ORDER,
        *_contract(order.instrument, order.exchange),                          # 1-11
        order.action, order.quantity, order.order_type,                        # 12-14
        _price(order.limit_price), _price(order.aux_price),                    # 15-16
        order.tif, order.oca_group, order.account, "", 0, order.order_ref,     # 17-22
        order.perm_id, order.outside_rth, 0, 0, order.good_after_time,         # 23-27
        "", "", "", "", order.good_till_date, "", "", "", 0, "", -1,           # 28-38
        "", "", "", "", "", UNSET_INT, 0, 0, "", order.oca_type, 0,            # 39-49
        "", UNSET_INT, "", "", 0, UNSET_INT, "", "", "", 0, 0, 0,              # 50-61
        UNSET_INT, UNSET_INT, "", "", "", "", 0, 0, "", 0,                     # 62-71
        order.status, 0, 0, 0, UNSET_DOUBLE, UNSET_DOUBLE, UNSET_DOUBLE,       # 72-78
        0, 0, "", order.filled, UNSET_INT, 0, "", 0, 0, UNSET_INT,             # 79-88
        order.completed_time, f"{order.status} (filled {order.filled})",      # 89-90
        UNSET_INT, UNSET_INT, UNSET_DOUBLE, UNSET_DOUBLE, UNSET_DOUBLE,        # 91-95
    ]  # fmt: skip
    assert len(fields) == COMPLETED_ORDER_FIELDS, len(fields)
    return fields


def completed_orders_end() -> list[Field]:
    """COMPLETED_ORDERS_END: the message id alone."""
    return [Out.COMPLETED_ORDERS_END]


def execution_data(req_id: int, execution: ExecutionRecord) -> list[Field]:
    """EXECUTION_DATA: 32 fields, no version; live fills use reqId -1."""
    instrument = execution.instrument
    return [
        Out.EXECUTION_DATA, req_id, execution.order_id,
        instrument.con_id, instrument.symbol, "STK", "", "0", "", "", execution.exchange,
        instrument.currency, instrument.symbol, instrument.symbol,
        execution.exec_id, execution.time.strftime("%Y%m%d %H:%M:%S UTC"), execution.account,
        execution.exchange, execution.side, execution.shares, execution.price, execution.perm_id,
        execution.client_id, 0, execution.cum_qty, execution.avg_price, execution.order_ref,
        "", "", "", 1, False,
    ]  # fmt: skip


def commission_report(execution: ExecutionRecord) -> list[Field]:
    """COMMISSION_REPORT: strictly 8 fields; an opening fill has no realized P&L (sentinel)."""
    realized: Field = UNSET_DOUBLE if execution.realized_pnl is None else execution.realized_pnl
    return [
        Out.COMMISSION_REPORT, 1, execution.exec_id, execution.commission,
        execution.instrument.currency, realized, UNSET_DOUBLE, "",
    ]  # fmt: skip


def execution_data_end(req_id: int) -> list[Field]:
    """EXECUTION_DATA_END for reqExecutions."""
    return [Out.EXECUTION_DATA_END, 1, req_id]
