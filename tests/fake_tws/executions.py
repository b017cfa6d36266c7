"""Executions: TWS-style execution ids, building a record from a fill, reqExecutions filtering."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from tests.fake_tws.ledger import FillEffect
from tests.fake_tws.model import ExecutionRecord, OrderRecord
from tests.fake_tws.requests import ExecutionFilter

_SIDES = {"BUY": "BOT", "SELL": "SLD"}


class ExecIds:
    """Unique execution ids shaped like TWS's (`0000e0d5.67a1b2c3.01.01`).

    The middle part is the session start, so a restarted fake never repeats an earlier id.
    """

    def __init__(self, session: int) -> None:
        self._session = session
        self._sequence = 0

    def next(self) -> str:
        """A new execution id."""
        self._sequence += 1
        return f"{self._sequence:08x}.{self._session:08x}.01.01"


def new_execution(
    exec_id: str, time: datetime, order: OrderRecord, shares: Decimal, price: Decimal, effect: FillEffect
) -> ExecutionRecord:
    """The execution record of one fill of `order` (already updated with this fill)."""
    return ExecutionRecord(
        exec_id=exec_id,
        time=time,
        account=order.account,
        client_id=order.client_id,
        order_id=order.order_id,
        perm_id=order.perm_id,
        instrument=order.instrument,
        exchange=order.instrument.primary_exchange,
        side="BOT" if order.is_buy else "SLD",
        shares=shares,
        price=price,
        cum_qty=order.filled,
        avg_price=order.avg_fill_price,
        order_ref=order.order_ref,
        commission=effect.commission,
        realized_pnl=effect.realized_pnl,
    )


def matches(execution: ExecutionRecord, wanted: ExecutionFilter) -> bool:
    """Whether an execution passes a reqExecutions filter (empty or 0 fields do not filter).

    Client id 0 means every client, so a restarted executor with a new client id still sees the
    fills of its previous session.
    """
    checks = (
        wanted.client_id in (0, execution.client_id),
        wanted.account in ("", execution.account),
        wanted.symbol in ("", execution.symbol),
        wanted.sec_type in ("", "STK"),
        wanted.exchange in ("", execution.exchange),
        _SIDES.get(wanted.side, wanted.side) in ("", execution.side),
        _after(execution.time, wanted.time),
    )
    return all(checks)


def _after(time: datetime, since: str) -> bool:
    """The time filter: `yyyymmdd hh:mm:ss` (optionally with a zone; UTC assumed)."""
    if not since:
        return True
    try:
        start = datetime.strptime(since[:17], "%Y%m%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return True
    return time >= start
