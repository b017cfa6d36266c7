"""Fault injection switches that tests flip; one-shot faults are consumed when they fire."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal

REJECTION_CODES = frozenset({103, 110, 200, 201, 202})
"""Codes `reject_next_order` accepts: what TWS answers for a bad or refused order."""


@dataclass(frozen=True, slots=True)
class Rejection:
    """An order rejection waiting to be applied to the next new order."""

    code: int
    reason: str


@dataclass(slots=True)
class Faults:
    """Current fault settings, shared by the engine (orders) and the connections (wire)."""

    rejections: deque[Rejection] = field(default_factory=deque)
    skipped_order_statuses: int = 0
    delay_seconds: float = 0.0
    partial_fill: Decimal | None = None

    def reject_next_order(self, code: int, reason: str = "") -> None:
        """Reject the next new order with `code` (queued: call twice to reject two orders)."""
        if code not in REJECTION_CODES:
            raise ValueError(f"rejection code {code} is not one of {sorted(REJECTION_CODES)}")
        self.rejections.append(Rejection(code, reason))

    def take_rejection(self) -> Rejection | None:
        """The pending rejection for a new order, if any (consumed)."""
        return self.rejections.popleft() if self.rejections else None

    def skip_next_order_status(self, count: int = 1) -> None:
        """Drop the next `count` ORDER_STATUS messages, whichever orders they are for."""
        self.skipped_order_statuses += count

    def take_skip(self) -> bool:
        """Whether the ORDER_STATUS about to be sent must be dropped (consumed)."""
        if self.skipped_order_statuses <= 0:
            return False
        self.skipped_order_statuses -= 1
        return True

    def set_partial_fill(self, quantity: Decimal | None) -> None:
        """Fill at most `quantity` shares per order per matching pass; None fills completely."""
        if quantity is not None and quantity <= 0:
            raise ValueError(f"partial fill quantity must be positive, got {quantity}")
        self.partial_fill = quantity

    def set_delay(self, seconds: float) -> None:
        """Delay every message the server sends by `seconds` (order is preserved)."""
        if seconds < 0:
            raise ValueError(f"delay must not be negative, got {seconds}")
        self.delay_seconds = seconds
