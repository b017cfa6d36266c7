"""Account messages: positions, portfolio, account values, account summary (spec §7).

POSITION_DATA (16 fields) and PORTFOLIO_VALUE (20 fields) are unpacked by ib_async with a strict
arity; a wrong count is dropped silently, so both are built from one fixed list each.
"""

from __future__ import annotations

from decimal import Decimal

from tests.fake_tws.framing import Field
from tests.fake_tws.ids import Out
from tests.fake_tws.model import Instrument

POSITION_DATA_FIELDS = 16
PORTFOLIO_VALUE_FIELDS = 20


def position_data(account: str, instrument: Instrument, quantity: Decimal, avg_cost: Decimal) -> list[Field]:
    """POSITION_DATA: strictly 16 fields; quantity 0 removes the position in ib_async."""
    return [
        Out.POSITION_DATA, 3, account, instrument.con_id, instrument.symbol, "STK", "", "0.0", "", "",
        instrument.primary_exchange, instrument.currency, instrument.symbol, instrument.symbol,
        quantity, avg_cost,
    ]  # fmt: skip


def position_end() -> list[Field]:
    """POSITION_END: ends the initial reqPositions download (the subscription stays active)."""
    return [Out.POSITION_END, 1]


def portfolio_value(
    account: str,
    instrument: Instrument,
    quantity: Decimal,
    market_price: Decimal,
    avg_cost: Decimal,
    realized_pnl: Decimal,
) -> list[Field]:
    """PORTFOLIO_VALUE: strictly 20 fields; market value and unrealized P&L follow from the rest."""
    market_value = quantity * market_price
    unrealized = market_value - quantity * avg_cost
    return [
        Out.PORTFOLIO_VALUE, 8, instrument.con_id, instrument.symbol, "STK", "", "0.0", "", "",
        instrument.primary_exchange, instrument.currency, instrument.symbol, instrument.symbol,
        quantity, market_price, market_value, avg_cost, unrealized, realized_pnl, account,
    ]  # fmt: skip


def account_value(key: str, value: str, currency: str, account: str) -> list[Field]:
    """ACCT_VALUE: one key of reqAccountUpdates."""
    return [Out.ACCT_VALUE, 2, key, value, currency, account]


def account_update_time(hh_mm: str) -> list[Field]:
    """ACCT_UPDATE_TIME."""
    return [Out.ACCT_UPDATE_TIME, 1, hh_mm]


def account_download_end(account: str) -> list[Field]:
    """ACCT_DOWNLOAD_END: ends the initial reqAccountUpdates download."""
    return [Out.ACCT_DOWNLOAD_END, 1, account]


def account_update_multi(
    req_id: int, account: str, key: str, value: str, currency: str, model_code: str = ""
) -> list[Field]:
    """ACCOUNT_UPDATE_MULTI: one key of reqAccountUpdatesMulti."""
    return [Out.ACCOUNT_UPDATE_MULTI, 1, req_id, account, model_code, key, value, currency]


def account_update_multi_end(req_id: int) -> list[Field]:
    """ACCOUNT_UPDATE_MULTI_END with the request's reqId."""
    return [Out.ACCOUNT_UPDATE_MULTI_END, 1, req_id]


def account_summary(req_id: int, account: str, tag: str, value: str, currency: str) -> list[Field]:
    """ACCOUNT_SUMMARY: one tag of reqAccountSummary."""
    return [Out.ACCOUNT_SUMMARY, 1, req_id, account, tag, value, currency]


def account_summary_end(req_id: int) -> list[Field]:
    """ACCOUNT_SUMMARY_END."""
    return [Out.ACCOUNT_SUMMARY_END, 1, req_id]
