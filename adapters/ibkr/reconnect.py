"""Reconnect with exponential backoff after TWS dropped the connection.

The sleep is injected so tests run the schedule without waiting; `Backoff.delays()` is the
schedule itself (0.5, 1, 2, 4 ... capped at `maximum`), so a test can check it directly.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

from core.ports import BrokerError

log = logging.getLogger(__name__)
Sleep = Callable[[float], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delays before each reconnect attempt; `max_attempts` None means keep trying."""

    initial: float = 0.5
    factor: float = 2.0
    maximum: float = 30.0
    max_attempts: int | None = None

    def __post_init__(self) -> None:
        if self.initial <= 0 or self.factor < 1 or self.maximum < self.initial:
            raise ValueError(
                f"backoff needs initial > 0, factor >= 1 and maximum >= initial, got {self.initial}, "
                f"{self.factor}, {self.maximum}"
            )

    def delays(self) -> Iterator[float]:
        """The delay before attempt 1, 2, 3 ..."""
        delay, attempt = self.initial, 0
        while self.max_attempts is None or attempt < self.max_attempts:
            yield delay
            attempt += 1
            delay = min(delay * self.factor, self.maximum)


async def reconnect(
    open_connection: Callable[[], Awaitable[None]],
    backoff: Backoff,
    sleep: Sleep = asyncio.sleep,
    should_stop: Callable[[], bool] = lambda: False,
) -> int | None:
    """Try `open_connection` after each backoff delay until it succeeds; return the number of
    attempts it took, or None when the attempts ran out or `should_stop()` became true."""
    for attempt, delay in enumerate(backoff.delays(), start=1):
        await sleep(delay)
        if should_stop():
            return None
        try:
            await open_connection()
        except BrokerError as error:
            log.warning("reconnect attempt %d failed: %s", attempt, error)
            continue
        return attempt
    return None
