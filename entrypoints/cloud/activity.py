"""When the cloud last did urgent work: a placement, or a frame from a connected client.

Work that only people wait for (writing the Excel order files) waits until the cloud has been
quiet for a moment, so it never holds up a placement or the storing of an executor's statuses.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class Activity:
    """The time (on `monotonic`, injectable for tests) of the last urgent work."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.monotonic = monotonic
        self.last = -math.inf

    def touch(self) -> None:
        """Urgent work is happening now."""
        self.last = self.monotonic()

    def quiet_at(self, quiet_seconds: float) -> float:
        """When the cloud will have been quiet for `quiet_seconds`, if nothing happens before."""
        return self.last + quiet_seconds
