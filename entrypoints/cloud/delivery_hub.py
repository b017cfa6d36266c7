"""The DeliveryHub: who is connected to `/listen_events` here, and what each executor is owed.

Executors (clients that sent `resume`) get the outbox entries of their account in seq order, each
once per connection: the hub reads what is owed from the Outbox (the authority) under the peer's
lock, after the last seq it sent, so concurrent placements and a resume can never reorder or
repeat a batch. Observers (clients that never sent `resume`) get every status. Placements and
statuses on other instances arrive through the EventPublisher; each instance pushes only to the
sockets it holds.

Broadcasts to the observers go through one queue, sent in the order they were queued by one task:
a frame's handler queues its statuses and reads the executor's next frame at once, instead of
waiting while a dashboard is sent 200 frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from adapters.wire import messages
from core.ports import Clock
from core.publisher import EventPublisher, Unsubscribe
from core.service_layer.cloud import Delivery
from core.stores import ALL_ACCOUNTS, Outbox, OutboxEntry, PlacedBatch

logger = logging.getLogger(__name__)

BATCHES_CHANNEL = "tradebridge.batches"
EVENTS_CHANNEL = "tradebridge.events"
CLOSE_POLICY = 1008  # policy violation: bad token
CLOSE_EXECUTOR_CONFLICT = 4009
CLOSE_SILENT = 4008  # no frame within three heartbeat periods
MAX_CLOSE_REASON = 120  # a close reason is at most 123 bytes
# Frames queued for the observers beyond which queueing more waits until they have taken some:
# about 500 batches' statuses, a few hundred kB per hundred batches.
MAX_QUEUED_BROADCAST_FRAMES = 100_000
STOP_BROADCAST_SECONDS = 2.0  # on shutdown, what is queued is still sent for this long at most
# Broadcasts give way to urgent work (`urgent`: an executor's frame being handled): they go out
# this many frames at a time, and wait before each group while urgent work runs, this long at most.
# A group is one call and one socket write (Peer.send_many), ~20 us for 64 status frames.
BROADCAST_GROUP_FRAMES = 64
MAX_BROADCAST_HOLD_SECONDS = 0.05


class ExecutorConflict(Exception):
    """A second live executor for an account: refused, so two processes never place one batch."""

    def __init__(self, account: str, holder: str) -> None:
        super().__init__(
            f"account {account} already has a live executor ({holder}); stop it first, or "
            f"wait until it disconnects"
        )
        self.account = account


@dataclass(eq=False)
class Peer:
    """One connected WebSocket client. `send` sends one text frame; `close` closes the socket."""

    client_id: str
    send_text: Callable[[str], Awaitable[None]]
    close_socket: Callable[[int, str], Awaitable[None]]
    account: str | None = None
    # Sends many text frames in order, as `send_text` would one by one, when the server can
    # (entrypoints.cloud.server.SEND_TEXTS): the ~200 frames of a broadcast in a few calls.
    send_many: Callable[[Sequence[str]], Awaitable[None]] | None = None
    last_sent: int = 0
    # The executor acknowledged a seq it had not been sent here: from then on only the outbox
    # knows what it is owed, so pushes always ask it (see DeliveryHub.push_placed).
    acked_unsent: bool = False
    last_heard: float = field(default_factory=time.monotonic)
    delivery_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def is_executor(self) -> bool:
        return self.account is not None

    async def send(self, frame: bytes) -> None:
        async with self.send_lock:
            await self.send_text(frame.decode())

    async def send_texts(self, texts: Sequence[str]) -> None:
        """Send text frames in order, holding the send lock once for all of them."""
        async with self.send_lock:
            if self.send_many is not None:
                if texts:
                    await self.send_many(texts)
                return
            for text in texts:
                await self.send_text(text)

    async def close(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            await self.close_socket(code, reason[:MAX_CLOSE_REASON])


class _Origin(msgspec.Struct):
    """Only the origin of a notice of the events channel (the rest is skipped, not decoded)."""

    origin: Any = None


_origin_decoder = msgspec.json.Decoder(_Origin)


def batch_frame(entry: OutboxEntry) -> bytes:
    """The `trading_orders_generated` frame of an outbox entry (Decimals back to JSON numbers)."""
    data = msgspec.convert(entry.payload, messages.TradingOrdersGenerated, strict=False)
    return messages.encode(messages.TRADING_ORDERS_GENERATED, data, seq=entry.seq)


class DeliveryHub:
    """The sockets of this instance and the delivery of outbox entries to them (DeliveryNotifier)."""

    def __init__(
        self,
        outbox: Outbox,
        clock: Clock,
        publisher: EventPublisher,
        instance_id: str,
        heartbeat_seconds: float = 15.0,
        max_queued_broadcast_frames: int = MAX_QUEUED_BROADCAST_FRAMES,
    ) -> None:
        self.outbox = outbox
        self.clock = clock
        self.publisher = publisher
        self.instance_id = instance_id
        self.heartbeat_seconds = heartbeat_seconds
        self.peers: dict[str, Peer] = {}
        self.executors: dict[str, Peer] = {}
        self.executor_states: dict[str, messages.ExecutorStatus] = {}
        self._unsubscribes: list[Unsubscribe] = []
        self._heartbeat_task: asyncio.Task[None] | None = None
        self.max_queued_broadcast_frames = max_queued_broadcast_frames
        # Each: frames, and who waits for them to be sent (if anyone).
        self._broadcasts: deque[tuple[Sequence[str], asyncio.Future[None] | None]] = deque()
        self._queued_frames = 0
        self._broadcasts_waiting = asyncio.Event()
        self._broadcast_room = asyncio.Event()
        self._broadcaster: asyncio.Task[None] | None = None
        self._urgent_work = 0
        self._no_urgent_work = asyncio.Event()
        self._no_urgent_work.set()

    @contextlib.contextmanager
    def urgent(self) -> Iterator[None]:
        """Mark work the executors wait for (storing their statuses, their acks): the observers'
        broadcasts hold back meanwhile (up to MAX_BROADCAST_HOLD_SECONDS at a time), as each group
        of them sent takes the event loop and the GIL that work needs (its database thread too)."""
        self._urgent_work += 1
        self._no_urgent_work.clear()
        try:
            yield
        finally:
            self._urgent_work -= 1
            if not self._urgent_work:
                self._no_urgent_work.set()

    async def start(self) -> None:
        """Listen to the other instances and start the heartbeats."""
        self._unsubscribes.append(await self.publisher.subscribe(BATCHES_CHANNEL, self._on_batch_notice))
        self._unsubscribes.append(await self.publisher.subscribe(EVENTS_CHANNEL, self._on_event_notice))
        self._heartbeat_task = asyncio.create_task(self._heartbeats(), name="tradebridge-heartbeats")

    async def stop(self) -> None:
        """Stop listening and heartbeating, send what is queued for the observers (for
        STOP_BROADCAST_SECONDS at most), and close every socket (going away)."""
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat_task
        if self._broadcaster is not None:
            if self._broadcasts:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.broadcasts_sent(), STOP_BROADCAST_SECONDS)
            self._broadcaster.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._broadcaster
            self._broadcaster = None
            self._broadcast_room.set()  # nobody waits for room that will never come
            if self._broadcasts:
                logger.warning("%d frame(s) not sent to the observers: shutting down", self._queued_frames)
            for _texts, sent in self._broadcasts:
                if sent is not None and not sent.done():
                    sent.set_result(None)
            self._broadcasts.clear()
            self._queued_frames = 0
        for unsubscribe in self._unsubscribes:
            await unsubscribe()
        self._unsubscribes.clear()
        for peer in list(self.peers.values()):
            await peer.close(1001, "the server is shutting down; reconnect and resume")

    def connect(self, peer: Peer) -> None:
        self.peers[peer.client_id] = peer

    def disconnect(self, peer: Peer) -> None:
        self.peers.pop(peer.client_id, None)
        if peer.account is not None and self.executors.get(peer.account) is peer:
            del self.executors[peer.account]
            logger.info("executor disconnected", extra={"account": peer.account, "client_id": peer.client_id})

    async def resume(self, peer: Peer, account: str, last_seq: int) -> int:
        """Make `peer` the executor of `account`, acknowledge through `last_seq` and send what is
        still owed, in order; the number of batches sent. ExecutorConflict if another peer holds
        the account; UnknownSequence/ValueError (from the outbox) for a bad last_seq or account."""
        if account == ALL_ACCOUNTS:
            raise ValueError(f"{ALL_ACCOUNTS!r} is not an account; resume with the executor's own account id")
        holder = self.executors.get(account)
        if holder is not None and holder is not peer:
            raise ExecutorConflict(account, holder.client_id)
        if peer.account is not None and peer.account != account:
            raise ValueError(
                f"this connection is already the executor of {peer.account}; open another "
                f"connection for account {account}"
            )
        claimed = peer.account is None
        if claimed:
            # Claimed before the first await, so a concurrent resume for this account is refused
            # and a concurrent push sends only what comes after last_seq.
            peer.account, peer.last_sent = account, last_seq
            self.executors[account] = peer
        sent = 0
        async with peer.delivery_lock:
            try:
                entries = await self.outbox.resume(account, last_seq, self.clock.now())
            except Exception:
                if claimed:
                    self.disconnect(peer)
                    peer.account = None
                    self.peers[peer.client_id] = peer
                raise
            peer.last_sent = max(peer.last_sent, last_seq)
            for entry in entries:
                if entry.seq > peer.last_sent:  # a push that got in first already sent it
                    await peer.send(batch_frame(entry))
                    peer.last_sent = entry.seq
                    sent += 1
        logger.info("executor resumed", extra={"account": account, "last_seq": last_seq, "resent": sent})
        return sent

    async def ack(self, peer: Peer, seq: int) -> None:
        """The executor holds entry `seq`: never send it to this account again."""
        if peer.account is None:
            raise ValueError("send resume {account, last_seq} before acknowledging")
        if seq > peer.last_sent:
            peer.acked_unsent = True
        await self.outbox.ack(peer.account, seq)

    async def deliver(self, peer: Peer) -> int:
        """Send `peer` every entry owed to its account after the last one it was sent."""
        if peer.account is None:
            return 0
        async with peer.delivery_lock:
            return await self._deliver_owed(peer)

    async def _deliver_owed(self, peer: Peer) -> int:
        # Under peer.delivery_lock.
        assert peer.account is not None
        entries = await self.outbox.pending(peer.account, peer.last_sent, self.clock.now())
        for entry in entries:
            await peer.send(batch_frame(entry))
            peer.last_sent = entry.seq
        return len(entries)

    async def push_placed(self, peer: Peer, entries: tuple[OutboxEntry, ...]) -> int:
        """Send `peer` what it is owed now that `entries` (one placement's, consecutive seqs) are
        stored; the number of batches sent. When the peer was sent everything up to the seq just
        before them, what it is owed is exactly these entries (those addressed to it, unexpired),
        so they go out without asking the outbox; otherwise (a batch placed elsewhere is still
        missing, an earlier push failed ...) `deliver` asks the outbox, which keeps seq order."""
        if peer.account is None or not entries:
            return 0
        async with peer.delivery_lock:
            if peer.acked_unsent or peer.last_sent < entries[0].seq - 1:
                return await self._deliver_owed(peer)
            now = self.clock.now()
            sent = 0
            for entry in entries:
                if (
                    entry.seq > peer.last_sent
                    and entry.account in (peer.account, ALL_ACCOUNTS)
                    and not entry.is_expired(now)
                ):
                    await peer.send(batch_frame(entry))
                    peer.last_sent = entry.seq
                    sent += 1
            return sent

    async def batch_placed(self, placed: PlacedBatch) -> Delivery:
        """DeliveryNotifier: push to the executors held here, then tell the other instances."""
        accounts = sorted({entry.account for entry in placed.entries})
        delivered: list[str] = []
        for peer in self._executors_for(accounts):
            try:
                if await self.push_placed(peer, placed.entries):
                    delivered.append(peer.account or "")
            except Exception:
                logger.exception("push to executor %s failed; it gets the batch on resume", peer.account)
        notice = msgspec.json.encode({"origin": self.instance_id, "accounts": accounts})
        try:
            await self.publisher.publish(BATCHES_CHANNEL, notice)
        except Exception:
            logger.exception("could not tell the other instances about batch %s", placed.batch.batch_id)
        seqs = tuple(entry.seq for entry in placed.entries)
        return Delivery("delivered" if delivered else "queued", tuple(delivered), seqs)

    def _executors_for(self, accounts: list[str]) -> list[Peer]:
        if ALL_ACCOUNTS in accounts:
            return list(self.executors.values())
        return [self.executors[account] for account in accounts if account in self.executors]

    async def _on_batch_notice(self, raw: bytes) -> None:
        notice = msgspec.json.decode(raw)
        if notice.get("origin") == self.instance_id:
            return
        for peer in self._executors_for(list(notice.get("accounts", []))):
            try:
                await self.deliver(peer)
            except Exception:
                logger.exception("push to executor %s failed; it gets the batch on resume", peer.account)

    async def broadcast(self, *frames: bytes) -> None:
        """Send frames to the observers here and on every other instance (one notice for all),
        after everything queued before them; returns once they are sent."""
        await self.broadcast_texts([frame.decode() for frame in frames])

    async def broadcast_texts(self, texts: Sequence[str]) -> None:
        """`broadcast` of frames already decoded to text (`messages.encode_texts`)."""
        if not texts:
            return
        sent = asyncio.get_running_loop().create_future()
        await self._queue(texts, sent)
        await sent

    async def queue_broadcast(self, texts: Sequence[str]) -> None:
        """Queue frames for the observers here and on every other instance, behind every frame
        queued before them, and return without waiting for them to be sent. Observers that
        cannot keep up slow everyone only once MAX_QUEUED_BROADCAST_FRAMES wait: then this waits
        until they have taken some (memory stays bounded; the caller is slowed, as it was when
        each broadcast was sent before its caller went on)."""
        if texts:
            await self._queue(texts, None)

    async def broadcasts_sent(self) -> None:
        """Return once every frame queued so far has been sent."""
        if self._broadcasts:
            sent = asyncio.get_running_loop().create_future()
            await self._queue((), sent)
            await sent

    async def _queue(self, texts: Sequence[str], sent: asyncio.Future[None] | None) -> None:
        self._broadcasts.append((texts, sent))
        self._queued_frames += len(texts)
        self._broadcasts_waiting.set()
        if self._broadcaster is None or self._broadcaster.done():
            self._broadcaster = asyncio.create_task(self._send_broadcasts(), name="tradebridge-broadcasts")
        if self._queued_frames > self.max_queued_broadcast_frames >= self._queued_frames - len(texts):
            logger.warning(
                "%d frames wait for the observers (dashboards): the slowest one holds up the "
                "others; statuses are stored more slowly until it catches up", self._queued_frames,
            )
        while self._queued_frames > self.max_queued_broadcast_frames and self._broadcaster is not None:
            self._broadcast_room.clear()
            await self._broadcast_room.wait()

    async def _send_broadcasts(self) -> None:
        """The one sender of the queued broadcasts, in order."""
        while True:
            if not self._broadcasts:
                self._broadcasts_waiting.clear()
                await self._broadcasts_waiting.wait()
                continue
            texts, sent = self._broadcasts[0]
            try:
                if texts:
                    await self._broadcast_now(texts)
            except Exception:  # a broken publisher or observer must not end the broadcasts
                logger.exception("broadcasting %d frame(s) failed", len(texts))
            finally:
                self._broadcasts.popleft()
                self._queued_frames -= len(texts)
                if self._queued_frames <= self.max_queued_broadcast_frames:
                    self._broadcast_room.set()
                if sent is not None and not sent.done():
                    sent.set_result(None)

    async def _broadcast_now(self, texts: Sequence[str]) -> None:
        for start in range(0, len(texts), BROADCAST_GROUP_FRAMES):
            if start:
                await asyncio.sleep(0)  # a frame that came meanwhile is read, and marks urgent work
            if self._urgent_work:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(MAX_BROADCAST_HOLD_SECONDS):
                        await self._no_urgent_work.wait()
            await self._send_to_observers(texts[start : start + BROADCAST_GROUP_FRAMES])
        envelope = msgspec.json.encode({"origin": self.instance_id, "frames": texts})
        try:
            await self.publisher.publish(EVENTS_CHANNEL, envelope)
        except Exception:
            logger.exception("could not forward events to the other instances")

    async def _on_event_notice(self, raw: bytes) -> None:
        # Every instance hears its own notices too: the origin alone says whether to read on,
        # without making a string of each of its ~200 frames.
        with contextlib.suppress(msgspec.DecodeError, msgspec.ValidationError):
            if _origin_decoder.decode(raw).origin == self.instance_id:
                return
        notice = msgspec.json.decode(raw)
        if notice.get("origin") == self.instance_id:
            return
        # "frame": one event, as instances of an earlier version send them.
        texts = notice["frames"] if "frames" in notice else [notice["frame"]]
        await self._send_to_observers([str(text) for text in texts])

    async def _send_to_observers(self, texts: Sequence[str]) -> None:
        for peer in [p for p in self.peers.values() if not p.is_executor]:
            try:
                await peer.send_texts(texts)
            except Exception:
                logger.info("observer %s is gone", peer.client_id)

    async def executor_status(self, status: messages.ExecutorStatus) -> None:
        """Keep the executor's latest state for /health and show it to the observers."""
        self.executor_states[status.account] = status
        await self.queue_broadcast([messages.encode(messages.EXECUTOR_STATUS, status).decode()])

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            silent_after = time.monotonic() - 3 * self.heartbeat_seconds
            frame = messages.encode(messages.HEARTBEAT, messages.Heartbeat(time=self.clock.now().isoformat()))
            for peer in list(self.peers.values()):
                if peer.last_heard < silent_after:
                    logger.info("dropping silent peer %s", peer.client_id)
                    self.disconnect(peer)
                    await peer.close(CLOSE_SILENT, "no frame for three heartbeat periods; reconnect")
                    continue
                try:
                    await peer.send(frame)
                except Exception:
                    self.disconnect(peer)
