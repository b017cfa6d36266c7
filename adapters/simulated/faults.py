"""Fault injection for the simulated broker: what can go wrong at a real broker, on demand.

    broker.faults.reject_next(201, "Order rejected - reason: margin")  # the next order is REJECTED
    broker.faults.delay_acks()             # status reports wait for release() or a clock step
    broker.faults.drop_next_status("A-1")  # the next status report (of A-1) never arrives
    broker.faults.disconnect()             # ConnectionEvent LOST; requests fail until connect()

A fault changes only what the client hears, never what the broker holds: a rejected order is in
`completed_orders()`, a dropped status's fill is in `executions()`, and orders keep working
through a disconnection. Nothing is silently discarded: dropped and lost events are kept in
`dropped` and `lost` for tests to inspect.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from core.broker_events import BrokerEvent, OrderStatusUpdate
from core.ports import Clock
from core.values import OrderRef

IB_ORDER_REJECTED = 201
DEFAULT_REJECT_REASON = "Order rejected - reason: simulated rejection (fault injection)"


class FaultInjector:
    """Faults armed by tests; the broker consults them on each request and event."""

    def __init__(
        self,
        clock: Clock,
        lose_connection: Callable[[str], None],
        deliver: Callable[[list[BrokerEvent]], None],
    ) -> None:
        self._clock = clock
        self._lose_connection = lose_connection
        self._deliver = deliver
        self._rejections: list[tuple[OrderRef | None, int, str]] = []
        self._drops: list[OrderRef | None] = []
        self._delay_budget: int | None = 0  # status reports still to hold; None holds all
        self._held_refs: set[str] = set()
        self._held_since: datetime | None = None
        self.held: list[BrokerEvent] = []
        self.dropped: list[OrderStatusUpdate] = []
        self.lost: list[BrokerEvent] = []
        self.armed = False  # fast-path flag: False means no fault can touch an event

    # -- arming (the test's side) ----------------------------------------------------------------

    def reject_next(
        self, code: int = IB_ORDER_REJECTED, reason: str = DEFAULT_REJECT_REASON,
        order_ref: str | None = None,
    ) -> None:
        """Reject the next order placed (or the next with `order_ref`): status REJECTED with
        `code` and `reason`. For a bracket, an untargeted rejection hits the entry, and the exits
        are cancelled with it."""
        self._rejections.append((OrderRef(order_ref) if order_ref else None, code, reason))
        self.armed = True

    def delay_acks(self, events: int | None = None) -> None:
        """Hold status reports (all of them, or the next `events`) until `release()` or until the
        clock moves past now. Fills are not held, so a fill may arrive before its acknowledgement.
        A later report of an order that has a held report waits too, so each order's reports
        stay in order."""
        self._delay_budget = events
        self._held_since = self._clock.now()
        self.armed = True

    def drop_next_status(self, order_ref: str | None = None) -> None:
        """Never deliver the next status report (of `order_ref`, or of any order)."""
        self._drops.append(OrderRef(order_ref) if order_ref else None)
        self.armed = True

    def disconnect(self, message: str = "Connectivity between IB and TWS has been lost (simulated)") -> None:
        """Lose the connection: ConnectionEvent LOST now; requests raise BrokerError and events are
        lost (kept in `lost`) until `connect()`, which reports RESTORED. Orders keep working."""
        self._lose_connection(message)

    def release(self) -> None:
        """Deliver every held status report now, in order, and stop delaying."""
        held, self.held = self.held, []
        self._end_delay()
        if held:
            self._deliver(held)

    def clear(self) -> None:
        """Disarm every pending fault (held reports are released first)."""
        self.release()
        self._rejections.clear()
        self._drops.clear()
        self._rearm()

    # -- consulting (the broker's side) ----------------------------------------------------------

    def take_rejection(self, ref: OrderRef) -> tuple[int, str] | None:
        """The armed rejection for `ref`, consumed, or None."""
        for index, (target, code, reason) in enumerate(self._rejections):
            if target is None or target == ref:
                del self._rejections[index]
                self._rearm()
                return code, reason
        return None

    def filter(self, events: Sequence[BrokerEvent]) -> list[BrokerEvent]:
        """The events to deliver now: held reports that are due first, then `events` without the
        dropped and newly held ones."""
        out: list[BrokerEvent] = []
        if self._held_since is not None and self._clock.now() > self._held_since:
            out, self.held = self.held, []  # the clock moved on: the delay is over
            self._end_delay()
        for event in events:
            if isinstance(event, OrderStatusUpdate) and self._intercept(event):
                continue
            out.append(event)
        self._rearm()
        return out

    def _intercept(self, update: OrderStatusUpdate) -> bool:
        for index, target in enumerate(self._drops):
            if target is None or target == update.order_ref:
                del self._drops[index]
                self.dropped.append(update)
                return True
        budget = self._delay_budget
        if update.order_ref in self._held_refs or budget is None or budget > 0:
            if budget is not None and budget > 0 and update.order_ref not in self._held_refs:
                self._delay_budget = budget - 1
            self.held.append(update)
            self._held_refs.add(update.order_ref)
            return True
        return False

    def _end_delay(self) -> None:
        self._delay_budget = 0
        self._held_refs.clear()
        self._held_since = None
        self._rearm()

    def _rearm(self) -> None:
        self.armed = bool(
            self._rejections or self._drops or self.held or self._delay_budget is None or self._delay_budget
        )
