"""Properties of plans: the content hash and the leg keys."""

from __future__ import annotations

import dataclasses
import string
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from random import Random

from hypothesis import given
from hypothesis import strategies as st

from core.batches import MAX_REF_LENGTH, ApprovedBatch, ApprovedLine
from core.plans import Leg, approve, build_preview, leg_ref, parse_leg_ref
from core.risk import RiskLimits, RiskState
from core.scans import parse_scan_rows
from core.sizing import FixedInvestmentSizer
from core.values import BatchId, OrderType, Side

D = Decimal
NOW = datetime(2026, 1, 2, 14, 30, tzinfo=UTC)

symbols = st.text(alphabet=string.ascii_uppercase + string.digits + ".- ", min_size=1, max_size=12).filter(
    lambda s: s == s.strip())
batch_ids = st.text(alphabet=string.ascii_letters + string.digits + "-", min_size=1, max_size=16)
cents = st.integers(100, 10**7).map(lambda c: D(c) / 100)


@st.composite
def raw_rows(draw: st.DrawFn) -> list[dict[str, object]]:
    """Valid scan rows as an API client sends them, with unique symbols."""
    rows = []
    for symbol in draw(st.lists(symbols, min_size=1, max_size=6, unique=True)):
        price = draw(cents)
        below, above = price - draw(st.integers(1, 99)) / D(100), price + draw(cents)
        side = draw(st.sampled_from(("Buy", "Sell")))
        stop, target = (below, above) if side == "Buy" else (above, below)
        row: dict[str, object] = {"symbol": symbol, "current_price": str(price), "side": side,
                                  "stop_loss": str(stop), "take_profit": str(target)}
        if draw(st.booleans()):
            row["target_date"] = draw(st.dates(date(2026, 1, 1), date(2030, 1, 1))).isoformat()
        if draw(st.booleans()):
            row["strategy"] = draw(st.text(max_size=10))
        rows.append(row)
    return rows


def batch_of(rows: list[dict[str, object]], batch_id: str = "B-1") -> ApprovedBatch:
    parsed = parse_scan_rows(rows)
    assert parsed.ok, parsed.errors
    preview = build_preview(3, parsed.rows, FixedInvestmentSizer(D(10**9)), D(10**9),
                            RiskLimits.unlimited(), RiskState())
    return approve(preview, batch_id, NOW, NOW + timedelta(days=1))


@given(raw_rows(), st.randoms(use_true_random=False))
def test_the_hash_is_stable_under_reordering_of_rows_and_of_their_fields(
    rows: list[dict[str, object]], rnd: Random
) -> None:
    reordered = []
    for row in rows:
        items = list(row.items())
        rnd.shuffle(items)
        reordered.append(dict(items))
    rnd.shuffle(reordered)
    assert batch_of(reordered).content_hash == batch_of(rows).content_hash


def changed_lines(line: ApprovedLine, batch_id: str, taken: set[str]) -> list[ApprovedLine]:
    """The line with each of its fields changed, one at a time (keys follow a changed symbol)."""
    free_symbol = next(s for s in ("ZZ", "YY", "XX", "WW", "VV", "UU", "TT", "SS") if s not in taken)
    refs = {f"{leg.value}_ref": leg_ref(batch_id, free_symbol, leg) for leg in Leg}
    later = (line.target_date or date(2026, 1, 1)) + timedelta(days=1)
    return [
        dataclasses.replace(line, symbol=free_symbol, **refs),  # type: ignore[arg-type]
        dataclasses.replace(line, side=line.side.opposite),
        dataclasses.replace(line, quantity=line.quantity + 1),
        dataclasses.replace(line, entry_price=line.entry_price + D("0.01")),
        dataclasses.replace(line, stop_loss=line.stop_loss + D("0.01")),
        dataclasses.replace(line, take_profit=line.take_profit + D("0.01")),
        dataclasses.replace(line, target_date=later),
        dataclasses.replace(line, strategy=line.strategy + "x"),
        dataclasses.replace(line, win_rate=(line.win_rate or D(0)) + 1),
        dataclasses.replace(line, adx=(line.adx or D(0)) + 1),
        dataclasses.replace(line, order_type=OrderType.LIMIT),
    ]


@given(raw_rows(), st.data())
def test_the_hash_changes_when_any_order_field_changes(
    rows: list[dict[str, object]], data: st.DataObject
) -> None:
    batch = batch_of(rows)
    index = data.draw(st.integers(0, len(batch.legs) - 1))
    taken = {line.symbol for line in batch.legs}
    variants = [
        dataclasses.replace(batch, legs=(*batch.legs[:index], changed, *batch.legs[index + 1:]))
        for changed in changed_lines(batch.legs[index], batch.batch_id, taken)
    ]
    variants += [
        dataclasses.replace(batch, scan_id=batch.scan_id + 1),
        dataclasses.replace(batch, expires_at=batch.expires_at + timedelta(seconds=1)),
        dataclasses.replace(batch, approved_at=batch.approved_at - timedelta(seconds=1)),
        batch_of(rows, "B-2"),
    ]
    hashes = [variant.content_hash for variant in variants]
    assert batch.content_hash not in hashes
    assert len(set(hashes)) == len(hashes)


@given(batch_ids, st.lists(symbols, min_size=1, max_size=20, unique=True))
def test_leg_refs_are_unique_short_and_parse_back(batch_id: str, syms: list[str]) -> None:
    refs = [leg_ref(batch_id, symbol, leg) for symbol in syms for leg in Leg]
    assert len(set(refs)) == len(refs)
    for ref, (symbol, leg) in zip(refs, [(s, leg) for s in syms for leg in Leg], strict=True):
        assert len(ref) < MAX_REF_LENGTH
        assert parse_leg_ref(ref) == (BatchId(batch_id), symbol, leg)


@given(st.lists(batch_ids, min_size=2, max_size=2, unique=True), symbols)
def test_leg_refs_differ_between_batches(ids: list[str], symbol: str) -> None:
    first, second = ids
    refs = [{leg_ref(batch_id, symbol, leg) for leg in Leg} for batch_id in (first, second)]
    assert refs[0].isdisjoint(refs[1])


@given(raw_rows())
def test_an_approved_batch_has_whole_positive_quantities_and_valid_brackets(
    rows: list[dict[str, object]]
) -> None:
    batch = batch_of(rows)
    for bracket, line in zip(batch.brackets(), batch.legs, strict=True):
        assert line.quantity > 0 and line.quantity == line.quantity.to_integral_value()
        assert bracket.entry.side is line.side
        assert bracket.take_profit.side is bracket.stop_loss.side is line.side.opposite
        stop, target = bracket.stop_loss.stop_price, bracket.take_profit.limit_price
        assert stop is not None and target is not None
        assert (stop < target) is (line.side is Side.BUY)
