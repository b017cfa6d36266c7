"""The content hash is taken of a text written directly (and, on a re-approval, partly reused):
it must be byte for byte the text `json.dumps` writes of `ApprovedBatch.canonical()`, which
defines it (stored batches are checked against their stored hash when read back)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import string
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from core.batches import (
    ApprovedBatch,
    ApprovedLine,
    _canonical_text,
    reuse_canonical_text,
    unchecked_leg_refs,
)
from core.plans import Modification, PreviewLine, apply_modifications, approve, build_preview
from core.risk import RiskLimits, RiskState
from core.scans import parse_scan_rows
from core.sizing import FixedInvestmentSizer
from core.values import BatchId, OrderType, Side

D = Decimal
NOW = datetime(2026, 1, 2, 14, 30, 5, 123456, tzinfo=UTC)

symbols = st.text(alphabet=string.ascii_uppercase + string.digits + ".- ", min_size=1, max_size=12)
batch_ids = st.text(alphabet=string.ascii_letters + string.digits + "-", min_size=1, max_size=16)
# Every spelling the digits can take: trailing zeros, exponents, 0 and -0, large and tiny.
decimals = st.one_of(
    st.decimals(allow_nan=False, allow_infinity=False, places=None, min_value=-(10**12), max_value=10**12),
    st.sampled_from([D("0"), D("-0"), D("0.00"), D("-0.000"), D("1E+2"), D("100"), D("100.0"), D("1E-9"),
                     D("12345678901234567890.123456789"), D("0.1000"), D("-7.50")]),
)
texts = st.text(max_size=12)  # any characters: quotes, backslashes, control and non-ASCII ones
times = st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1), timezones=st.sampled_from(
    [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))]))


def reference_hash(batch: ApprovedBatch) -> str:
    """The hash as defined: sha256 of the sorted, compact, ASCII JSON of `canonical()`."""
    text = json.dumps(batch.canonical(), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


@st.composite
def approved_lines(draw: st.DrawFn, batch_id: str) -> tuple[ApprovedLine, ...]:
    lines = []
    for symbol in draw(st.lists(symbols, min_size=1, max_size=5, unique=True)):
        lines.append(ApprovedLine(
            symbol, draw(st.sampled_from(Side)),
            draw(decimals), draw(decimals), draw(decimals), draw(decimals),
            draw(st.one_of(st.none(), st.dates(date(1990, 1, 1), date(2100, 1, 1)))), draw(texts),
            draw(st.one_of(st.none(), decimals)), draw(st.one_of(st.none(), decimals)),
            *unchecked_leg_refs(batch_id, symbol), order_type=draw(st.sampled_from(OrderType)),
        ))
    return tuple(lines)


@st.composite
def batches(draw: st.DrawFn) -> ApprovedBatch:
    batch_id = draw(batch_ids)
    approved_at = draw(times)
    return ApprovedBatch(BatchId(batch_id), draw(st.integers(1, 2**62)), approved_at,
                         approved_at + draw(st.timedeltas(timedelta(seconds=1), timedelta(days=400))),
                         draw(approved_lines(batch_id)))


@given(batches())
def test_the_direct_text_is_the_json_of_canonical(batch: ApprovedBatch) -> None:
    assert _canonical_text(batch) == json.dumps(
        batch.canonical(), sort_keys=True, separators=(",", ":"), ensure_ascii=True
    )
    assert batch.content_hash == reference_hash(batch)


def test_fields_of_other_types_are_hashed_by_the_general_encoder() -> None:
    batch = ApprovedBatch(BatchId("B-1"), 7, NOW, NOW + timedelta(days=1), (
        ApprovedLine("AAPL", Side.BUY, D(3), D("100.50"), D(95), D(110), None, "x", None, None,
                     *unchecked_leg_refs("B-1", "AAPL")),
    ))
    odd_scan = dataclasses.replace(batch, scan_id=True)  # json.dumps writes `true`
    no_strategy: Any = None  # typed str; a None is written by json.dumps as null
    no_strategy_line = dataclasses.replace(batch.legs[0], strategy=no_strategy)
    odd_strategy = dataclasses.replace(batch, legs=(no_strategy_line,))
    for odd in (odd_scan, odd_strategy):
        assert _canonical_text(odd) is None
        assert odd.content_hash == reference_hash(odd)
        assert odd.content_hash != batch.content_hash


@st.composite
def scans(draw: st.DrawFn) -> list[dict[str, object]]:
    rows = []
    stripped = symbols.filter(lambda s: s == s.strip())
    for symbol in draw(st.lists(stripped, min_size=1, max_size=5, unique=True)):
        price = D(draw(st.integers(100, 10**7))) / 100
        side = draw(st.sampled_from(("Buy", "Sell")))
        stop, target = (price - D("0.5"), price * 2) if side == "Buy" else (price * 2, price - D("0.5"))
        row: dict[str, object] = {"symbol": symbol, "current_price": str(price), "side": side,
                                  "stop_loss": str(stop), "take_profit": str(target), "strategy": draw(texts)}
        if draw(st.booleans()):
            row["target_date"] = draw(st.dates(date(2026, 1, 1), date(2030, 1, 1))).isoformat()
        rows.append(row)
    return rows


@given(scans(), st.lists(batch_ids, min_size=2, max_size=4, unique=True), st.data())
def test_approving_a_preview_again_reuses_only_what_is_the_same(
    rows: list[dict[str, object]], ids: list[str], data: st.DataObject
) -> None:
    parsed = parse_scan_rows(rows)
    assert parsed.ok, parsed.errors
    preview = build_preview(3, parsed.rows, FixedInvestmentSizer(D(10**6)), D(10**9), RiskLimits.unlimited(),
                            RiskState())
    for number, batch_id in enumerate(ids):
        plan = preview
        if number % 2:  # a new size for one line: that line's text is made again, the others reused
            line = data.draw(st.sampled_from(preview.lines))
            size = data.draw(st.integers(1, 10**6))
            plan = apply_modifications(preview, [Modification(line.symbol, D(size))], RiskLimits.unlimited(),
                                       RiskState(), NOW)
        batch = approve(plan, batch_id, NOW, NOW + timedelta(days=1))
        assert batch.content_hash == reference_hash(batch)
        # The same batch made from fresh lines (nothing kept on them) hashes the same.
        fresh = ApprovedBatch(batch.batch_id, batch.scan_id, batch.approved_at, batch.expires_at,
                              tuple(dataclasses.replace(line) for line in batch.legs))
        assert fresh.content_hash == batch.content_hash


def test_a_line_with_equal_but_not_identical_values_makes_its_own_text() -> None:
    # 100 and 100.0 are equal and written alike, 0 and -0 are equal and written differently: the
    # reuse goes by identity, never by equality.
    for first, second in ((D(0), D("-0")), (D("100"), D("100.0")), (D("2.50"), D("2.5"))):
        earlier = approve_one("B-1", first)
        later_line = dataclasses.replace(earlier.legs[0], quantity=second,
                                         entry_ref=unchecked_leg_refs("B-2", "AAPL")[0],
                                         take_profit_ref=unchecked_leg_refs("B-2", "AAPL")[1],
                                         stop_loss_ref=unchecked_leg_refs("B-2", "AAPL")[2])
        reuse_canonical_text(later_line, earlier.legs[0])
        later = ApprovedBatch(BatchId("B-2"), 1, NOW, NOW + timedelta(days=1), (later_line,))
        assert later.content_hash == reference_hash(later)


def approve_one(batch_id: str, quantity: Decimal) -> ApprovedBatch:
    line = ApprovedLine("AAPL", Side.BUY, quantity, D("100.25"), D(95), D(110), date(2027, 3, 31), "s",
                        D("60"), None, *unchecked_leg_refs(batch_id, "AAPL"))
    return ApprovedBatch(BatchId(batch_id), 1, NOW, NOW + timedelta(days=1), (line,))


def test_the_kept_text_is_no_field() -> None:
    # Equality, repr, `replace` and `fields` see the fourteen fields only.
    batch = approve_one("B-1", D(5))
    line = batch.legs[0]
    assert [field.name for field in dataclasses.fields(line)][-1] == "order_type"
    assert len(dataclasses.fields(line)) == 14
    copy = dataclasses.replace(line)
    assert copy == line and hash(copy) == hash(line) and repr(copy) == repr(line)
    assert "_canonical" not in repr(line)
    assert [field.name for field in dataclasses.fields(PreviewLine)] == [
        "row", "position_size", "risk", "order_type", "sizing_error"]


def test_a_preview_approved_again_reuses_its_lines_text_under_the_new_keys() -> None:
    parsed = parse_scan_rows([
        {"symbol": "AAPL", "current_price": "100.50", "side": "Buy", "stop_loss": "95", "take_profit": "110"},
        {"symbol": "MSFT", "current_price": "300", "side": "Sell", "stop_loss": "310", "take_profit": "280",
         "strategy": 'say "hi" \\ né', "target_date": "2027-03-31"},
    ])
    assert parsed.ok, parsed.errors
    preview = build_preview(3, parsed.rows, FixedInvestmentSizer(D(10_000)), D(10**6), RiskLimits.unlimited(),
                            RiskState())
    first = approve(preview, "B-1", NOW, NOW + timedelta(days=1))
    second = approve(preview, "B-2", NOW, NOW + timedelta(days=1))
    for earlier, later in zip(first.legs, second.legs, strict=True):
        assert getattr(later, "_canonical") is getattr(earlier, "_canonical")  # noqa: B009 (no field)
    assert second.content_hash == reference_hash(second) != first.content_hash == reference_hash(first)
