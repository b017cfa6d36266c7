"""Broadcasts to the observers go through one ordered queue: a frame of statuses is acknowledged
(after its store) and the executor's next frame handled without waiting for a slow dashboard;
the observers still get every status, frame after frame and kind after kind, in the order the
cloud stored them; an observer that cannot keep up holds up queueing only past the bound; and
broadcasts give way, a group of frames at a time and for a bounded time, to urgent work (an
executor's frame being handled), whose thread they would otherwise slow."""

from __future__ import annotations

import asyncio
import json

import pytest

from adapters.wire import messages
from core.publisher import InMemoryPublisher
from core.service_layer.cloud import PlaceOrders, place_modified_orders
from entrypoints.cloud import delivery_hub
from entrypoints.cloud.delivery_hub import BROADCAST_GROUP_FRAMES, DeliveryHub
from entrypoints.cloud.websocket import handle_frame
from tests.fakes.cloud import CloudWorld
from tests.unit.test_delivery_hub import hub_world, peer


class GatedSocket:
    """An observer's socket that takes nothing until the gate opens (a dashboard far away)."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.texts: list[str] = []

    async def send_text(self, text: str) -> None:
        await self.gate.wait()
        self.texts.append(text)

    async def close(self, code: int, reason: str) -> None:
        return None


async def test_a_slow_observer_delays_no_acknowledgement_and_gets_every_status_in_order() -> None:
    world, hub, scan_id = await hub_world()
    placed = await place_modified_orders(world.deps, PlaceOrders(scan_id, account="DU1"))
    batch_id, line = placed.batch.batch_id, placed.batch.batch.legs[0]
    executor, executor_socket = peer("e1")
    slow = GatedSocket()
    observer = type(executor)("o1", slow.send_text, slow.close)
    hub.connect(executor)
    hub.connect(observer)
    await hub.resume(executor, "DU1", 0)
    executor_socket.frames.clear()

    def status(ref: str, state: str, status_id: str) -> messages.LocalTradingStatus:
        return messages.LocalTradingStatus(
            batch_id=batch_id, order_ref=ref, symbol=line.symbol, status=state, status_id=status_id
        )

    frames = [
        messages.encode(messages.LOCAL_TRADING_STATUSES, messages.LocalTradingStatuses(statuses=[
            status(line.entry_ref, "received", "s1"), status(line.take_profit_ref, "received", "s2"),
            status(line.stop_loss_ref, "received", "s3")])),
        messages.encode(messages.EXECUTOR_STATUS, messages.ExecutorStatus(
            account="DU1", broker_connected=True, trading_state="ACTIVE")),
        messages.encode(messages.LOCAL_TRADING_STATUS, status(line.entry_ref, "submitted", "s4")),
        messages.encode(messages.LOCAL_TRADING_STATUSES, messages.LocalTradingStatuses(statuses=[
            status(line.entry_ref, "working", "s5"), status(line.take_profit_ref, "working", "s6")])),
    ]
    for raw in frames:  # the dashboard takes nothing meanwhile: each frame is still answered
        assert await asyncio.wait_for(handle_frame(raw, executor, hub, world.deps), timeout=2)
    answered = [frame["event"] for frame in executor_socket.frames]
    assert answered == [messages.STATUSES_ACKNOWLEDGED, messages.STATUS_ACKNOWLEDGED,
                        messages.STATUSES_ACKNOWLEDGED]
    assert slow.texts == []
    slow.gate.set()
    await hub.broadcasts_sent()
    shown = [json.loads(text) for text in slow.texts]
    assert [(frame["event"], frame["data"].get("status_id")) for frame in shown] == [
        (messages.LOCAL_TRADING_STATUS, "s1"), (messages.LOCAL_TRADING_STATUS, "s2"),
        (messages.LOCAL_TRADING_STATUS, "s3"), (messages.EXECUTOR_STATUS, None),
        (messages.LOCAL_TRADING_STATUS, "s4"), (messages.LOCAL_TRADING_STATUS, "s5"),
        (messages.LOCAL_TRADING_STATUS, "s6"),
    ]
    stored = await world.batches.get_batch(batch_id)
    assert stored is not None
    assert {leg.order_ref: leg.status.value for leg in stored.legs}[line.entry_ref] == "working"


async def test_observers_that_cannot_keep_up_hold_up_queueing_only_past_the_bound() -> None:
    world = CloudWorld()
    hub = DeliveryHub(world.outbox, world.clock, InMemoryPublisher(), "one", max_queued_broadcast_frames=3)
    slow = GatedSocket()
    observer, _ = peer("o1")
    observer.send_text = slow.send_text
    hub.connect(observer)
    await asyncio.wait_for(hub.queue_broadcast(["a", "b", "c"]), timeout=1)  # within the bound
    beyond = asyncio.create_task(hub.queue_broadcast(["d", "e"]))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not beyond.done()  # five frames wait: the caller is held until the observer takes some
    slow.gate.set()
    await asyncio.wait_for(beyond, timeout=1)
    await hub.broadcasts_sent()
    assert slow.texts == ["a", "b", "c", "d", "e"]


async def test_a_dead_observer_does_not_stop_the_others_or_the_queue() -> None:
    world = CloudWorld()
    hub = DeliveryHub(world.outbox, world.clock, InMemoryPublisher(), "one")
    dead, _ = peer("o1")

    async def gone(text: str) -> None:
        raise ConnectionError("socket closed")

    dead.send_text = gone
    alive, alive_socket = peer("o2")
    hub.connect(dead)
    hub.connect(alive)
    for number in range(3):
        await hub.queue_broadcast([json.dumps({"n": number})])
    await hub.broadcasts_sent()
    assert [frame["n"] for frame in alive_socket.frames] == [0, 1, 2]


async def test_stop_sends_what_is_queued_then_ends_the_sender() -> None:
    world = CloudWorld()
    hub = DeliveryHub(world.outbox, world.clock, InMemoryPublisher(), "one")
    await hub.start()
    observer, socket = peer("o1")
    hub.connect(observer)
    await hub.queue_broadcast(['{"n": 1}', '{"n": 2}'])
    await hub.stop()
    assert [frame.get("n") for frame in socket.frames] == [1, 2]
    assert socket.closed is not None


@pytest.mark.parametrize("frames", [0, 1])
async def test_broadcasts_sent_returns_at_once_when_nothing_is_queued(frames: int) -> None:
    _world, hub, _scan_id = await hub_world()
    if frames:
        await hub.broadcast_texts(["x"])
    await asyncio.wait_for(hub.broadcasts_sent(), timeout=1)


async def test_broadcasts_give_way_to_urgent_work_a_group_at_a_time_and_go_on_after_it() -> None:
    world = CloudWorld()
    hub = DeliveryHub(world.outbox, world.clock, InMemoryPublisher(), "one")
    observer, socket = peer("o1")
    hub.connect(observer)
    texts = [json.dumps({"n": n}) for n in range(3 * BROADCAST_GROUP_FRAMES)]
    with hub.urgent():  # an executor's frame being stored
        await hub.queue_broadcast(texts)
        for _ in range(20):
            await asyncio.sleep(0)
        assert socket.frames == []  # held back while the urgent work runs
    await asyncio.wait_for(hub.broadcasts_sent(), timeout=1)
    assert [frame["n"] for frame in socket.frames] == list(range(3 * BROADCAST_GROUP_FRAMES))


async def test_urgent_work_that_comes_during_a_broadcast_stops_it_after_the_group_under_way() -> None:
    world = CloudWorld()
    hub = DeliveryHub(world.outbox, world.clock, InMemoryPublisher(), "one")
    observer, socket = peer("o1")
    hub.connect(observer)
    await hub.queue_broadcast([json.dumps({"n": n}) for n in range(3 * BROADCAST_GROUP_FRAMES)])
    while not socket.frames:
        await asyncio.sleep(0)
    with hub.urgent():
        for _ in range(20):
            await asyncio.sleep(0)
        assert len(socket.frames) == BROADCAST_GROUP_FRAMES  # the group under way, then it waits
    await asyncio.wait_for(hub.broadcasts_sent(), timeout=1)
    assert len(socket.frames) == 3 * BROADCAST_GROUP_FRAMES


async def test_broadcasts_wait_for_urgent_work_only_so_long(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delivery_hub, "MAX_BROADCAST_HOLD_SECONDS", 0.01)
    world = CloudWorld()
    hub = DeliveryHub(world.outbox, world.clock, InMemoryPublisher(), "one")
    observer, socket = peer("o1")
    hub.connect(observer)
    with hub.urgent():  # urgent work that never ends must not starve the dashboards
        await hub.queue_broadcast(['{"n": 1}'])
        await asyncio.wait_for(hub.broadcasts_sent(), timeout=1)
    assert [frame["n"] for frame in socket.frames] == [1]
