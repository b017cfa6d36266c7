"""The `/listen_events` frames: round trips, Decimal exactness, and clear refusals."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.wire import messages as wire


def test_a_batch_frame_round_trips_with_its_sequence() -> None:
    order = wire.WireOrder(
        order_ref="tb:B1:AAPL:E", symbol="AAPL", side="BUY", quantity=Decimal(150), order_type="MKT",
        entry_price=Decimal("187.25"), stop_loss=Decimal("180.10"), take_profit=Decimal("200.00"),
        target_date="2027-01-15", strategy="breakout",
        legs=wire.OrderLegs(entry="tb:B1:AAPL:E", take_profit="tb:B1:AAPL:TP", stop_loss="tb:B1:AAPL:SL"),
    )
    data = wire.TradingOrdersGenerated(batch_id="B1", scan_id=123, orders=[order])
    frame = wire.decode(wire.encode(wire.TRADING_ORDERS_GENERATED, data, seq=7))
    assert frame.event == wire.TRADING_ORDERS_GENERATED and frame.seq == 7
    assert frame.data == data


@given(st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999"), places=2))
def test_prices_keep_every_digit(price: Decimal) -> None:
    status = wire.LocalTradingStatus(
        batch_id="B1", order_ref="r", symbol="A", status="filled", filled=Decimal(3), avg_price=price
    )
    decoded = wire.decode(wire.encode(wire.LOCAL_TRADING_STATUS, status)).data
    assert decoded.avg_price == price


def test_unknown_fields_are_tolerated_for_forward_compatibility() -> None:
    frame = wire.decode(b'{"event":"ack","data":{"seq":4,"from_a_newer_executor":true}}')
    assert frame.data == wire.Ack(seq=4)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"not json", "not a frame"),
        (b'{"data":{}}', "not a frame"),
        (b'{"event":"launch_rockets","data":{}}', "unknown event 'launch_rockets'"),
        (b'{"event":"ack","data":{"seq":"x"}}', "ack: Expected `int`, got `str` - at `$.data.seq`"),
        (b'{"event":"resume","data":{}}', "resume: Object missing required field `account`"),
        (
            b'{"event":"local_trading_status","data":{"batch_id":"b","order_ref":"r","symbol":"A",'
            b'"status":"done"}}',
            "status 'done' is not one of",
        ),
    ],
)
def test_bad_frames_are_refused_with_the_reason(raw: bytes, message: str) -> None:
    with pytest.raises(wire.BadFrame, match=message.replace("$", r"\$").replace("`", ".")):
        wire.decode(raw)


def test_oversized_frames_are_refused_before_parsing() -> None:
    with pytest.raises(wire.BadFrame, match="above the"):
        wire.decode(b" " * (wire.MAX_FRAME_BYTES + 1))


def _status(number: int, status: str = "working", price: str = "0") -> wire.LocalTradingStatus:
    return wire.LocalTradingStatus(
        batch_id="B1", order_ref=f"tb:B1:S{number}:E", symbol=f"S{number}", status=status,
        filled=Decimal(1), avg_price=Decimal(price), status_id=f"s{number}", account="ACC1",
    )


@given(st.lists(st.decimals(min_value=Decimal(0), max_value=Decimal("99999"), places=4), max_size=30))
def test_a_frame_of_statuses_round_trips_every_digit(prices: list[Decimal]) -> None:
    data = wire.LocalTradingStatuses(
        statuses=[_status(number, "filled", str(price)) for number, price in enumerate(prices)]
    )
    frame = wire.decode(wire.encode(wire.LOCAL_TRADING_STATUSES, data))
    assert frame.event == wire.LOCAL_TRADING_STATUSES
    assert frame.data == data
    assert [str(s.avg_price) for s in frame.data.statuses] == [str(price) for price in prices]


def test_statuses_acknowledged_round_trips_and_refusals_are_optional() -> None:
    answer = wire.StatusesAcknowledged(status_ids=["s1", "s2"], refused={"s3": "no leg tb:B1:X:E"})
    assert wire.decode(wire.encode(wire.STATUSES_ACKNOWLEDGED, answer)).data == answer
    plain = wire.decode(b'{"event":"statuses_acknowledged","data":{"status_ids":["s9"]}}').data
    assert plain == wire.StatusesAcknowledged(status_ids=["s9"], refused={})


def test_a_frame_of_statuses_is_checked_item_by_item_and_capped() -> None:
    bad = b'{"event":"local_trading_statuses","data":{"statuses":[' + (
        b'{"batch_id":"B1","order_ref":"r","symbol":"A","status":"done"}]}}'
    )
    with pytest.raises(wire.BadFrame, match=r"local_trading_statuses: status 'done' is not one of"):
        wire.decode(bad)
    too_many = {"statuses": [_status(n) for n in range(wire.MAX_STATUSES_PER_FRAME + 1)]}
    with pytest.raises(wire.BadFrame, match="at most 500; split them"):
        wire.decode(wire.encode(wire.LOCAL_TRADING_STATUSES, too_many))
    empty = wire.LocalTradingStatuses(statuses=[])
    assert wire.decode(wire.encode(wire.LOCAL_TRADING_STATUSES, empty)).data == empty
