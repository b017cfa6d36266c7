"""Request pacing: TWS allows 50 messages per second per client and answers error 100 beyond."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

MAX_MESSAGES_PER_SECOND = 50
PACING_VIOLATION = 100


class PacingMeter:
    """Counts each client's messages over a sliding one-second window and keeps the peak rate."""

    def __init__(
        self, limit: int = MAX_MESSAGES_PER_SECOND, now: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self._now = now
        self._windows: dict[int, deque[float]] = {}
        self.peaks: dict[int, int] = {}

    def record(self, client_id: int) -> int:
        """Count one message of `client_id`; return how many it sent within the last second."""
        now = self._now()
        window = self._windows.setdefault(client_id, deque())
        window.append(now)
        while window and now - window[0] >= 1.0:
            window.popleft()
        rate = len(window)
        self.peaks[client_id] = max(self.peaks.get(client_id, 0), rate)
        return rate

    def exceeded(self, rate: int) -> bool:
        """Whether a message counted at `rate` breaks the limit."""
        return rate > self.limit

    @property
    def peak(self) -> int:
        """The highest per-client rate seen so far (messages within one second)."""
        return max(self.peaks.values(), default=0)

    @staticmethod
    def violation_text(rate: int, limit: int = MAX_MESSAGES_PER_SECOND) -> str:
        """TWS's error 100 text."""
        return f"Max rate of messages per second has been exceeded:max={limit} rec={rate}"
