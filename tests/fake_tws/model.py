"""Values the fake TWS keeps and reports: instruments, orders, executions, positions.

All are frozen: the engine replaces a record instead of mutating it, so a snapshot handed to a test
(or carried by an engine event) never changes behind its back. Prices and quantities are Decimal.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from enum import StrEnum


class Status(StrEnum):
    """Order states, spelled as TWS spells them on the wire."""

    PENDING_SUBMIT = "PendingSubmit"  # staged with transmit=0: TWS holds it and reports nothing
    PRE_SUBMITTED = "PreSubmitted"  # held at IB: an untriggered stop, or a child of an unfilled parent
    SUBMITTED = "Submitted"
    FILLED = "Filled"
    CANCELLED = "Cancelled"
    INACTIVE = "Inactive"  # rejected

    @property
    def is_done(self) -> bool:
        """Whether the order can no longer change."""
        return self in _DONE


_DONE = frozenset({Status.FILLED, Status.CANCELLED, Status.INACTIVE})


@dataclass(frozen=True, slots=True)
class Instrument:
    """A stock the fake knows: its symbol, contract id and listing."""

    symbol: str
    con_id: int
    primary_exchange: str = "NASDAQ"
    currency: str = "USD"
    long_name: str = ""
    min_tick: Decimal = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class ContractRef:
    """The 12 contract fields every request carries (spec §5), as sent."""

    con_id: int
    symbol: str
    sec_type: str
    last_trade_date: str
    strike: str
    right: str
    multiplier: str
    exchange: str
    primary_exchange: str
    currency: str
    local_symbol: str
    trading_class: str


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """A parsed placeOrder (spec §6.1); `unsupported` names the first feature the fake cannot do."""

    order_id: int
    contract: ContractRef
    action: str
    quantity: Decimal
    order_type: str
    limit_price: Decimal | None
    aux_price: Decimal | None
    tif: str
    oca_group: str
    account: str
    order_ref: str
    transmit: bool
    parent_id: int
    outside_rth: bool
    good_after_time: str
    good_till_date: str
    oca_type: int
    what_if: bool
    unsupported: str = ""


@dataclass(frozen=True, slots=True)
class OrderRecord:
    """One order as the broker holds it, keyed by (client_id, order_id) and by perm_id."""

    client_id: int
    order_id: int
    perm_id: int
    instrument: Instrument
    exchange: str
    account: str
    action: str
    quantity: Decimal
    order_type: str
    limit_price: Decimal | None
    aux_price: Decimal | None
    tif: str
    oca_group: str
    oca_type: int
    order_ref: str
    transmit: bool
    parent_id: int
    outside_rth: bool
    good_after_time: str
    good_till_date: str
    status: Status
    filled: Decimal = Decimal(0)
    avg_fill_price: Decimal = Decimal(0)
    last_fill_price: Decimal = Decimal(0)
    triggered: bool = False
    completed_time: str = ""
    reject_code: int | None = None

    @property
    def remaining(self) -> Decimal:
        """Quantity still to fill."""
        return self.quantity - self.filled

    @property
    def is_buy(self) -> bool:
        """Whether the order buys (BUY) rather than sells (SELL, SSHORT)."""
        return self.action == "BUY"

    @property
    def symbol(self) -> str:
        """The instrument's symbol."""
        return self.instrument.symbol

    def as_dict(self) -> dict[str, object]:
        """A JSON-friendly view (Decimals as strings) for the control socket."""
        return _plain(self)


@dataclass(frozen=True, slots=True)
class ExecutionRecord:
    """One fill (an execution), with the commission charged for it."""

    exec_id: str
    time: datetime
    account: str
    client_id: int
    order_id: int
    perm_id: int
    instrument: Instrument
    exchange: str
    side: str  # BOT or SLD
    shares: Decimal
    price: Decimal
    cum_qty: Decimal
    avg_price: Decimal
    order_ref: str
    commission: Decimal
    realized_pnl: Decimal | None

    @property
    def symbol(self) -> str:
        """The instrument's symbol."""
        return self.instrument.symbol

    def as_dict(self) -> dict[str, object]:
        """A JSON-friendly view (Decimals as strings) for the control socket."""
        return _plain(self)


@dataclass(frozen=True, slots=True)
class PositionRecord:
    """A position of one account in one instrument; avg_cost includes commissions, as at IB."""

    account: str
    instrument: Instrument
    quantity: Decimal
    avg_cost: Decimal
    realized_pnl: Decimal

    @property
    def symbol(self) -> str:
        """The instrument's symbol."""
        return self.instrument.symbol

    def as_dict(self) -> dict[str, object]:
        """A JSON-friendly view (Decimals as strings) for the control socket."""
        return _plain(self)


def _plain(record: object) -> dict[str, object]:
    result: dict[str, object] = {}
    for field in fields(record):  # type: ignore[arg-type]
        value = getattr(record, field.name)
        if isinstance(value, Instrument):
            result["symbol"] = value.symbol
            result["con_id"] = value.con_id
        elif isinstance(value, Decimal):
            result[field.name] = format(value, "f")
        elif isinstance(value, datetime):
            result[field.name] = value.isoformat()
        else:
            result[field.name] = value
    return result


@dataclass(frozen=True, slots=True)
class Bar:
    """One historical bar; `date` is already in the wire format the request asked for."""

    date: str
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    wap: Decimal
    count: int
