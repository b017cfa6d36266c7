"""Routes each request to its handler by message id; unknown requests get error 321."""

from __future__ import annotations

import logging

from tests.fake_tws import handlers_account as account
from tests.fake_tws import handlers_market as market
from tests.fake_tws import handlers_orders as orders
from tests.fake_tws.connection import Session
from tests.fake_tws.context import Context, Handler
from tests.fake_tws.ids import In
from tests.fake_tws.messages import system
from tests.fake_tws.requests import RequestError

log = logging.getLogger("tests.fake_tws")
VALIDATION_ERROR = 321

HANDLERS: dict[int, Handler] = {
    In.PLACE_ORDER: orders.place_order,
    In.CANCEL_ORDER: orders.cancel_order,
    In.REQ_GLOBAL_CANCEL: orders.global_cancel,
    In.REQ_OPEN_ORDERS: orders.open_orders,
    In.REQ_ALL_OPEN_ORDERS: orders.all_open_orders,
    In.REQ_AUTO_OPEN_ORDERS: orders.auto_open_orders,
    In.REQ_COMPLETED_ORDERS: orders.completed_orders,
    In.REQ_EXECUTIONS: orders.executions,
    In.REQ_IDS: orders.req_ids,
    In.REQ_POSITIONS: account.positions,
    In.CANCEL_POSITIONS: account.cancel_positions,
    In.REQ_ACCOUNT_UPDATES: account.account_updates,
    In.REQ_ACCOUNT_UPDATES_MULTI: account.account_updates_multi,
    In.CANCEL_ACCOUNT_UPDATES_MULTI: account.cancel_account_updates_multi,
    In.REQ_ACCOUNT_SUMMARY: account.account_summary,
    In.CANCEL_ACCOUNT_SUMMARY: account.cancel_account_summary,
    In.REQ_MANAGED_ACCTS: account.managed_accounts,
    In.REQ_CURRENT_TIME: account.current_time,
    In.REQ_CONTRACT_DETAILS: market.contract_details,
    In.REQ_MKT_DATA: market.market_data,
    In.CANCEL_MKT_DATA: market.cancel_market_data,
    In.REQ_MARKET_DATA_TYPE: market.market_data_type,
    In.REQ_HISTORICAL_DATA: market.historical_data,
    In.CANCEL_HISTORICAL_DATA: market.cancel_historical_data,
    In.REQ_HEAD_TIMESTAMP: market.head_timestamp,
}


def dispatch(ctx: Context, session: Session, fields: list[str]) -> None:
    """Handle one request; a request the fake cannot parse or does not know gets error 321."""
    try:
        msg_id = int(fields[0])
    except (IndexError, ValueError):
        _refuse(session, f"message without a numeric id: {fields[:3]}")
        return
    handler = HANDLERS.get(msg_id)
    if handler is None:
        _refuse(session, f"the fake TWS does not implement request id {msg_id}; see tws_protocol.md §6")
        return
    try:
        handler(ctx, session, fields)
    except (RequestError, IndexError) as exc:
        _refuse(session, f"cannot read request id {msg_id} ({exc}): {fields[:6]}")
    except Exception:
        # A bug in the fake, not in the client: logged as an error so the test fixture fails.
        log.exception("fake TWS failed on request %s: %s", msg_id, fields[:6])
        session.send(system.error(-1, VALIDATION_ERROR, f"fake TWS internal error on request {msg_id}"))


def _refuse(session: Session, text: str) -> None:
    log.warning("client %s: %s", session.client_id, text)
    session.send(system.error(-1, VALIDATION_ERROR, text))
