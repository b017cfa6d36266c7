"""Test hook: `TRADEBRIDGE_TEST_CRASH_AT=<point>[:<n>]` kills the executor (SIGKILL, like kill -9)
the n-th time (default: the first) it reaches `point`. The crash tests use it to stop the process
exactly where a real crash would hurt most; unset, it costs one attribute read per point.

Points: `before_ack` (batch journaled, ack not sent), `before_broker` (a bracket about to be
sent: the broker never gets it), `after_broker` (the broker holds the bracket, the journal still
says `sending`), `after_place` (a batch placed, its reports not sent yet), `before_report` (a
report about to be sent to the cloud).
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Mapping

CRASH_ENV = "TRADEBRIDGE_TEST_CRASH_AT"
POINTS = frozenset({"before_ack", "before_broker", "after_broker", "after_place", "before_report"})


class CrashHook:
    """Counts the points reached and kills the process at the armed one."""

    def __init__(self, point: str | None = None, occurrence: int = 1) -> None:
        if point is not None and point not in POINTS:
            raise ValueError(f"{CRASH_ENV}: unknown point {point!r}; known: {', '.join(sorted(POINTS))}")
        self.point = point
        self.occurrence = occurrence
        self._seen = 0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> CrashHook:
        raw = (os.environ if env is None else env).get(CRASH_ENV, "").strip()
        if not raw:
            return cls()
        point, _, count = raw.partition(":")
        return cls(point, int(count) if count else 1)

    def armed(self, point: str) -> bool:
        """Whether the hook may kill at `point` (work done only to decide whether `point` is
        reached can be skipped when not)."""
        return self.point == point

    def reached(self, point: str) -> None:
        if self.point != point:
            return
        self._seen += 1
        if self._seen >= self.occurrence:
            logging.getLogger(__name__).critical("TEST CRASH at %s (#%d): SIGKILL", point, self._seen)
            logging.shutdown()
            os.kill(os.getpid(), signal.SIGKILL)
