"""The rows a placement writes and the StoredBatch it answers with, built by hand for speed, are
the ones the plain constructions give."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

from adapters.storage.batch_rows import LEG_ORDER, leg_rows, line_rows, stored_batch
from core.stores import LegState, LegStatus, StoredBatch
from core.values import ZERO, Side
from tests.contract.storage_builders import make_batch

NOW = datetime(2026, 1, 2, 14, 30, tzinfo=UTC)


def test_a_stored_batch_has_every_leg_pending_as_the_plain_constructor_makes_it() -> None:
    batch = make_batch("B-1", ("AAPL", "MSFT", "BRK.B"), approved_at=NOW)
    payload = {"batch_id": "B-1"}
    stored = stored_batch(batch, batch.content_hash, ("DU1",), NOW, payload)
    expected = tuple(
        LegStatus(batch.batch_id, ref, line.symbol, leg)
        for line in batch.legs
        for leg, ref in zip(LEG_ORDER, line.refs, strict=True)
    )
    assert stored == StoredBatch(batch, batch.content_hash, ("DU1",), NOW, expected, payload)
    for made, plain in zip(stored.legs, expected, strict=True):
        assert type(made) is LegStatus  # not the writable twin it was filled through
        assert repr(made) == repr(plain) and hash(made) == hash(plain)
        assert dataclasses.astuple(made) == dataclasses.astuple(plain)
    try:
        stored.legs[0].status = LegState.FILLED  # type: ignore[misc]
    except dataclasses.FrozenInstanceError:
        pass
    else:
        raise AssertionError("a stored leg must stay frozen")


def test_a_stored_batch_is_in_utc() -> None:
    elsewhere = timezone(timedelta(hours=2))
    batch = make_batch("B-2", approved_at=NOW.astimezone(elsewhere))
    stored = stored_batch(batch, batch.content_hash, ("DU1",), NOW.astimezone(elsewhere), {})
    assert stored.batch.approved_at.tzinfo is UTC and stored.batch.expires_at.tzinfo is UTC
    assert stored.created_at.tzinfo is UTC and stored.created_at == NOW


def test_the_rows_carry_every_value_of_the_batch() -> None:
    batch = make_batch("B-3", ("AAPL", "MSFT"))
    assert line_rows(batch) == [
        {"batch_id": "B-3", "position": position, "symbol": line.symbol, "side": line.side.value,
         "quantity": line.quantity, "entry_price": line.entry_price, "stop_loss": line.stop_loss,
         "take_profit": line.take_profit, "target_date": line.target_date, "strategy": line.strategy,
         "win_rate": line.win_rate, "adx": line.adx, "order_type": line.order_type.value}
        for position, line in enumerate(batch.legs)
    ]
    assert line_rows(batch)[0]["side"] == Side.BUY.value
    assert leg_rows(batch) == [
        {"batch_id": "B-3", "status": "pending", "filled": ZERO, "avg_price": ZERO, "message": "",
         "updated_at": None, "order_ref": ref, "position": position, "symbol": symbol, "leg": leg.value}
        for position, (symbol, leg, ref) in enumerate(
            (line.symbol, leg, ref)
            for line in batch.legs
            for leg, ref in zip(LEG_ORDER, line.refs, strict=True)
        )
    ]
    assert all(type(row["filled"]) is Decimal for row in leg_rows(batch))
