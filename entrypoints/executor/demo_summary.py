"""The demo's tables: the preview, and the outcome per symbol (orders, fills, P&L) from the cloud's
view of a batch (GET /analysis/orders/batches/{id}) and the simulated market's last prices."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

ZERO = Decimal(0)
CENT = Decimal("0.01")


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool]) -> str:
    """A plain-text table with a header rule; `right` says which columns are right-aligned."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=False)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            str(c).rjust(w) if r else str(c).ljust(w) for c, w, r in zip(cells, widths, right, strict=True)
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])


def money(value: Decimal) -> str:
    return f"{value.quantize(CENT):,}"


def signed(value: Decimal) -> str:
    return f"{value.quantize(CENT):+,}"


def preview_table(preview: Mapping[str, Any]) -> str:
    headers = ("symbol", "side", "price", "shares", "investment $", "stop", "target", "risk check")
    rows = []
    for order in preview["orders"]:
        risk = order["risk"]
        verdict = "approved" if risk["approved"] else "REJECTED: " + "; ".join(risk["reasons"])
        rows.append(
            (
                order["symbol"],
                order["side"],
                str(order["current_price"]),
                str(order["position_size"]),
                money(Decimal(str(order["investment"]))),
                str(order["stop_loss"]),
                str(order["take_profit"]),
                verdict,
            )
        )
    return table(headers, rows, (False, False, True, True, True, True, True, False))


@dataclass(frozen=True, slots=True)
class SymbolOutcome:
    """One bracket's outcome: what was bought/sold, how it ended, and its P&L before commissions."""

    symbol: str
    side: str
    ordered: Decimal
    filled: Decimal
    entry_price: Decimal
    outcome: str
    exit_price: Decimal | None
    realized: Decimal
    unrealized: Decimal


def outcomes(batch: Mapping[str, Any], last_prices: Mapping[str, Decimal]) -> list[SymbolOutcome]:
    """Per order of the batch: fills and P&L from its legs' latest statuses."""
    legs: dict[tuple[str, str], Mapping[str, Any]] = {
        (leg["symbol"], leg["leg"]): leg for leg in batch["legs"]
    }
    result = []
    for order in batch["orders"]:
        symbol = order["symbol"]
        sign = Decimal(1) if str(order["side"]).lower() == "buy" else Decimal(-1)
        entry = legs.get((symbol, "entry"), {})
        filled = Decimal(str(entry.get("filled", 0)))
        entry_price = Decimal(str(entry.get("avg_price", 0)))
        realized, closed, exit_price, outcome = ZERO, ZERO, None, str(entry.get("status", "pending"))
        for name, label in (("take_profit", "target hit"), ("stop_loss", "stopped out")):
            leg = legs.get((symbol, name), {})
            quantity = Decimal(str(leg.get("filled", 0)))
            if quantity > 0:
                price = Decimal(str(leg["avg_price"]))
                realized += (price - entry_price) * quantity * sign
                closed += quantity
                exit_price, outcome = price, label
        open_quantity = filled - closed
        unrealized = ZERO
        if open_quantity > 0:
            outcome = "open, stop working"
            last = last_prices.get(symbol)
            if last is not None:
                unrealized = (last - entry_price) * open_quantity * sign
                exit_price = last
        result.append(
            SymbolOutcome(
                symbol,
                str(order["side"]),
                Decimal(str(order["position_size"])),
                filled,
                entry_price,
                outcome,
                exit_price,
                realized,
                unrealized,
            )
        )
    return result


def outcome_table(items: Sequence[SymbolOutcome]) -> str:
    headers = (
        "symbol",
        "side",
        "ordered",
        "filled",
        "entry",
        "outcome",
        "exit/last",
        "realized $",
        "unrealized $",
    )
    rows = [
        (
            o.symbol,
            o.side,
            str(o.ordered),
            str(o.filled),
            str(o.entry_price),
            o.outcome,
            "" if o.exit_price is None else str(o.exit_price),
            signed(o.realized),
            signed(o.unrealized),
        )
        for o in items
    ]
    total_realized = sum((o.realized for o in items), ZERO)
    total_unrealized = sum((o.unrealized for o in items), ZERO)
    targets = sum(1 for o in items if o.outcome == "target hit")
    stops = sum(1 for o in items if o.outcome == "stopped out")
    rows.append(
        (
            "TOTAL",
            "",
            str(sum((o.ordered for o in items), ZERO)),
            str(sum((o.filled for o in items), ZERO)),
            "",
            f"{targets} target, {stops} stop",
            "",
            signed(total_realized),
            signed(total_unrealized),
        )
    )
    return table(headers, rows, (False, False, True, True, True, False, True, True, True))
