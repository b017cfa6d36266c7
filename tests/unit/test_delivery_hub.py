"""The DeliveryHub over the in-memory outbox and publisher: resume order, live pushes without
repeats, one executor per account, observers, and fan-out between two instances."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import pytest

from adapters.wire import messages
from core.plans import Modification
from core.publisher import InMemoryPublisher
from core.service_layer.cloud import PlaceOrders, add_scan, place_modified_orders
from entrypoints.cloud.delivery_hub import DeliveryHub, ExecutorConflict, Peer
from tests.fakes.cloud import CloudWorld
from tests.unit.test_cloud_use_cases import ROWS


class FakeSocket:
    """What a peer sent, decoded; and how it was closed."""

    def __init__(self) -> None:
        self.frames: list[dict[str, object]] = []
        self.closed: tuple[int, str] | None = None

    async def send_text(self, text: str) -> None:
        self.frames.append(json.loads(text))

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)

    def seqs(self) -> list[object]:
        return [f["seq"] for f in self.frames if f["event"] == messages.TRADING_ORDERS_GENERATED]


def peer(name: str) -> tuple[Peer, FakeSocket]:
    socket = FakeSocket()
    return Peer(name, socket.send_text, socket.close), socket


async def hub_world(publisher: InMemoryPublisher | None = None) -> tuple[CloudWorld, DeliveryHub, int]:
    world = CloudWorld()
    hub = DeliveryHub(world.outbox, world.clock, publisher or InMemoryPublisher(), "one")
    world.deps = type(world.deps)(
        world.scans, world.batches, world.clock, world.deps.ids, world.deps.policy, world.files, hub
    )
    return world, hub, await add_scan(world.scans, world.clock, "scan", ROWS)


async def place(world: CloudWorld, scan_id: int, account: str = "*", size: int = 10) -> None:
    await place_modified_orders(
        world.deps, PlaceOrders(scan_id, (Modification("AAPL", Decimal(size)),), account=account)
    )


async def test_resume_sends_what_is_owed_in_order_then_pushes_new_batches_once() -> None:
    world, hub, scan_id = await hub_world()
    for size in (1, 2, 3):
        await place(world, scan_id, size=size)
    executor, socket = peer("e1")
    hub.connect(executor)
    assert await hub.resume(executor, "DU1", 1) == 2
    assert socket.seqs() == [2, 3]
    await place(world, scan_id, size=4)
    await place(world, scan_id, size=5)
    assert socket.seqs() == [2, 3, 4, 5]
    assert await hub.deliver(executor) == 0  # nothing is sent twice on one connection
    await hub.ack(executor, 4)
    hub.disconnect(executor)
    again, socket2 = peer("e2")
    hub.connect(again)
    await hub.resume(again, "DU1", 3)
    assert socket2.seqs() == [5]  # 4 was acknowledged, 1..3 are covered by last_seq


async def test_batches_for_another_account_are_not_sent() -> None:
    world, hub, scan_id = await hub_world()
    executor, socket = peer("e1")
    hub.connect(executor)
    await hub.resume(executor, "DU1", 0)
    await place(world, scan_id, account="DU2")
    await place(world, scan_id, account="DU1")
    assert socket.seqs() == [2]


async def test_a_second_live_executor_for_an_account_is_refused() -> None:
    _world, hub, _scan_id = await hub_world()
    first, _ = peer("e1")
    second, _ = peer("e2")
    hub.connect(first)
    hub.connect(second)
    await hub.resume(first, "DU1", 0)
    with pytest.raises(ExecutorConflict, match="DU1 already has a live executor"):
        await hub.resume(second, "DU1", 0)
    hub.disconnect(first)
    await hub.resume(second, "DU1", 0)  # once the first is gone, the account is free
    assert hub.executors["DU1"] is second


async def test_observers_get_broadcasts_and_executors_do_not() -> None:
    _world, hub, _scan_id = await hub_world()
    executor, executor_socket = peer("e1")
    observer, observer_socket = peer("o1")
    hub.connect(executor)
    hub.connect(observer)
    await hub.resume(executor, "DU1", 0)
    status = messages.ExecutorStatus(account="DU1", broker_connected=True, trading_state="ACTIVE")
    await hub.executor_status(status)  # queued for the observers, not waited for
    await hub.broadcasts_sent()
    assert [f["event"] for f in observer_socket.frames] == [messages.EXECUTOR_STATUS]
    assert executor_socket.frames == []
    assert hub.executor_states["DU1"] == status


async def test_a_batch_placed_on_one_instance_reaches_an_executor_on_another() -> None:
    publisher = InMemoryPublisher()  # stands in for Redis: both instances share it and the database
    world, hub_a, scan_id = await hub_world(publisher)
    hub_b = DeliveryHub(world.outbox, world.clock, publisher, "two")
    await hub_a.start()
    await hub_b.start()
    try:
        executor, socket = peer("e1")
        hub_b.connect(executor)
        await hub_b.resume(executor, "DU1", 0)
        await place(world, scan_id)
        assert socket.seqs() == [1]
    finally:
        await hub_a.stop()
        await hub_b.stop()


async def test_two_concurrent_resumes_for_one_account_leave_exactly_one_executor() -> None:
    world, hub, _scan_id = await hub_world()
    real_resume = world.outbox.resume

    async def slow_resume(account: str, last_seq: int, now: object) -> list[Any]:
        await asyncio.sleep(0)  # lets the other resume run while this one waits on the database
        return await real_resume(account, last_seq, now)  # type: ignore[arg-type]

    world.outbox.resume = slow_resume  # type: ignore[method-assign]
    (first, _), (second, _) = peer("e1"), peer("e2")
    hub.connect(first)
    hub.connect(second)
    results = await asyncio.gather(
        hub.resume(first, "DU1", 0), hub.resume(second, "DU1", 0), return_exceptions=True
    )
    assert sum(isinstance(result, ExecutorConflict) for result in results) == 1
    assert hub.executors["DU1"] in (first, second)


async def test_a_push_racing_a_resume_sends_nothing_twice() -> None:
    world, hub, scan_id = await hub_world()
    await place(world, scan_id, size=1)
    executor, socket = peer("e1")
    hub.connect(executor)
    real_resume = world.outbox.resume
    placing: list[asyncio.Task[None]] = []

    async def resume_while_a_batch_is_placed(account: str, last_seq: int, now: object) -> list[Any]:
        entries = await real_resume(account, last_seq, now)  # type: ignore[arg-type]
        # Another request places a batch meanwhile: stored now, its push waits for this resume.
        placing.append(asyncio.create_task(place(world, scan_id, size=2)))
        await asyncio.sleep(0.01)
        return entries + await world.outbox.pending(account, entries[-1].seq, world.clock.now())

    world.outbox.resume = resume_while_a_batch_is_placed  # type: ignore[method-assign]
    await hub.resume(executor, "DU1", 0)
    await placing[0]
    assert socket.seqs() == [1, 2]


async def test_an_expired_batch_is_never_delivered() -> None:
    world, hub, scan_id = await hub_world()
    await place(world, scan_id, size=1)
    world.clock.advance(24 * 3600)  # exactly at the expiry: no longer placeable
    executor, socket = peer("e1")
    hub.connect(executor)
    assert await hub.resume(executor, "DU1", 0) == 0
    await place(world, scan_id, size=2)
    assert socket.seqs() == [2]


async def test_many_events_reach_observers_here_and_on_another_instance_in_order_with_one_notice() -> None:
    publisher = InMemoryPublisher()
    world, hub_a, _scan_id = await hub_world(publisher)
    hub_b = DeliveryHub(world.outbox, world.clock, publisher, "two")
    notices: list[bytes] = []

    async def count(raw: bytes) -> None:
        notices.append(raw)

    await hub_a.start()
    await hub_b.start()
    await publisher.subscribe("tradebridge.events", count)
    try:
        here, here_socket = peer("o1")
        there, there_socket = peer("o2")
        hub_a.connect(here)
        hub_b.connect(there)
        frames = [
            messages.encode(messages.EXECUTOR_STATUS, messages.ExecutorStatus(
                account=f"DU{n}", broker_connected=True, trading_state="ACTIVE"))
            for n in range(3)
        ]
        await hub_a.broadcast(*frames)
        expected = [f"DU{n}" for n in range(3)]
        assert [f["data"]["account"] for f in here_socket.frames] == expected  # type: ignore[index]
        assert [f["data"]["account"] for f in there_socket.frames] == expected  # type: ignore[index]
        assert len(notices) == 1
        # An instance of the earlier version sends one frame per notice: still shown.
        await publisher.publish("tradebridge.events", json.dumps(
            {"origin": "old", "frame": frames[0].decode()}).encode())
        assert [f["data"]["account"] for f in there_socket.frames] == [*expected, "DU0"]  # type: ignore[index]
    finally:
        await hub_a.stop()
        await hub_b.stop()
