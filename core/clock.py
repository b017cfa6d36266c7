"""Deterministic implementations of the Clock and IdGenerator ports.

They are pure (no system time, no randomness), so they live in the core: the simulator, the
tests and the benchmarks step time by hand and get the same ids on every run.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count

EPOCH = datetime(2026, 1, 2, 14, 30, tzinfo=UTC)


class ManualClock:
    """A clock that moves only when told to."""

    __slots__ = ("_now",)

    def __init__(self, start: datetime = EPOCH) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start time")
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float = 1.0) -> datetime:
        """Move forward by `seconds` (never backwards) and return the new time."""
        if seconds < 0:
            raise ValueError(f"time cannot go backwards (asked to advance {seconds} s)")
        self._now += timedelta(seconds=seconds)
        return self._now

    def set(self, when: datetime) -> None:
        if when < self._now:
            raise ValueError(f"time cannot go backwards (from {self._now} to {when})")
        self._now = when


class SequentialIds:
    """Ids `prefix1`, `prefix2`, ... from one counter."""

    __slots__ = ("_counter",)

    def __init__(self, start: int = 1) -> None:
        self._counter = count(start)

    def next_id(self, prefix: str = "") -> str:
        return f"{prefix}{next(self._counter)}"
