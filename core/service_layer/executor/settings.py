"""The executor's own settings: its risk limits and the default batch expiry.

The executor enforces these whatever the cloud sent. They are a frozen value the entrypoint
builds (from a TOML file or the environment) and hands in; nothing here reads files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from core.risk import RiskLimits


def default_executor_limits() -> RiskLimits:
    """The core's conservative defaults, except the orders-per-second limit.

    A batch is placed bracket after bracket as fast as the broker answers; a per-second cap on
    the gate would reject the 11th bracket of a 20-order batch instead of pacing it. Pacing
    belongs to the broker adapter (TWS accepts 50 messages per second); set
    `max_orders_per_second` explicitly to have the gate refuse bursts anyway.
    """
    return RiskLimits(max_orders_per_second=None)


@dataclass(frozen=True, slots=True)
class ExecutorSettings:
    """What the executor is allowed to do. `default_expiry` applies to a batch that arrives
    without `expires_at`: it counts from `approved_at` (or from receipt, if that is missing too)."""

    limits: RiskLimits = field(default_factory=default_executor_limits)
    default_expiry: timedelta = timedelta(hours=24)

    def __post_init__(self) -> None:
        if self.default_expiry <= timedelta(0):
            raise ValueError(f"default_expiry must be above 0, got {self.default_expiry}")
