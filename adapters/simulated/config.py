"""Settings of the simulated broker: account, starting cash, commissions and partial fills."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from core.values import ZERO

DEFAULT_ACCOUNT = "SIM0001"


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    """How the simulated broker behaves.

    Commissions follow IB's fixed US-stock pricing: `commission_per_share` per share with
    `min_commission` per order (the minimum is charged once per order, not once per partial fill).
    `partial_fill_quantity`, when set, caps every matching step at that many shares per order,
    so a 10-share order with a cap of 3 fills 3, 3, 3, 1 over four steps (price moves or `step()`).
    """

    account: str = DEFAULT_ACCOUNT
    starting_cash: Decimal = Decimal(100_000)
    commission_per_share: Decimal = Decimal("0.005")
    min_commission: Decimal = Decimal("1.00")
    partial_fill_quantity: Decimal | None = None

    def __post_init__(self) -> None:
        if not self.account:
            raise ValueError("the simulated account needs a name, e.g. SimulationConfig(account='SIM0001')")
        if self.commission_per_share < ZERO or self.min_commission < ZERO:
            raise ValueError(
                f"commissions cannot be negative (per share {self.commission_per_share}, "
                f"minimum {self.min_commission}); use 0 for commission-free simulation"
            )
        cap = self.partial_fill_quantity
        if cap is not None and (cap <= ZERO or cap != cap.to_integral_value()):
            raise ValueError(
                f"partial_fill_quantity must be a whole number of shares above 0, or None for full "
                f"fills; got {cap}"
            )

    def to_dict(self) -> dict[str, str | None]:
        """JSON-able form, for broker snapshots."""
        cap = self.partial_fill_quantity
        return {
            "account": self.account,
            "starting_cash": str(self.starting_cash),
            "commission_per_share": str(self.commission_per_share),
            "min_commission": str(self.min_commission),
            "partial_fill_quantity": None if cap is None else str(cap),
        }

    @classmethod
    def from_dict(cls, data: dict[str, str | None]) -> SimulationConfig:
        """The inverse of `to_dict`."""
        cap = data.get("partial_fill_quantity")
        return cls(
            account=str(data["account"]),
            starting_cash=Decimal(str(data["starting_cash"])),
            commission_per_share=Decimal(str(data["commission_per_share"])),
            min_commission=Decimal(str(data["min_commission"])),
            partial_fill_quantity=None if cap is None else Decimal(cap),
        )
