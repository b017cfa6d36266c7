"""A `local_trading_statuses` frame at the cloud, over in-memory fakes: one answer, refusals in
their places, and each stored status shown to the observers as the very `local_trading_status`
frame it would be alone. Also the shortcuts that path takes, each shown exact: frames encoded in
one call, values built through writable twins, observers sent a frame's statuses in one turn of
the send lock, and an instance's own notices recognised by their origin alone."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import UTC, datetime
from decimal import Decimal

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.storage.status_batches import _leg_status
from adapters.wire import messages
from core.batches import Leg
from core.publisher import InMemoryPublisher
from core.service_layer.cloud import (
    PlaceOrders,
    StatusReport,
    _leg_report,
    place_modified_orders,
    record_statuses,
)
from core.stores import LegReport, LegState, LegStatus, UnknownOrderRef
from core.values import BatchId, OrderRef
from entrypoints.cloud.delivery_hub import EVENTS_CHANNEL, DeliveryHub
from entrypoints.cloud.websocket import _status_report, handle_frame
from tests.unit.test_delivery_hub import hub_world, peer

TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=12)
MONEY = st.decimals(allow_nan=False, allow_infinity=False, places=None)


@st.composite
def statuses(draw: st.DrawFn) -> messages.LocalTradingStatus:
    return messages.LocalTradingStatus(
        batch_id=draw(TEXT), order_ref=draw(TEXT), symbol=draw(TEXT),
        status=draw(st.sampled_from(sorted(messages.LEG_STATUSES))),
        filled=draw(MONEY), avg_price=draw(MONEY), message=draw(TEXT),
        status_id=draw(st.none() | TEXT), account=draw(st.none() | TEXT), time=draw(st.none() | TEXT),
    )


@given(st.lists(statuses(), max_size=8), st.sampled_from([messages.LOCAL_TRADING_STATUS, 'odd "event"\n']))
def test_frames_encoded_together_are_each_the_frame_encoded_alone(
    items: list[messages.LocalTradingStatus], event: str
) -> None:
    assert messages.encode_texts(event, items) == [messages.encode(event, item).decode() for item in items]


def test_a_status_report_made_through_its_twin_is_an_ordinary_frozen_one() -> None:
    item = messages.LocalTradingStatus(batch_id="B1", order_ref="r", symbol="AAPL", status="filled",
                                       filled=Decimal("3"), avg_price=Decimal("1.50"), message="m")
    made = _status_report(item)
    assert type(made) is StatusReport
    assert made == StatusReport("B1", "r", "filled", Decimal("3"), Decimal("1.50"), "m")
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.status = "working"  # type: ignore[misc]


def test_a_leg_status_made_through_its_twin_is_an_ordinary_frozen_one() -> None:
    fields = (BatchId("B1"), OrderRef("r"), "AAPL", Leg.STOP_LOSS, LegState.WORKING, Decimal("0"),
              Decimal("0.0"), "", datetime(2026, 1, 2, tzinfo=UTC))
    made = _leg_status(*fields)
    assert type(made) is LegStatus and made == LegStatus(*fields)
    assert hash(made) == hash(LegStatus(*fields)) and not hasattr(made, "__dict__")
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.filled = Decimal(1)  # type: ignore[misc]


async def test_refused_reports_keep_their_places_among_the_stored_ones() -> None:
    world, _hub, scan_id = await hub_world()
    placed = await place_modified_orders(world.deps, PlaceOrders(scan_id))
    batch_id, line = placed.batch.batch_id, placed.batch.batch.legs[0]
    reports = [
        StatusReport(batch_id, line.entry_ref, "done", Decimal(0), Decimal(0)),  # no such status
        StatusReport(batch_id, line.entry_ref, "submitted", Decimal(0), Decimal(0)),
        StatusReport(batch_id, line.stop_loss_ref, "working", Decimal(-1), Decimal(0)),  # negative
        StatusReport(batch_id, "tb:x:Y:E", "working", Decimal(0), Decimal(0)),  # no such leg
        StatusReport(batch_id, line.entry_ref, "filled", Decimal(5), Decimal("200.5")),
        StatusReport(batch_id, line.take_profit_ref, "working", Decimal(0), Decimal(-2)),  # negative
    ]
    outcomes = await record_statuses(world.deps, reports)
    assert [type(outcome) for outcome in outcomes] == [
        ValueError, LegStatus, ValueError, UnknownOrderRef, LegStatus, ValueError
    ]
    assert "not one of" in str(outcomes[0]) and "0 or more" in str(outcomes[2])
    assert f"leg {line.take_profit_ref}: filled (0) and avg_price (-2) must be 0 or more" == str(outcomes[5])
    entry = outcomes[4]
    assert isinstance(entry, LegStatus) and (entry.status, entry.filled) == (LegState.FILLED, Decimal(5))
    only_refused = await record_statuses(world.deps, [reports[0], reports[2]])
    assert [str(outcome) for outcome in only_refused] == [str(outcomes[0]), str(outcomes[2])]


async def test_a_frame_is_answered_once_and_each_stored_status_shown_as_if_sent_alone() -> None:
    world, hub, scan_id = await hub_world()
    placed = await place_modified_orders(world.deps, PlaceOrders(scan_id, account="DU1"))
    batch_id, line = placed.batch.batch_id, placed.batch.batch.legs[0]
    executor, executor_socket = peer("e1")
    observer, observer_socket = peer("o1")
    hub.connect(executor)
    hub.connect(observer)
    await hub.resume(executor, "DU1", 0)
    executor_socket.frames.clear()

    def item(ref: str, status: str, status_id: str, **more: object) -> messages.LocalTradingStatus:
        return messages.LocalTradingStatus(batch_id=batch_id, order_ref=ref, symbol="AAPL", status=status,
                                           status_id=status_id, **more)  # type: ignore[arg-type]

    items = [
        item(line.entry_ref, "submitted", "s1"),
        item("tb:x:Y:E", "working", "s2"),
        item(line.entry_ref, "filled", "s3", filled=Decimal(5), avg_price=Decimal("200.50"), account="OTHER"),
        item(line.stop_loss_ref, "working", "s4", message='a "quoted"\nline'),
    ]
    raw = messages.encode(messages.LOCAL_TRADING_STATUSES, messages.LocalTradingStatuses(statuses=items))
    assert await handle_frame(raw, executor, hub, world.deps)
    answer, error = executor_socket.frames
    assert answer["event"] == messages.STATUSES_ACKNOWLEDGED
    assert answer["data"]["status_ids"] == ["s1", "s3", "s4"]  # type: ignore[index]
    assert list(answer["data"]["refused"]) == ["s2"]  # type: ignore[index]
    assert error["event"] == messages.ERROR and "1 of 4 statuses were not stored" in str(error["data"])
    alone = [msgspec.structs.replace(items[0], account="DU1"), items[2],
             msgspec.structs.replace(items[3], account="DU1")]
    await hub.broadcasts_sent()  # queued for the observers when the frame was answered
    assert observer_socket.frames == [
        json.loads(messages.encode(messages.LOCAL_TRADING_STATUS, shown)) for shown in alone
    ]


async def test_a_frames_statuses_reach_an_observer_together() -> None:
    _world, hub, _scan_id = await hub_world()
    observer, _socket = peer("o1")
    sent: list[str] = []

    async def slow_send(text: str) -> None:
        await asyncio.sleep(0)  # a socket that makes the sender wait: others get a turn
        sent.append(text)

    observer.send_text = slow_send
    hub.connect(observer)
    frames = [f"s{number}" for number in range(5)]
    await asyncio.gather(hub.broadcast_texts(frames), observer.send(b"heartbeat"), hub.broadcast_texts(["t"]))
    start = sent.index("s0")
    assert sent[start : start + 5] == frames and len(sent) == 7


async def test_an_instance_skips_its_own_notices_and_shows_the_others() -> None:
    publisher = InMemoryPublisher()
    world, hub_a, _scan_id = await hub_world(publisher)
    hub_b = DeliveryHub(world.outbox, world.clock, publisher, "two")
    await hub_a.start()
    await hub_b.start()
    try:
        here, here_socket = peer("o1")
        there, there_socket = peer("o2")
        hub_a.connect(here)
        hub_b.connect(there)
        await hub_a.broadcast_texts(['{"event":"x","data":{}}'])
        assert len(here_socket.frames) == len(there_socket.frames) == 1  # not twice here
        # Notices that are not objects with an origin fail as they always did: logged, nothing shown.
        for odd in (b'[1]', b'{"origin": 5, "frames": ["{\\"n\\": 1}"]}', b'{"frames": ["{\\"n\\": 2}"]}'):
            await publisher.publish(EVENTS_CHANNEL, odd)
        assert [frame.get("n") for frame in there_socket.frames[1:]] == [1, 2]
        with pytest.raises(msgspec.DecodeError):
            await hub_a._on_event_notice(b"not json")
        with pytest.raises(AttributeError):
            await hub_a._on_event_notice(b"[1]")
    finally:
        await hub_a.stop()
        await hub_b.stop()


def _decoded(raw: bytes) -> object:
    try:
        return messages.decode(raw)
    except messages.BadFrame as error:
        return f"BadFrame: {error}"


_ONE = b'{"batch_id":"B1","order_ref":"r","symbol":"A","status":"working","filled":1.50}'
ODD_FRAMES = [
    b'{"event":"local_trading_statuses","data":{"statuses":[' + _ONE + b"]}}",
    b'{"event":"local_trading_statuses","data":{"statuses":[' + _ONE + b"]},\"seq\":4,\"more\":[1]}",
    b'{"event":"local_trading_statuses","data":{"statuses":[{"batch_id":"B1","status":"done"}]}}',
    b'{"event":"local_trading_statuses","data":{"statuses":[' + _ONE.replace(b"working", b"done") + b"]}}",
    b'{"event":"local_trading_statuses","event":"ack","data":{"seq":1}}',
    b'{"event":"local_trading_statuses","data":{"statuses":[]},"event":"heartbeat"}',
    b'{"event":"local_trading_statuses","data":{"statuses":[]},"data":{"statuses":[' + _ONE + b"]}}",
    b'{"event":"local_trading_statuses","data":{"statuses":[' + _ONE + b"]},\"data\":{}}",
    b'{"event":"local_trading_statuses","seq":"x","data":{"statuses":[]}}',
    b'{"event":"local_trading_statuses","data":{"statuses":[]}',
    b'{"event":"local_trading_statuses","data":7}',
    b'{"event":"local_trading_statuses","seq":2}',
    b'{"event":"local_trading_statuses","data":{"statuses":[' + b",".join([_ONE] * 501) + b"]}}",
]


@pytest.mark.parametrize("raw", ODD_FRAMES)
def test_a_frame_of_statuses_read_in_one_pass_is_read_as_the_general_way_reads_it(raw: bytes) -> None:
    general = b" " + raw  # leading space: JSON all the same, but not the one-pass shape
    assert _decoded(raw) == _decoded(general)
    assert _decoded(raw.decode()) == _decoded(general)  # type: ignore[arg-type]


@given(st.lists(statuses(), max_size=5), st.none() | st.integers(min_value=0, max_value=10**6))
def test_frames_of_statuses_read_in_one_pass_round_trip(
    items: list[messages.LocalTradingStatus], seq: int | None
) -> None:
    raw = messages.encode(messages.LOCAL_TRADING_STATUSES, messages.LocalTradingStatuses(statuses=items), seq)
    frame = messages.decode(raw)
    assert frame == messages.decode(b" " + raw)
    assert frame.data.statuses == items and frame.seq == seq


def test_a_leg_report_made_through_its_twin_is_an_ordinary_frozen_one() -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    made = _leg_report("tb:B1:AAPL:E", LegState.FILLED, Decimal("3"), Decimal("1.50"), "m", at)
    assert type(made) is LegReport
    ref = OrderRef("tb:B1:AAPL:E")
    assert made == LegReport(ref, LegState.FILLED, Decimal("3"), Decimal("1.50"), "m", at)
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.message = "changed"  # type: ignore[misc]
