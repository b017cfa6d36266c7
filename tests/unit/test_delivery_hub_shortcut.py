"""DeliveryHub.push_placed: an executor that was sent everything up to a placement gets its entries
straight from the placement, without asking the outbox; one that is behind (a batch placed
elsewhere, a failed push) or that acknowledged a seq it was not sent here gets what the outbox
says it is owed. Either way every batch arrives once, in seq order."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import datetime
from decimal import Decimal

from adapters.wire import messages
from core.plans import Modification
from core.publisher import InMemoryPublisher
from core.service_layer.cloud import CloudDeps, PlaceOrders, add_scan, place_modified_orders
from core.stores import OutboxEntry, PlacedBatch
from entrypoints.cloud.delivery_hub import DeliveryHub, Peer
from tests.fakes.cloud import CloudWorld
from tests.fakes.stores import MemoryOutbox
from tests.unit.test_cloud_use_cases import ROWS


class CountingOutbox(MemoryOutbox):
    """The in-memory outbox, counting how often the hub asks what is owed."""

    def __init__(self) -> None:
        super().__init__()
        self.pending_calls = 0

    async def pending(self, account: str, after_seq: int, now: datetime) -> list[OutboxEntry]:
        self.pending_calls += 1
        return await super().pending(account, after_seq, now)


class ExecutorSocket:
    """The frames an executor received; `fail_next` makes the next send fail (a dropped write);
    every send yields to the loop once, as a real socket write may."""

    def __init__(self) -> None:
        self.frames: list[dict[str, object]] = []
        self.fail_next = False

    async def send_text(self, text: str) -> None:
        await asyncio.sleep(0)
        if self.fail_next:
            self.fail_next = False
            raise ConnectionResetError("the test dropped this write")
        self.frames.append(json.loads(text))

    async def close(self, code: int, reason: str) -> None:
        pass

    def seqs(self) -> list[object]:
        return [f["seq"] for f in self.frames if f["event"] == messages.TRADING_ORDERS_GENERATED]

    def batch_ids(self) -> list[object]:
        return [
            f["data"]["batch_id"]  # type: ignore[index]
            for f in self.frames
            if f["event"] == messages.TRADING_ORDERS_GENERATED
        ]


class HubWorld:
    """The cloud fakes with a hub over a counting outbox. `pushing` places and pushes through the
    hub; `quiet` places without telling it (as on another instance whose notice has not come)."""

    def __init__(self) -> None:
        self.outbox = CountingOutbox()
        self.world = CloudWorld(outbox=self.outbox)
        self.hub = DeliveryHub(self.outbox, self.world.clock, InMemoryPublisher(), "one")
        self.pushing: CloudDeps = dataclasses.replace(self.world.deps, notifier=self.hub)
        self.quiet: CloudDeps = self.world.deps
        self.scan_id = 0

    async def start(self) -> HubWorld:
        self.scan_id = await add_scan(self.world.scans, self.world.clock, "scan", ROWS)
        return self

    async def executor(self, account: str = "DU1", last_seq: int = 0) -> tuple[Peer, ExecutorSocket]:
        socket = ExecutorSocket()
        peer = Peer(f"executor-{account}", socket.send_text, socket.close)
        self.hub.connect(peer)
        await self.hub.resume(peer, account, last_seq)
        self.outbox.pending_calls = 0  # what resume asked is not the push's doing
        return peer, socket

    async def place(self, deps: CloudDeps, size: int = 10, account: str = "DU1") -> tuple[int, ...]:
        result = await place_modified_orders(
            deps, PlaceOrders(self.scan_id, (Modification("AAPL", Decimal(size)),), account=account)
        )
        return tuple(entry.seq for entry in result.entries)

    async def place_quietly(self, size: int = 10, account: str = "DU1") -> PlacedBatch:
        await self.place(self.quiet, size, account)
        return self.world.notifier.placed[-1]


async def test_in_order_pushes_send_the_placed_entries_without_asking_the_outbox() -> None:
    cloud = await HubWorld().start()
    _executor, socket = await cloud.executor()
    placed = [await cloud.place(cloud.pushing, size) for size in (1, 2, 3)]
    assert placed == [(1,), (2,), (3,)]
    assert socket.seqs() == [1, 2, 3]
    assert socket.batch_ids() == [entry.batch_id for entry in cloud.outbox.entries]
    await cloud.place(cloud.pushing, 4, account="*")  # every account's: this executor's too
    assert socket.seqs() == [1, 2, 3, 4]
    assert cloud.outbox.pending_calls == 0


async def test_the_shortcut_sends_only_this_accounts_entries() -> None:
    cloud = await HubWorld().start()
    executor, socket = await cloud.executor()
    other = await cloud.place_quietly(account="DU2")
    assert await cloud.hub.push_placed(executor, other.entries) == 0
    assert socket.seqs() == []
    # Entry 1 went to DU2, so DU1 was not sent "everything up to 1": the outbox decides next time.
    assert await cloud.place(cloud.pushing, 5) == (2,)
    assert socket.seqs() == [2]


async def test_an_executor_behind_gets_every_missing_batch_from_the_outbox_once_in_order() -> None:
    cloud = await HubWorld().start()
    _executor, socket = await cloud.executor()
    first, second, third = [await cloud.place_quietly(size) for size in (1, 2, 3)]
    # The notice of the third arrives first: entries 1 and 2 are still owed, so the outbox answers.
    await cloud.hub.batch_placed(third)
    assert socket.seqs() == [1, 2, 3]
    assert cloud.outbox.pending_calls == 1
    await cloud.hub.batch_placed(first)
    await cloud.hub.batch_placed(second)
    assert socket.seqs() == [1, 2, 3]  # nothing twice
    await cloud.place(cloud.pushing, 4)
    assert socket.seqs() == [1, 2, 3, 4]
    assert cloud.outbox.pending_calls == 1  # back in order: the shortcut again


async def test_after_a_failed_push_the_next_one_resends_the_lost_batch_first() -> None:
    cloud = await HubWorld().start()
    _executor, socket = await cloud.executor()
    socket.fail_next = True
    result = await place_modified_orders(
        cloud.pushing, PlaceOrders(cloud.scan_id, (Modification("AAPL", Decimal(1)),), account="DU1")
    )
    assert result.delivery.state == "queued"  # the push failed; the outbox keeps entry 1
    assert socket.seqs() == []
    await cloud.place(cloud.pushing, 2)
    assert socket.seqs() == [1, 2]
    assert cloud.outbox.pending_calls == 1


async def test_concurrent_pushes_in_reverse_order_deliver_each_batch_once_in_order() -> None:
    cloud = await HubWorld().start()
    _executor, socket = await cloud.executor()
    placements = [await cloud.place_quietly(size) for size in (1, 2, 3, 4)]
    await asyncio.gather(*(cloud.hub.batch_placed(placed) for placed in reversed(placements)))
    assert socket.seqs() == [1, 2, 3, 4]


async def test_after_an_ack_of_a_seq_not_sent_here_pushes_ask_the_outbox_and_skip_acked_batches() -> None:
    cloud = await HubWorld().start()
    executor, socket = await cloud.executor()
    first = await cloud.place_quietly(1)
    # The executor holds entry 1 already (it says so) though this connection never sent it.
    await cloud.hub.ack(executor, 1)
    assert executor.acked_unsent
    await cloud.hub.batch_placed(first)
    assert socket.seqs() == []  # acknowledged: never sent again
    assert cloud.outbox.pending_calls == 1
    await cloud.place(cloud.pushing, 2)
    await cloud.place(cloud.pushing, 3)
    assert socket.seqs() == [2, 3]
    assert cloud.outbox.pending_calls == 3  # every push asked the outbox


async def test_an_ack_of_a_seq_already_sent_keeps_the_shortcut() -> None:
    cloud = await HubWorld().start()
    executor, socket = await cloud.executor()
    await cloud.place(cloud.pushing, 1)
    await cloud.hub.ack(executor, 1)
    assert not executor.acked_unsent
    await cloud.place(cloud.pushing, 2)
    assert socket.seqs() == [1, 2]
    assert cloud.outbox.pending_calls == 0
