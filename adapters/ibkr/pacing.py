"""The pacing budget: never more than 45 messages per second to TWS, protective orders first.

TWS answers error 100 (and may disconnect) past 50 messages per second. Every message the adapter
makes ib_async send (each placeOrder, cancelOrder and request; the startup requests of a connect)
first takes a token from one `PacingBudget`: at most `limit` sends within any `window` seconds,
where the window is one second plus a 50 ms margin, and at most `burst` (9) within the same
fraction of it (0.21 s), which spreads the messages out.

Why the margin and the spreading: TWS counts on receipt. A message read late (a busy machine, a
pause on TWS's side) lands in the next second's count; measured at the fake TWS, a 5 ms margin
gave 47 per second, and a whole second's budget sent at once gave 52 under CPU load (error 100).
The margin also keeps ib_async's own 45/s throttle (which holds a message until strictly more
than 1 s has passed) from engaging, so ours is the binding one. 45 per 1.05 s is 42.9 messages
per second sustained, above the 40.5/s (90 %) target.

When callers queue, they are served by priority, then in arrival order: protective orders
(stops, cancels, orders that reduce a position) before queries, queries before new entries.
The clock and the sleep are injected, so unit tests run without sleeping.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from enum import IntEnum

from core.orders import OrderRequest
from core.values import ZERO, OrderType

MAX_MESSAGES_PER_SECOND = 45
WINDOW_SECONDS = 1.0
SAFETY_MARGIN_SECONDS = 0.05
DEFAULT_BURST = 9  # >= the 8 messages of a connect, which must go out together


class Priority(IntEnum):
    """Who goes first when the budget is exhausted (lower first)."""

    PROTECTIVE = 0  # stops, cancels, flattening / position-reducing orders
    QUERY = 1  # reconciliation and market data requests
    ENTRY = 2  # new risk: entries and brackets


def priority_of(order: OrderRequest, position: Decimal = ZERO) -> Priority:
    """Protective: a stop, a child of another order (a rebuilt exit), or an order that only
    reduces the current signed `position` (close-all / flatten). Everything else opens risk."""
    if order.order_type in (OrderType.STOP, OrderType.STOP_LIMIT) or order.parent_ref is not None:
        return Priority.PROTECTIVE
    signed = order.side.sign * order.quantity
    reduces = position != ZERO and (position > ZERO) != (signed > ZERO) and order.quantity <= abs(position)
    return Priority.PROTECTIVE if reduces else Priority.ENTRY


class SlidingWindow:
    """At most `limit` events within any `window` seconds; pure bookkeeping, no waiting."""

    def __init__(
        self, limit: int = MAX_MESSAGES_PER_SECOND, window: float = WINDOW_SECONDS + SAFETY_MARGIN_SECONDS
    ) -> None:
        if limit <= 0 or window <= 0:
            raise ValueError(f"a pacing window needs a positive limit and length, got {limit} per {window} s")
        self.limit = limit
        self.window = window
        self._sent: deque[float] = deque()

    def _forget(self, now: float) -> None:
        # The same expression as in wait_time (sent + window), so float rounding can never let a
        # send through that the window still counts.
        while self._sent and self._sent[0] + self.window <= now:
            self._sent.popleft()

    def wait_time(self, now: float, count: int = 1) -> float:
        """Seconds until `count` more events fit (0 when they fit now)."""
        if count > self.limit:
            raise ValueError(f"{count} messages can never fit a budget of {self.limit} per {self.window} s")
        self._forget(now)
        overflow = len(self._sent) + count - self.limit
        if overflow <= 0:
            return 0.0
        return self._sent[overflow - 1] + self.window - now

    def record(self, now: float, count: int = 1) -> None:
        """Count `count` events sent at `now`."""
        self._sent.extend([now] * count)

    def in_window(self, now: float) -> int:
        """Events within the window ending at `now`."""
        self._forget(now)
        return len(self._sent)


@dataclass(order=True)
class _Ticket:
    priority: int
    sequence: int
    count: int = field(compare=False)
    wake: asyncio.Event = field(compare=False, default_factory=asyncio.Event)


class PacingBudget:
    """Hands out send permissions so that TWS never sees more than `limit` messages per window.

    Two windows: `limit` per `window`, and `burst` per the same fraction of it (9 per 0.21 s by
    default), which spreads the messages out. Without the second one the whole second's budget
    goes out at once, and if TWS reads that burst late (a pause on its side, a busy machine) it
    counts it together with the next second's: measured, 52 per second at the fake TWS under
    CPU load, error 100. Spread out, a late read can only bunch a few messages.
    """

    def __init__(
        self,
        limit: int = MAX_MESSAGES_PER_SECOND,
        window: float = WINDOW_SECONDS + SAFETY_MARGIN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        burst: int | None = DEFAULT_BURST,
    ) -> None:
        self._window = SlidingWindow(limit, window)
        burst = limit if burst is None else min(burst, limit)
        self._windows = [self._window]
        if burst < limit:
            self._windows.append(SlidingWindow(burst, window * burst / limit))
        self.peak = 0  # the most messages this budget let out within one `window`
        self._clock = clock
        self._sleep = sleep
        self._queue: list[_Ticket] = []
        self._sequence = itertools.count()
        self.sent = 0

    @property
    def limit(self) -> int:
        return self._window.limit

    @property
    def waiting(self) -> int:
        """Callers queued for a permission now."""
        return len(self._queue)

    def in_window(self) -> int:
        """Messages sent within the current window."""
        return self._window.in_window(self._clock())

    async def acquire(self, count: int = 1, priority: Priority = Priority.ENTRY, record: bool = True) -> None:
        """Wait until `count` messages may be sent now, and count them as sent (unless `record`
        is False: then `charge` them once they have gone). Send them right after this returns,
        without awaiting anything in between."""
        ticket = _Ticket(int(priority), next(self._sequence), count)
        self._wait_time(self._clock(), count)  # refuses a count that can never fit
        heapq.heappush(self._queue, ticket)
        try:
            while True:
                if self._queue[0] is ticket:
                    now = self._clock()
                    delay = self._wait_time(now, count)
                    if delay <= 0:
                        heapq.heappop(self._queue)
                        if record:
                            for window in self._windows:
                                window.record(now, count)
                            self.sent += count
                            self.peak = max(self.peak, self._window.in_window(now))
                        self._wake_head()
                        return
                    await self._sleep(delay)
                else:
                    ticket.wake.clear()
                    await ticket.wake.wait()
        except BaseException:
            if ticket in self._queue:
                self._queue.remove(ticket)
                heapq.heapify(self._queue)
                self._wake_head()
            raise

    def charge(self, count: int) -> None:
        """Count `count` messages as sent now, without waiting, in the per-second window: for
        messages ib_async sent on its own over a while (the startup requests of a connect go
        out as the handshake proceeds, so they are counted when it has finished; the caller
        waited for room with `acquire(..., record=False)` first)."""
        now = self._clock()
        self._window.record(now, count)
        self.sent += count
        self.peak = max(self.peak, self._window.in_window(now))

    def _wait_time(self, now: float, count: int) -> float:
        return max(window.wait_time(now, count) for window in self._windows)

    def _wake_head(self) -> None:
        if self._queue:
            self._queue[0].wake.set()
