"""Money of the accounts: cash, positions with IB-style average cost, realized P&L, commissions.

IB folds commissions into a position's average cost (a buy of 10 @ 100 with $1 commission has
avgCost 100.1) and reports realized P&L net of commissions; this ledger does the same, so the values
ib_async shows for `positions()` and `portfolio()` look like a paper account's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from tests.fake_tws.model import Instrument, PositionRecord

_EXACT = Decimal("0.00000001")
_CENTS = Decimal("0.01")


def _tidy(value: Decimal) -> Decimal:
    return value.quantize(_EXACT).normalize()


@dataclass(frozen=True, slots=True)
class CommissionSchedule:
    """IB's fixed US stock pricing: per share, with a minimum and a cap of 1% of trade value."""

    per_share: Decimal = Decimal("0.005")
    minimum: Decimal = Decimal("1.00")
    max_rate: Decimal = Decimal("0.01")

    def commission(self, shares: Decimal, price: Decimal) -> Decimal:
        """The commission for one execution."""
        charge = max(self.minimum, self.per_share * shares)
        return min(charge, self.max_rate * shares * price).quantize(_EXACT).normalize()


@dataclass(frozen=True, slots=True)
class FillEffect:
    """What one execution did to the account: the commission and the P&L it realized."""

    commission: Decimal
    realized_pnl: Decimal | None  # None for a fill that only opened or added to a position
    position: PositionRecord


class Ledger:
    """Cash and positions per account; state survives client disconnects because it is per account."""

    def __init__(
        self,
        accounts: list[str],
        initial_cash: Decimal = Decimal(1_000_000),
        commissions: CommissionSchedule | None = None,
    ) -> None:
        self._cash = dict.fromkeys(accounts, initial_cash)
        self._realized = dict.fromkeys(accounts, Decimal(0))
        self._positions: dict[tuple[str, int], PositionRecord] = {}
        self.commissions = commissions or CommissionSchedule()

    def position(self, account: str, instrument: Instrument) -> PositionRecord:
        """The position (quantity 0 when there is none)."""
        flat = PositionRecord(account, instrument, Decimal(0), Decimal(0), Decimal(0))
        return self._positions.get((account, instrument.con_id), flat)

    def positions(self, account: str | None = None) -> list[PositionRecord]:
        """Every non-flat position, of one account or of all."""
        return [p for p in self._positions.values() if p.quantity != 0 and account in (None, p.account)]

    def apply_fill(
        self, account: str, instrument: Instrument, is_buy: bool, shares: Decimal, price: Decimal
    ) -> FillEffect:
        """Book one execution: commission, cash, position quantity, average cost, realized P&L."""
        commission = self.commissions.commission(shares, price)
        old = self.position(account, instrument)
        signed = shares if is_buy else -shares
        quantity, avg_cost, realized = _fold(old.quantity, old.avg_cost, signed, price, commission)
        total_realized = old.realized_pnl + (realized or 0)
        position = PositionRecord(account, instrument, quantity, avg_cost, total_realized)
        self._positions[(account, instrument.con_id)] = position
        self._cash[account] -= signed * price + commission
        self._realized[account] += realized or 0
        return FillEffect(commission, realized, position)

    def account_values(
        self, account: str, market_price: Callable[[Instrument], Decimal | None]
    ) -> list[tuple[str, str, str]]:
        """(key, value, currency) for reqAccountUpdates / Multi / Summary, marked to market."""
        cash = self._cash[account]
        stock_value = Decimal(0)
        gross = Decimal(0)
        unrealized = Decimal(0)
        for position in self.positions(account):
            price = market_price(position.instrument) or position.avg_cost
            stock_value += position.quantity * price
            gross += abs(position.quantity * price)
            unrealized += position.quantity * (price - position.avg_cost)
        net_liquidation = cash + stock_value
        margin = gross / 4
        money = {
            "NetLiquidation": net_liquidation,
            "TotalCashValue": cash,
            "SettledCash": cash,
            "CashBalance": cash,
            "EquityWithLoanValue": net_liquidation,
            "GrossPositionValue": gross,
            "InitMarginReq": margin,
            "MaintMarginReq": margin,
            "AvailableFunds": net_liquidation - margin,
            "ExcessLiquidity": net_liquidation - margin,
            "BuyingPower": (net_liquidation - margin) * 4,
            "UnrealizedPnL": unrealized,
            "RealizedPnL": self._realized[account],
        }
        values = [("AccountCode", account, ""), ("AccountType", "INDIVIDUAL", "")]
        values += [(key, str(amount.quantize(_CENTS)), "USD") for key, amount in money.items()]
        return values


def _fold(
    quantity: Decimal, avg_cost: Decimal, signed: Decimal, price: Decimal, commission: Decimal
) -> tuple[Decimal, Decimal, Decimal | None]:
    """The new (quantity, avg cost, realized P&L) after one fill of `signed` shares at `price`."""
    direction = 1 if signed > 0 else -1
    if quantity == 0 or (quantity > 0) == (signed > 0):
        # Opening or adding: commission raises a long's cost and lowers a short's entry price.
        cost = avg_cost * abs(quantity) + price * abs(signed) + direction * commission
        new_quantity = quantity + signed
        return new_quantity, _tidy(cost / abs(new_quantity)), None
    closed = min(abs(signed), abs(quantity))
    opened = abs(signed) - closed
    closing_commission = commission * closed / abs(signed)
    held = 1 if quantity > 0 else -1
    realized = _tidy((price - avg_cost) * closed * held - closing_commission)
    new_quantity = quantity + signed
    if new_quantity == 0:
        return Decimal(0), Decimal(0), realized
    if opened == 0:
        return new_quantity, avg_cost, realized
    opening_cost = price * opened + direction * (commission - closing_commission)
    return new_quantity, _tidy(opening_cost / opened), realized
