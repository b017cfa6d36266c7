"""From a scan to an approved batch: preview -> modifications -> approve.

A preview sizes every row (clamped to the per-order limits) and checks the risk of its market
entry at the row's price. Lines are checked in scan order against the positions the earlier
approved lines would open, so the preview predicts what the executor's own gate will say about the
whole batch (ten new symbols under a five-position limit: the last five are rejected). The
orders-per-second limit is left out: a plan is not orders being sent now, and the executor paces
and checks what it sends.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from core.batches import (
    ApprovedBatch,
    ApprovedLine,
    Leg,
    PlanError,
    check_batch_id,
    leg_ref,
    parse_leg_ref,
    reuse_canonical_text,
    unchecked_leg_refs,
)
from core.orders import OrderRequest
from core.risk import RiskLimits, RiskState, RiskVerdict, check_order
from core.scans import ScanRow, normalize_symbol
from core.sizing import Sizer, clamp_to_limits
from core.values import ZERO, OrderRef, OrderType

__all__ = [
    "ApprovedBatch", "ApprovedLine", "Leg", "Modification", "PlanError", "Preview", "PreviewLine",
    "PreviewTotals", "apply_modifications", "approve", "build_preview", "leg_ref", "parse_leg_ref",
]

# Plan checks carry no orders-per-second limit, so the check never reads the time; this stands in
# when the caller has none to give.
_NO_TIME = datetime(1970, 1, 1, tzinfo=UTC)


class _LastApprovedSlot:
    # One slot that is not a dataclass field (not compared, not in repr): the line approved from
    # this preview line most recently, whose canonical text the next approval can reuse.
    __slots__ = ("_last_approved",)


@dataclass(frozen=True, slots=True)
class PreviewLine(_LastApprovedSlot):
    """One scan row as an order: its size in whole shares and the risk verdict on its entry.
    `sizing_error` says why the sizer could not size the row (the size is then 0)."""

    row: ScanRow
    position_size: Decimal
    risk: RiskVerdict
    order_type: OrderType = OrderType.MARKET
    sizing_error: str | None = None

    @property
    def symbol(self) -> str:
        return self.row.symbol

    @property
    def investment(self) -> Decimal:
        return self.position_size * self.row.current_price

    @property
    def risk_to_stop(self) -> Decimal:
        """What the line loses if its stop is hit: size * |price - stop|."""
        return self.position_size * self.row.risk_per_share

    @property
    def reward_to_target(self) -> Decimal:
        """What the line gains if its target is hit: size * |target - price|."""
        return self.position_size * abs(self.row.take_profit - self.row.current_price)


@dataclass(frozen=True, slots=True)
class PreviewTotals:
    """Sums over a preview: counts, shares and dollars (all lines, approved or not)."""

    orders: int
    approved: int
    rejected: int
    total_shares: Decimal
    total_investment: Decimal
    approved_investment: Decimal
    total_risk_to_stop: Decimal
    total_reward_to_target: Decimal


@dataclass(frozen=True, slots=True)
class Preview:
    """The orders a scan implies, with risk verdicts. `dropped` lists symbols removed by a
    modification of size 0, so the answer can say what was left out and why."""

    scan_id: int
    lines: tuple[PreviewLine, ...]
    dropped: tuple[str, ...] = ()

    @property
    def totals(self) -> PreviewTotals:
        lines = self.lines
        return PreviewTotals(
            orders=len(lines),
            approved=sum(1 for line in lines if line.risk.approved),
            rejected=sum(1 for line in lines if not line.risk.approved),
            total_shares=sum((line.position_size for line in lines), ZERO),
            total_investment=sum((line.investment for line in lines), ZERO),
            approved_investment=sum((line.investment for line in lines if line.risk.approved), ZERO),
            total_risk_to_stop=sum((line.risk_to_stop for line in lines), ZERO),
            total_reward_to_target=sum((line.reward_to_target for line in lines), ZERO),
        )

    def line(self, symbol: str) -> PreviewLine:
        """The line of `symbol`; KeyError if the preview has none."""
        for line in self.lines:
            if line.symbol == symbol:
                return line
        raise KeyError(f"{symbol} is not in the preview of scan {self.scan_id}")


@dataclass(frozen=True, slots=True)
class Modification:
    """A person's override of one line: a new `position_size` in whole shares; 0 drops the line."""

    symbol: str
    position_size: Decimal


def build_preview(
    scan_id: int,
    rows: Sequence[ScanRow],
    sizer: Sizer,
    equity: Decimal,
    limits: RiskLimits,
    risk_state: RiskState,
    now: datetime | None = None,
) -> Preview:
    """Size every row (whole shares, clamped to the limits) and check the risk of its entry."""
    symbols = [row.symbol for row in rows]
    repeated = sorted({s for s in symbols if symbols.count(s) > 1})
    if repeated:
        raise PlanError(f"scan {scan_id} has more than one row for {', '.join(repeated)}: "
                        f"a scan holds one order per symbol")
    sized: list[tuple[ScanRow, Decimal, str | None]] = []
    for row in rows:
        try:
            sized.append((row, clamp_to_limits(sizer.size(row, equity), row.current_price, limits), None))
        except ValueError as error:
            sized.append((row, ZERO, f"{row.symbol}: cannot size this row: {error}"))
    return Preview(scan_id, _check_lines(sized, limits, risk_state, now or _NO_TIME))


