"""Production implementations of the Clock and IdGenerator ports: the wall clock and random ids."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime


class SystemClock:
    """The machine's clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class RandomIds:
    """Short random ids (URL-safe, 10 characters after the prefix): unique without coordination,
    and short enough to fit inside IB's `orderRef` with a symbol and leg code."""

    def __init__(self, length: int = 10) -> None:
        self._bytes = max(4, (length * 3 + 3) // 4)
        self._length = length

    def next_id(self, prefix: str = "") -> str:
        token = secrets.token_urlsafe(self._bytes).replace("_", "x").replace("-", "y")
        return f"{prefix}{token[: self._length]}"
