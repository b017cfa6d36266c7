"""The simulated account: cash, commissions, and one core `Position` (the fold of fills) per symbol.

Realized P&L is reported net of commissions, as IB reports it, so at every moment
`net_liquidation == starting_cash + realized_pnl + unrealized_pnl`, exactly (the core Position keeps
its cost basis exact). Average cost is the average fill price of the open position, without
commissions.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from core.broker_events import AccountSnapshot, BrokerPosition, Fill
from core.position import Position
from core.values import ZERO, Side

_BUY = Side.BUY


class Ledger:
    """Cash and positions of the simulated account, changed only by fills."""

    __slots__ = ("account", "cash", "min_commission", "per_share", "positions_by_symbol", "starting_cash")

    def __init__(
        self, account: str, starting_cash: Decimal, per_share: Decimal, min_commission: Decimal
    ) -> None:
        self.account = account
        self.starting_cash = starting_cash
        self.cash = starting_cash
        self.per_share = per_share
        self.min_commission = min_commission
        self.positions_by_symbol: dict[str, Position] = {}

    def commission(self, filled_before: Decimal, filled_after: Decimal) -> Decimal:
        """Commission of one execution: the order's total commission after it minus before it.

        The per-order minimum is charged with the first execution; later partial fills of the same
        order pay only once the per-share total passes the minimum.
        """
        # Compares instead of max(): the same result (max keeps the first of equals, so does this)
        # without a builtin call; this runs once per execution.
        minimum = self.min_commission
        after = self.per_share * filled_after
        if after < minimum:
            after = minimum
        if not filled_before:  # a Decimal is false exactly when it is 0
            return after
        before = self.per_share * filled_before
        if before < minimum:
            before = minimum
        return after - before

    def apply_fill(self, fill: Fill, amount: Decimal) -> None:
        """Book one execution: cash, position, realized P&L. `amount` is the fill's quantity times
        its price, which the exchange has worked out already."""
        # A buy pays the amount, a sell receives it; both pay the commission.
        if fill.side is _BUY:
            self.cash -= amount + fill.commission
        else:
            self.cash += amount - fill.commission
        symbol = fill.symbol
        position = self.positions_by_symbol.get(symbol)
        if position is None:
            position = self.positions_by_symbol[symbol] = Position(symbol)
        position.apply(fill)

    @property
    def realized_pnl(self) -> Decimal:
        """P&L realized by closing fills, minus every commission paid."""
        return sum((p.realized_pnl - p.commissions for p in self.positions_by_symbol.values()), ZERO)

    def positions(self) -> list[BrokerPosition]:
        """Every non-zero position."""
        return [
            BrokerPosition(symbol, p.quantity, p.avg_price)
            for symbol, p in self.positions_by_symbol.items()
            if p.quantity != ZERO
        ]

    def snapshot(self, prices: Mapping[str, Decimal]) -> AccountSnapshot:
        """Account values marked at `prices` (at the average cost where a symbol has no price)."""
        market_value = unrealized = ZERO
        for symbol, p in self.positions_by_symbol.items():
            if p.quantity != ZERO:
                mark = prices.get(symbol, p.avg_price)
                market_value += p.quantity * mark
                unrealized += p.unrealized_pnl(mark)
        return AccountSnapshot(
            account=self.account,
            net_liquidation=self.cash + market_value,
            cash=self.cash,
            realized_pnl=self.realized_pnl,
            unrealized_pnl=unrealized,
        )