def apply_modifications(
    preview: Preview,
    modifications: Iterable[Modification],
    limits: RiskLimits,
    risk_state: RiskState,
    now: datetime,
) -> Preview:
    """The preview with each modification's size applied (0 drops the line) and risk re-checked.
    Raises PlanError listing every bad modification if any is bad; nothing is applied then."""
    known = {line.symbol for line in preview.lines}
    sizes: dict[str, Decimal] = {}
    problems: list[str] = []
    for number, mod in enumerate(modifications, start=1):
        try:
            symbol = normalize_symbol(mod.symbol)
        except ValueError as error:
            problems.append(f"modification {number}: {error}")
            continue
        size = mod.position_size
        if symbol in preview.dropped:
            problems.append(f"modification {number}: {symbol} was already dropped from this preview; "
                            f"preview scan {preview.scan_id} again to bring it back")
        elif symbol not in known:
            problems.append(f"modification {number}: {symbol} is not in scan {preview.scan_id} "
                            f"(its symbols: {', '.join(sorted(known)) or 'none'})")
        elif symbol in sizes:
            problems.append(f"modification {number}: {symbol} is modified twice; send one size per symbol")
        if not size.is_finite() or size < ZERO or size != size.to_integral_value():
            problems.append(f"modification {number}: {symbol} position_size must be a whole number of "
                            f"shares, 0 or more (0 drops it), got {size}")
        sizes.setdefault(symbol, size)
    if problems:
        raise PlanError(problems)
    kept = [line for line in preview.lines if sizes.get(line.symbol) != ZERO]
    dropped = tuple(line.symbol for line in preview.lines if sizes.get(line.symbol) == ZERO)
    sized = [
        (line.row, sizes[line.symbol], None) if line.symbol in sizes
        else (line.row, line.position_size, line.sizing_error)
        for line in kept
    ]
    lines = _check_lines(sized, limits, risk_state, now)
    return Preview(preview.scan_id, lines, preview.dropped + dropped)


def approve(preview: Preview, batch_id: str, approved_at: datetime, expires_at: datetime) -> ApprovedBatch:
    """Freeze the preview's lines into a batch. Every line must be risk-approved (drop or resize the
    others first); lines of 0 shares are left out; raises PlanError if nothing is left."""
    batch = check_batch_id(batch_id)
    rejected = [f"{line.symbol} is rejected by risk ({'; '.join(line.risk.reasons)}): drop it "
                f"(position_size 0) or resize it" for line in preview.lines if not line.risk.approved]
    if rejected:
        raise PlanError(rejected)
    lines = [line for line in preview.lines if line.position_size > ZERO]
    if not lines:
        raise PlanError(f"nothing to approve: scan {preview.scan_id} has no line with a position_size "
                        f"above 0")
    legs = tuple(_approved_line(batch, line) for line in lines)
    approved = ApprovedBatch(batch, preview.scan_id, approved_at, expires_at, legs)
    # A preview is memoised per scan (PreviewMemo) and placed again and again: the next approval
    # of these lines writes the same canonical text around its new keys (`reuse_canonical_text`).
    for line, leg in zip(lines, legs, strict=True):
        object.__setattr__(line, "_last_approved", leg)
    return approved


def _approved_line(batch_id: str, line: PreviewLine) -> ApprovedLine:
    # The three keys in one go, unchecked: the batch id is checked above, and ApprovedBatch checks
    # every symbol (a bad one raises the PlanError `leg_refs` would) and the keys against both.
    entry_ref, take_profit_ref, stop_loss_ref = unchecked_leg_refs(batch_id, line.symbol)
    row = line.row
    approved = ApprovedLine(
        line.symbol, row.side, line.position_size, row.current_price, row.stop_loss, row.take_profit,
        row.target_date, row.strategy, row.win_rate, row.adx, entry_ref=entry_ref,
        take_profit_ref=take_profit_ref, stop_loss_ref=stop_loss_ref, order_type=line.order_type,
    )
    earlier: ApprovedLine | None = getattr(line, "_last_approved", None)  # unset until approved once
    if earlier is not None:
        reuse_canonical_text(approved, earlier)
    return approved


def _check_lines(
    sized: Sequence[tuple[ScanRow, Decimal, str | None]],
    limits: RiskLimits,
    risk_state: RiskState,
    now: datetime,
) -> tuple[PreviewLine, ...]:
    plan_limits = dataclasses.replace(limits, max_orders_per_second=None)
    positions = dict(risk_state.positions)
    lines: list[PreviewLine] = []
    for row, size, sizing_error in sized:
        if sizing_error is not None and size == ZERO:
            verdict = RiskVerdict.reject(f"{sizing_error}; or drop it (position_size 0)")
        elif size == ZERO:
            verdict = RiskVerdict.reject(
                f"{row.symbol}: the size is 0 shares at {row.current_price} (the sizer or the per-order "
                f"limits allow no whole share): set a position_size above 0, or drop it (position_size 0)"
            )
        else:
            entry = OrderRequest(OrderRef(f"preview:{row.symbol}"), row.symbol, row.side, size)
            state = dataclasses.replace(risk_state, positions=positions, recent_order_times=())
            verdict = check_order(entry, plan_limits, state, row.current_price, now)
            if verdict.approved:
                positions[row.symbol] = positions.get(row.symbol, ZERO) + size * row.side.sign
        lines.append(PreviewLine(row, size, verdict, sizing_error=sizing_error if size == ZERO else None))
    return tuple(lines)
