"""Checks a new or modified order must pass; each failure says what was wrong and what to do."""

from __future__ import annotations

from decimal import Decimal

from tests.fake_tws.faults import Rejection
from tests.fake_tws.matching import STOP_TYPES, SUPPORTED_ORDER_TYPES
from tests.fake_tws.model import Instrument, OrderRequest

REJECTED = 201
PRICE_INCREMENT = 110

DEFAULT_MESSAGES = {
    103: "Duplicate order id",
    110: "The price does not conform to the minimum price variation for this contract.",
    200: "No security definition has been found for the request",
    201: "Order rejected - reason:",
    202: "Order Canceled - reason:",
}


def error_text(code: int, reason: str) -> str:
    """TWS-style text for an order error: 201/202 carry the reason after their fixed prefix."""
    base = DEFAULT_MESSAGES.get(code, "")
    if code in (201, 202):
        return f"{base}{reason}"
    return reason or base


def check_order(request: OrderRequest, instrument: Instrument, accounts: list[str]) -> Rejection | None:
    """The first reason the fake TWS refuses this order, or None when it accepts it."""
    if request.unsupported:
        return _reject(f"the fake TWS does not model {request.unsupported}; use plain stock orders")
    if request.order_type not in SUPPORTED_ORDER_TYPES:
        supported = ", ".join(sorted(SUPPORTED_ORDER_TYPES))
        return _reject(f"order type {request.order_type!r} is not supported; use one of {supported}")
    if request.action not in ("BUY", "SELL", "SSHORT"):
        return _reject(f"action {request.action!r} is not BUY, SELL or SSHORT")
    if request.quantity <= 0:
        return _reject(f"quantity must be positive, got {request.quantity}")
    if request.account and request.account not in accounts:
        return _reject(f"account {request.account!r} is not managed here; use one of {accounts}")
    needs_limit = request.order_type in ("LMT", "STP LMT")
    if needs_limit and request.limit_price is None:
        return _reject(f"{request.order_type} order needs a limit price")
    if request.order_type in STOP_TYPES and request.aux_price is None:
        return _reject(f"{request.order_type} order needs a stop price (auxPrice)")
    for price in (request.limit_price, request.aux_price):
        if price is not None and not _on_tick(price, instrument.min_tick):
            return Rejection(PRICE_INCREMENT, DEFAULT_MESSAGES[PRICE_INCREMENT])
    return None


def _on_tick(price: Decimal, tick: Decimal) -> bool:
    return price % tick == 0


def _reject(reason: str) -> Rejection:
    return Rejection(REJECTED, reason)
