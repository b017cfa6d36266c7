"""Session-level messages: managed accounts, next valid id, errors, current time."""

from __future__ import annotations

from tests.fake_tws.framing import Field
from tests.fake_tws.ids import Out


def managed_accounts(accounts: list[str]) -> list[Field]:
    """MANAGED_ACCTS: strictly 3 fields; the comma list must not be empty (spec §3)."""
    if not accounts:
        raise ValueError("a TWS always manages at least one account")
    return [Out.MANAGED_ACCTS, 1, ",".join(accounts)]


def next_valid_id(order_id: int) -> list[Field]:
    """NEXT_VALID_ID: strictly 3 fields."""
    return [Out.NEXT_VALID_ID, 1, order_id]


def error(req_id: int, code: int, message: str) -> list[Field]:
    """ERR_MSG: 6 fields at 178 (the last one is the advanced order reject JSON)."""
    return [Out.ERR_MSG, 2, req_id, code, message, ""]


def current_time(epoch_seconds: int) -> list[Field]:
    """CURRENT_TIME."""
    return [Out.CURRENT_TIME, 1, epoch_seconds]
