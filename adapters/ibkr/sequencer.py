"""Keeps broker events in the order IB sent them while a fill waits for its commission.

IB sends an execution first and its commission report afterwards (real TWS: up to a few hundred
ms later, possibly after the OCA sibling's cancel). A core `Fill` carries its commission, so it can
only be built when the report arrives. Emitting later reports meanwhile would reorder causality
(an exit's cancel before the fill that caused it would look like a naked bracket). So once a
fill is waiting, every later event queues behind it; a report that never comes releases the fill
with commission 0 after `commission_wait` seconds (logged), so nothing is ever held for good.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal

from core.broker_events import BrokerEvent, Fill

log = logging.getLogger(__name__)
DEFAULT_COMMISSION_WAIT = 2.0


@dataclass(slots=True)
class _Waiting:
    fill: Fill
    ready: bool = False


class EventSequencer:
    """Delivers events to `deliver` in arrival order, holding fills until their commission."""

    def __init__(
        self, deliver: Callable[[BrokerEvent], None], commission_wait: float = DEFAULT_COMMISSION_WAIT
    ) -> None:
        self._deliver = deliver
        self._wait = commission_wait
        self._queue: deque[BrokerEvent | _Waiting] = deque()
        self._waiting: dict[str, _Waiting] = {}
        self._seen_exec_ids: set[str] = set()
        self._timers: dict[str, asyncio.TimerHandle] = {}

    @property
    def pending(self) -> int:
        """Events not delivered yet."""
        return len(self._queue)

    def push(self, event: BrokerEvent) -> None:
        """An event ready to go (after whatever waits before it)."""
        self._queue.append(event)
        self._flush()

    def fill_arrived(self, fill: Fill) -> None:
        """An execution without its commission yet; duplicates (same exec id) are dropped."""
        if fill.exec_id in self._seen_exec_ids:
            return
        self._seen_exec_ids.add(fill.exec_id)
        waiting = _Waiting(fill)
        self._waiting[fill.exec_id] = waiting
        self._queue.append(waiting)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._timers[fill.exec_id] = loop.call_later(self._wait, self.commission_missing, fill.exec_id)

    def commission_arrived(self, exec_id: str, commission: Decimal) -> None:
        """The commission report of a waiting execution."""
        waiting = self._waiting.pop(exec_id, None)
        if waiting is None:
            return
        self._cancel_timer(exec_id)
        waiting.fill = replace(waiting.fill, commission=commission)
        waiting.ready = True
        self._flush()

    def commission_missing(self, exec_id: str) -> None:
        """No report came in time: release the fill with the commission it has (0)."""
        waiting = self._waiting.pop(exec_id, None)
        if waiting is None:
            return
        self._timers.pop(exec_id, None)
        log.warning("no commission report for execution %s of %s within %.1f s; reporting the fill "
                    "with commission 0", exec_id, waiting.fill.order_ref, self._wait)
        waiting.ready = True
        self._flush()

    def release_all(self) -> None:
        """Deliver everything now (on disconnect: a report will not come over a dead socket)."""
        for exec_id in list(self._waiting):
            self._cancel_timer(exec_id)
            self._waiting.pop(exec_id).ready = True
        self._flush()

    def _cancel_timer(self, exec_id: str) -> None:
        timer = self._timers.pop(exec_id, None)
        if timer is not None:
            timer.cancel()

    def _flush(self) -> None:
        while self._queue:
            head = self._queue[0]
            if isinstance(head, _Waiting):
                if not head.ready:
                    return
                self._queue.popleft()
                self._deliver(head.fill)
            else:
                self._queue.popleft()
                self._deliver(head)
