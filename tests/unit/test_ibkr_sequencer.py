"""The event sequencer (fills wait for their commission, later events wait behind them) and the
reconnect backoff (run with a recording sleep, no real waiting)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

from adapters.ibkr.reconnect import Backoff, reconnect
from adapters.ibkr.sequencer import EventSequencer
from core.broker_events import BrokerEvent, ConnectionEvent, ConnectionState, Fill, OrderStatusUpdate
from core.order_status import OrderStatus
from core.ports import BrokerError
from core.values import ExecId, OrderRef, Side

NOW = datetime(2026, 1, 2, tzinfo=UTC)


def fill(exec_id: str) -> Fill:
    return Fill(ExecId(exec_id), OrderRef("B1.tp"), "AAPL", Side.SELL, Decimal(10), Decimal(110), NOW)


def test_events_after_a_fill_wait_for_its_commission() -> None:
    delivered: list[BrokerEvent] = []
    sequencer = EventSequencer(delivered.append)
    sequencer.fill_arrived(fill("e1"))
    cancelled = OrderStatusUpdate(OrderRef("B1.sl"), OrderStatus.CANCELLED)
    sequencer.push(cancelled)
    assert delivered == [] and sequencer.pending == 2
    sequencer.commission_arrived("e1", Decimal("1.25"))
    assert delivered == [replace(fill("e1"), commission=Decimal("1.25")), cancelled]


def test_a_missing_commission_releases_the_fill_with_zero() -> None:
    delivered: list[BrokerEvent] = []
    sequencer = EventSequencer(delivered.append)
    sequencer.fill_arrived(fill("e1"))
    sequencer.fill_arrived(fill("e1"))  # the same execution again: dropped
    sequencer.commission_missing("e1")
    assert delivered == [fill("e1")]
    sequencer.commission_arrived("e1", Decimal(1))  # too late: nothing more
    assert delivered == [fill("e1")]


def test_release_all_on_disconnect() -> None:
    delivered: list[BrokerEvent] = []
    sequencer = EventSequencer(delivered.append)
    sequencer.fill_arrived(fill("e1"))
    sequencer.push(ConnectionEvent(ConnectionState.DISCONNECTED))
    sequencer.release_all()
    assert [type(e) for e in delivered] == [Fill, ConnectionEvent] and sequencer.pending == 0


def test_backoff_doubles_up_to_the_maximum() -> None:
    assert list(Backoff(0.5, 2.0, 4.0, max_attempts=6).delays()) == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


async def test_reconnect_retries_until_it_connects() -> None:
    slept: list[float] = []
    attempts: list[int] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async def open_connection() -> None:
        attempts.append(1)
        if len(attempts) < 3:
            raise BrokerError("TWS is not there yet")

    assert await reconnect(open_connection, Backoff(1.0, 2.0, 10.0), sleep) == 3
    assert slept == [1.0, 2.0, 4.0]


async def test_reconnect_gives_up_or_stops() -> None:
    async def sleep(seconds: float) -> None:
        return None

    async def never() -> None:
        raise BrokerError("refused")

    assert await reconnect(never, Backoff(1.0, max_attempts=3), sleep) is None
    assert await reconnect(never, Backoff(1.0), sleep, should_stop=lambda: True) is None
