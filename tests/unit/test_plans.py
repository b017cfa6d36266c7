"""Plans: preview, modifications, approval, leg keys and the batch's content hash."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from core.batches import MAX_REF_LENGTH, ApprovedBatch
from core.orders import OrderRequest
from core.plans import (
    Leg,
    Modification,
    PlanError,
    Preview,
    apply_modifications,
    approve,
    build_preview,
    leg_ref,
    parse_leg_ref,
)
from core.risk import RiskLimits, RiskState
from core.scans import ScanRow
from core.sizing import AtrRiskSizer, FixedInvestmentSizer
from core.values import BatchId, OrderType, Side, TimeInForce, TradingState

D = Decimal
NOW = datetime(2026, 1, 2, 14, 30, tzinfo=UTC)
LATER = NOW + timedelta(hours=24)
NO_LIMITS = RiskLimits.unlimited()
FLAT = RiskState()

ROWS = (
    ScanRow("AAPL", D(100), Side.BUY, D(95), D(110), date(2026, 3, 31), D(65), D(28), "breakout"),
    ScanRow("MSFT", D(400), Side.SELL, D(420), D(380), None, None, None, "reversal"),
    ScanRow("IBM", D("33.33"), Side.BUY, D(30), D(40)),
)


def preview(
    limits: RiskLimits = NO_LIMITS, state: RiskState = FLAT, rows: tuple[ScanRow, ...] = ROWS
) -> Preview:
    return build_preview(7, rows, FixedInvestmentSizer(D(10_000)), D(100_000), limits, state)


def sizes(p: Preview) -> dict[str, Decimal]:
    return {line.symbol: line.position_size for line in p.lines}


# --- preview ---------------------------------------------------------------------------------------

def test_preview_sizes_every_row_and_totals_them() -> None:
    p = preview()
    assert sizes(p) == {"AAPL": 100, "MSFT": 25, "IBM": 300}
    assert all(line.risk.approved and line.order_type is OrderType.MARKET for line in p.lines)
    assert [line.investment for line in p.lines] == [D(10_000), D(10_000), D("9999.00")]
    totals = p.totals
    assert (totals.orders, totals.approved, totals.rejected) == (3, 3, 0)
    assert totals.total_shares == 425
    assert totals.total_investment == D("29999.00")
    # 100 x 5 + 25 x 20 + 300 x 3.33
    assert totals.total_risk_to_stop == D(500) + D(500) + D("999.00")
    assert totals.total_reward_to_target == D(1000) + D(500) + D("2001.00")


def test_preview_sizes_are_clamped_to_the_limits() -> None:
    limits = dataclasses.replace(NO_LIMITS, max_order_quantity=D(50), max_order_notional=D(6_000))
    assert sizes(preview(limits)) == {"AAPL": 50, "MSFT": 15, "IBM": 50}


def test_a_row_the_sizer_cannot_size_is_rejected_with_the_reason() -> None:
    p = build_preview(7, ROWS, AtrRiskSizer(D("0.01")), D(100_000), NO_LIMITS, FLAT)
    assert sizes(p) == {"AAPL": 0, "MSFT": 0, "IBM": 0}
    line = p.line("AAPL")
    assert not line.risk.approved
    assert "AAPL has no atr" in line.risk.reasons[0] and "position_size 0" in line.risk.reasons[0]
    assert line.sizing_error is not None


def test_a_line_of_zero_shares_is_rejected_with_what_to_do() -> None:
    limits = dataclasses.replace(NO_LIMITS, max_order_notional=D(350))
    line = preview(limits).line("MSFT")
    assert line.position_size == 0
    assert "the size is 0 shares at 400" in line.risk.reasons[0]


def test_the_preview_checks_the_batch_as_a_whole() -> None:
    limits = dataclasses.replace(NO_LIMITS, max_open_positions=3)
    p = preview(limits, RiskState(positions={"TSLA": D(10)}))
    assert [line.risk.approved for line in p.lines] == [True, True, False]
    assert "max_open_positions 3" in p.line("IBM").risk.reasons[0]


def test_the_preview_ignores_the_order_rate_but_not_the_trading_state() -> None:
    limits = dataclasses.replace(NO_LIMITS, max_orders_per_second=1)
    busy = RiskState(recent_order_times=(NOW, NOW))
    assert preview(limits, busy).totals.rejected == 0
    halted = RiskState(TradingState.HALTED)
    assert preview(NO_LIMITS, halted).totals.rejected == 3


def test_a_scan_with_a_symbol_twice_is_refused() -> None:
    with pytest.raises(PlanError, match="more than one row for AAPL"):
        preview(rows=(*ROWS, ROWS[0]))


# --- modifications -----------------------------------------------------------------------------------

def test_modifications_override_sizes_drop_zeroes_and_recheck_risk() -> None:
    limits = dataclasses.replace(NO_LIMITS, max_order_quantity=D(500))
    mods = [Modification("aapl", D(150)), Modification("MSFT", D(0)), Modification("IBM", D(501))]
    p = apply_modifications(preview(limits), mods, limits, FLAT, NOW)
    assert sizes(p) == {"AAPL": 150, "IBM": 501}
    assert p.dropped == ("MSFT",)
    assert p.line("AAPL").risk.approved
    assert "max_order_quantity 500" in p.line("IBM").risk.reasons[0]


def test_a_dropped_symbol_cannot_be_modified_again() -> None:
    p = apply_modifications(preview(), [Modification("MSFT", D(0))], NO_LIMITS, FLAT, NOW)
    with pytest.raises(PlanError, match="MSFT was already dropped"):
        apply_modifications(p, [Modification("MSFT", D(5))], NO_LIMITS, FLAT, NOW)


def test_an_unmodified_line_keeps_its_size() -> None:
    p = apply_modifications(preview(), [Modification("IBM", D(1))], NO_LIMITS, FLAT, NOW)
    assert sizes(p) == {"AAPL": 100, "MSFT": 25, "IBM": 1}


def test_a_size_set_by_hand_replaces_a_failed_sizing() -> None:
    p = build_preview(7, ROWS, AtrRiskSizer(D("0.01")), D(100_000), NO_LIMITS, FLAT)
    p = apply_modifications(p, [Modification("AAPL", D(10))], NO_LIMITS, FLAT, NOW)
    assert p.line("AAPL").risk.approved and p.line("AAPL").sizing_error is None
    assert "MSFT has no atr" in p.line("MSFT").risk.reasons[0]


def test_every_bad_modification_is_listed_at_once() -> None:
    mods = [Modification("AAPL", D(-1)), Modification("MSFT", D("2.5")), Modification("NVDA", D(5)),
            Modification("IBM", D(5)), Modification("IBM", D(6)), Modification("A/B", D(1))]
    with pytest.raises(PlanError) as caught:
        apply_modifications(preview(), mods, NO_LIMITS, FLAT, NOW)
    problems = caught.value.problems
    assert len(problems) == 5
    assert "AAPL position_size must be a whole number of shares, 0 or more" in problems[0]
    assert "got 2.5" in problems[1]
    assert "NVDA is not in scan 7 (its symbols: AAPL, IBM, MSFT)" in problems[2]
    assert "IBM is modified twice" in problems[3]
    assert "modification 6" in problems[4]


# --- approval --------------------------------------------------------------------------------------

def test_approve_makes_a_batch_with_three_keys_per_line() -> None:
    batch = approve(preview(), "B-42", NOW, LATER)
    assert (batch.batch_id, batch.scan_id, batch.approved_at, batch.expires_at) == ("B-42", 7, NOW, LATER)
    aapl = batch.legs[0]
    assert aapl.refs == ("tb:B-42:AAPL:E", "tb:B-42:AAPL:TP", "tb:B-42:AAPL:SL")
    assert (aapl.symbol, aapl.side, aapl.quantity, aapl.entry_price) == ("AAPL", Side.BUY, D(100), D(100))
    assert (aapl.target_date, aapl.strategy) == (date(2026, 3, 31), "breakout")
    assert (aapl.win_rate, aapl.adx) == (D(65), D(28))
    assert aapl.investment == 10_000


def test_brackets() -> None:
    batch = approve(preview(), "B-42", NOW, LATER)
    brackets = batch.brackets()
    assert [b.symbol for b in brackets] == ["AAPL", "MSFT", "IBM"]
    msft = brackets[1]
    assert msft.entry == OrderRequest(leg_ref("B-42", "MSFT", Leg.ENTRY), "MSFT", Side.SELL, D(25),
                                      OrderType.MARKET, tif=TimeInForce.DAY)
    tp, sl = msft.take_profit, msft.stop_loss
    assert (tp.side, tp.order_type, tp.limit_price, tp.quantity) == (Side.BUY, OrderType.LIMIT, D(380), D(25))
    assert (sl.side, sl.order_type, sl.stop_price, sl.quantity) == (Side.BUY, OrderType.STOP, D(420), D(25))
    assert tp.parent_ref == sl.parent_ref == msft.entry.order_ref
    assert tp.oca_group == sl.oca_group == "tb:B-42:MSFT"
    assert tp.tif is sl.tif is TimeInForce.GTC


def test_approve_refuses_risk_rejected_lines() -> None:
    limits = dataclasses.replace(NO_LIMITS, max_order_quantity=D(200))
    p = apply_modifications(preview(), [Modification("AAPL", D(201)), Modification("IBM", D(500))],
                            limits, FLAT, NOW)
    with pytest.raises(PlanError) as caught:
        approve(p, "B-1", NOW, LATER)
    assert len(caught.value.problems) == 2
    assert caught.value.problems[0].startswith("AAPL is rejected by risk (")
    assert "drop it (position_size 0) or resize it" in caught.value.problems[0]


def test_approve_refuses_an_empty_batch() -> None:
    p = apply_modifications(preview(), [Modification(s, D(0)) for s in ("AAPL", "MSFT", "IBM")],
                            NO_LIMITS, FLAT, NOW)
    with pytest.raises(PlanError, match="nothing to approve"):
        approve(p, "B-1", NOW, LATER)


@pytest.mark.parametrize("batch_id", ["", "B_1", "B:1", "a" * 17, "b 1"])
def test_approve_refuses_a_bad_batch_id(batch_id: str) -> None:
    with pytest.raises(PlanError, match="batch id"):
        approve(preview(), batch_id, NOW, LATER)


def test_approve_refuses_bad_times() -> None:
    with pytest.raises(PlanError, match="must be after approved_at"):
        approve(preview(), "B-1", NOW, NOW)
    with pytest.raises(PlanError, match="timezone-aware"):
        approve(preview(), "B-1", NOW.replace(tzinfo=None), LATER.replace(tzinfo=None))


def test_a_batch_checks_its_own_keys() -> None:
    batch = approve(preview(), "B-42", NOW, LATER)
    wrong = dataclasses.replace(batch.legs[0], entry_ref=leg_ref("B-43", "AAPL", Leg.ENTRY))
    with pytest.raises(PlanError, match="leg keys"):
        dataclasses.replace(batch, legs=(wrong,))
    with pytest.raises(PlanError, match="more than once"):
        dataclasses.replace(batch, legs=(batch.legs[0], batch.legs[0]))


def test_expiry() -> None:
    batch = approve(preview(), "B-42", NOW, LATER)
    assert not batch.is_expired(LATER - timedelta(microseconds=1))
    assert batch.is_expired(LATER)


# --- content hash ----------------------------------------------------------------------------------

# Pinned: the hash must be the same on every run, machine and Python version. If the canonical form
# changes on purpose, every stored batch hash changes with it: update this deliberately.
PINNED_HASH = "24977b9e6bea77e55f79d3c6239873f5d5b8ae4eea4ef0ee3bdd606b105d8f6a"


def test_the_content_hash_is_pinned() -> None:
    batch = approve(preview(), "B-42", NOW, LATER)
    assert batch.content_hash == PINNED_HASH
    text = json.dumps(batch.canonical(), sort_keys=True, separators=(",", ":"))
    assert hashlib.sha256(text.encode()).hexdigest() == PINNED_HASH


def test_the_content_hash_ignores_representation_but_not_content() -> None:
    batch = approve(preview(), "B-42", NOW, LATER)
    same = dataclasses.replace(
        batch,
        legs=tuple(reversed([dataclasses.replace(line, entry_price=line.entry_price.quantize(D("0.0001")))
                             for line in batch.legs])),
        approved_at=NOW.astimezone(UTC).replace(tzinfo=UTC),
    )
    assert same.content_hash == batch.content_hash
    other = dataclasses.replace(batch, expires_at=LATER + timedelta(seconds=1))
    assert other.content_hash != batch.content_hash


def test_canonical_form() -> None:
    canonical = approve(preview(), "B-42", NOW, LATER).canonical()
    assert canonical["approved_at"] == "2026-01-02T14:30:00+00:00"
    orders = canonical["orders"]
    assert isinstance(orders, list)
    assert [o["symbol"] for o in orders] == ["AAPL", "IBM", "MSFT"]
    assert orders[1]["entry_price"] == "33.33" and orders[1]["target_date"] is None


# --- leg keys --------------------------------------------------------------------------------------

def test_leg_ref_format_and_length() -> None:
    assert leg_ref("B-42", "AAPL", Leg.ENTRY) == "tb:B-42:AAPL:E"
    assert leg_ref("B-42", "AAPL", "take_profit") == "tb:B-42:AAPL:TP"
    longest = leg_ref("a" * 16, "BRK.B WI-ABC", Leg.STOP_LOSS)
    assert len(longest) == 35 < MAX_REF_LENGTH


def test_leg_ref_refuses_what_would_not_parse_back() -> None:
    with pytest.raises(PlanError, match="symbol"):
        leg_ref("B-1", "aapl", Leg.ENTRY)
    with pytest.raises(PlanError, match="symbol"):
        leg_ref("B-1", "ABCDEFGHIJKLM", Leg.ENTRY)
    with pytest.raises(PlanError, match="leg"):
        leg_ref("B-1", "AAPL", "exit")


def test_parse_leg_ref() -> None:
    for leg in Leg:
        assert parse_leg_ref(leg_ref("B-42", "BRK.B", leg)) == ("B-42", "BRK.B", leg)


@pytest.mark.parametrize("ref", ["", "manual order", "tb:B-1:AAPL", "tb:B-1:AAPL:X", "xx:B-1:AAPL:E",
                                 "tb:B_1:AAPL:E", "tb:B-1:aapl:E", "tb:B-1:AAPL:E:1"])
def test_parse_leg_ref_refuses_foreign_refs(ref: str) -> None:
    with pytest.raises(PlanError, match="not a tradebridge leg key"):
        parse_leg_ref(ref)


def test_a_batch_is_a_frozen_value() -> None:
    batch = approve(preview(), "B-42", NOW, LATER)
    assert isinstance(batch, ApprovedBatch)
    with pytest.raises(dataclasses.FrozenInstanceError):
        batch.batch_id = BatchId("other")  # type: ignore[misc]
