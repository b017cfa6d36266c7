"""A position in one symbol, as the fold of its fills.

Average-cost accounting: buying adds to the cost basis, selling against a long realizes
`(price - average price) * quantity`, and shorts mirror it. A fill larger than the position closes
it and opens the rest on the other side at the fill's price (a flip).

The books are exact. The open position is kept as a signed cost basis (the sum of
`price * quantity` of what is open), so adding fills is exact and independent of their order, and
the average price is derived from it. The one division in the fold is the share of the cost basis
that a partial close takes away: when the average does not terminate in decimal (3 shares bought
for $4.00) that share is kept to 12 decimal places (`COST_QUANTUM`, a ten-billionth of a cent) and the
difference lands in the realized P&L of that fill. Every other step is an exact Decimal sum or
product (exact while numbers fit the 28 digits of the Decimal context, which trading sizes do),
so realized + unrealized P&L equals the cash paid and received plus the open quantity at the mark,
to the last digit. Rounding to cents is for display and reports, never for the books.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from core.broker_events import Fill
from core.values import ZERO, Side

COST_QUANTUM = Decimal("1e-12")
_BUY = Side.BUY


@dataclass(slots=True)
class Position:
    """The position in one symbol: signed quantity (negative is short), its cost basis, the P&L
    realized by closing fills (gross) and the commissions paid. Change it only through `apply`.

    Fills are expected once each: de-duplicate by execution id before folding (the executor does
    it through `Order.add_fill`).
    """

    symbol: str
    quantity: Decimal = ZERO
    cost_basis: Decimal = ZERO  # signed: quantity * average price, negative for a short
    realized_pnl: Decimal = ZERO
    commissions: Decimal = ZERO

    @property
    def avg_price(self) -> Decimal:
        """Average entry price of the open quantity; 0 when flat."""
        if self.quantity == ZERO:
            return ZERO
        return self.cost_basis / self.quantity

    @property
    def is_flat(self) -> bool:
        return self.quantity == ZERO

    @property
    def side(self) -> Side | None:
        """BUY for a long, SELL for a short, None when flat."""
        if self.quantity == ZERO:
            return None
        return Side.BUY if self.quantity > ZERO else Side.SELL

    def unrealized_pnl(self, mark: Decimal) -> Decimal:
        """What closing the open quantity at `mark` would realize (before commissions)."""
        return self.quantity * mark - self.cost_basis

    def net_pnl(self, mark: Decimal) -> Decimal:
        """Realized plus unrealized at `mark`, minus every commission paid."""
        return self.realized_pnl + self.unrealized_pnl(mark) - self.commissions

    def apply(self, fill: Fill) -> Decimal:
        """Fold one fill into the position and return the P&L it realized (gross)."""
        # The fill's fields are read once each: this runs once per execution.
        fill_quantity, price = fill.quantity, fill.price
        if fill.symbol != self.symbol:
            raise ValueError(
                f"fill {fill.exec_id} is for {fill.symbol!r} and cannot be applied to the position in "
                f"{self.symbol!r}; route each fill to the position of its own symbol"
            )
        if fill_quantity <= ZERO:
            raise ValueError(
                f"fill {fill.exec_id} ({fill.symbol}) has quantity {fill_quantity}; "
                "a fill quantity must be above 0 (the side says the direction)"
            )
        if price <= ZERO:
            raise ValueError(
                f"fill {fill.exec_id} ({fill.symbol}) has price {price}; a price must be above 0"
            )
        self.commissions += fill.commission
        # Unary plus and minus round exactly as multiplying by the side's sign (+1 / -1) does, digit
        # for digit, without turning the int into a Decimal first (this runs once per execution).
        buy = fill.side is _BUY
        signed = +fill_quantity if buy else -fill_quantity
        quantity = self.quantity
        # Opening or adding: flat, or the fill's side (the sign of `signed`) is the position's.
        if not quantity or (long := quantity > ZERO) is buy:
            self.quantity = quantity + signed
            self.cost_basis += signed * price
            return ZERO
        # Reducing: close up to all of it, then open any rest at `price` (written here, not in a
        # helper: one fill in two closes).
        held = quantity if long else -quantity  # abs(), without a new Decimal for a long
        # Whether it closes everything: min(held, size) is then `held` (the first of equals).
        whole = held <= fill_quantity
        if whole:
            # Closing everything removes the whole cost basis exactly, whatever the average was.
            closing = held
            closed_cost = self.cost_basis
        else:
            closing = fill_quantity
            closed_cost = (self.cost_basis * closing / held).quantize(COST_QUANTUM, ROUND_HALF_EVEN)
        # What (+1 or -1) * closing * price gives, digit for digit: rounding is symmetric in sign.
        proceeds = closing * price
        realized = (proceeds if long else -proceeds) - closed_cost
        self.realized_pnl += realized
        self.quantity = quantity = quantity + signed
        if whole:
            # Flat, or flipped: the rest opens on the other side at this fill's price.
            self.cost_basis = quantity * price
        else:
            self.cost_basis -= closed_cost
        return realized


def fold_fills(symbol: str, fills: Iterable[Fill]) -> Position:
    """The position in `symbol` after `fills`, in the order given; a fill for another symbol
    raises ValueError."""
    position = Position(symbol)
    for fill in fills:
        position.apply(fill)
    return position
