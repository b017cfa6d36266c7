"""`CloudLink`: the executor's WebSocket connection to the cloud (`/listen_events`).

One connection at a time, for as long as the executor runs:
- connect with `Authorization: Bearer <token>` (wss:// verifies the server's certificate, with
  `ca_file` for a private CA), wait for `connected`, send `resume {account, last_seq}`;
- hand each `trading_orders_generated` to the handler (which journals it) and send the `ack` it
  returns; answer `heartbeat`s; drop the connection when the server has been silent for three of
  its heartbeat periods;
- send the status reports the journal still owes whenever connected, everything pending at that
  moment in `local_trading_statuses` frames of up to 500 (the cloud stores a frame in one
  transaction and answers `statuses_acknowledged` with the ids stored; a report stays journaled
  until then). A cloud that does not know the batch frame (it answers "unknown event") gets one
  `local_trading_status` per report instead, each answered by `status_acknowledged`;
- send `executor_status` every few seconds and whenever it changes;
- reconnect with exponential backoff and jitter, saying in the log that the cloud is unreachable.
A refused token (HTTP 401/403 at the handshake, or close code 1008) is not retried: `run` raises
`TokenRefused`, whose message tells the user what to check.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import random
import ssl
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from adapters.journal.codec import time_text
from adapters.wire import messages
from core.journal import LegStatus, StatusReport

logger = logging.getLogger(__name__)

CLOSE_POLICY = 1008
REFUSED_HTTP = (401, 403)
# How a cloud without `local_trading_statuses` answers it (messages.decode's BadFrame text).
_UNKNOWN_BATCH_FRAME = f"unknown event {messages.LOCAL_TRADING_STATUSES!r}"
# Acknowledged ids forgotten per turn of the event loop: each is a journal commit (an fsync), and
# a new batch arriving meanwhile must not wait behind hundreds of them.
ACKS_PER_TURN = 5
TOKEN_HELP = "check --token or TRADEBRIDGE_TOKEN: it must be one of the cloud's TRADEBRIDGE_API_TOKENS"


class TokenRefused(Exception):
    """The cloud refused the token; retrying would not help."""


class LinkHandler(Protocol):
    """What the link needs from the executor."""

    def last_seq(self) -> int: ...

    async def on_batch(self, batch: messages.TradingOrdersGenerated, seq: int | None) -> int | None:
        """Journal the batch; the sequence number to acknowledge (None: nothing to acknowledge)."""
        ...

    def pending_reports(self) -> Sequence[StatusReport]: ...

    def on_status_acknowledged(self, status_id: str) -> None: ...

    # Optional: `on_statuses_acknowledged(status_ids: Sequence[str]) -> None`, to forget many
    # reports at once (one journal transaction); without it each id goes to on_status_acknowledged.

    async def executor_status(self) -> messages.ExecutorStatus: ...


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delay before reconnect attempt n (0-based): `initial * factor**n`, capped at `maximum`,
    then shortened by up to `jitter` (a fraction) at random, so many executors do not reconnect
    in step after a cloud restart."""

    initial: float = 0.5
    maximum: float = 30.0
    factor: float = 2.0
    jitter: float = 0.5

    def delay(self, attempt: int, draw: float) -> float:
        base = min(self.maximum, self.initial * self.factor ** min(attempt, 64))
        return base * (1.0 - self.jitter * draw)


def ssl_context(url: str, ca_file: Path | None) -> ssl.SSLContext | None:
    """Certificate-verifying TLS for wss:// (the system's CAs, or `ca_file`); None for ws://."""
    if urlsplit(url).scheme != "wss":
        if ca_file is not None:
            logger.warning("--ca-file %s is ignored: %s is not a wss:// URL", ca_file, url)
        return None
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    return context  # check_hostname and CERT_REQUIRED are the defaults: never turned off here


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Silent(Exception):
    """The server stopped talking (no frame for three heartbeat periods)."""


class CloudLink:
    """The WebSocket client (see the module docstring). `sleep` and `draw` (a random number in
    [0, 1)) are injectable so tests can check the backoff without waiting."""

    def __init__(
        self,
        url: str,
        token: str,
        account: str,
        handler: LinkHandler,
        *,
        ca_file: Path | None = None,
        backoff: Backoff | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        draw: Callable[[], float] = random.random,
        status_every: float = 5.0,
        resend_after: float = 10.0,
        open_timeout: float = 10.0,
        before_report: Callable[[], None] | None = None,
    ) -> None:
        scheme = urlsplit(url).scheme
        if scheme not in ("ws", "wss"):
            raise ValueError(
                f"--api-url {url!r} must start with ws:// or wss://, e.g. ws://127.0.0.1:8000/listen_events"
            )
        self.url = url
        self._token = token
        self.account = account
        self._handler = handler
        self._ssl = ssl_context(url, ca_file)
        self._backoff = backoff or Backoff()
        self._sleep = sleep
        self._draw = draw
        self._status_every = status_every
        self._resend_after = resend_after
        self._open_timeout = open_timeout
        self._before_report = before_report
        self._reports_waiting = asyncio.Event()
        self._status_changed = asyncio.Event()
        self._send_lock = asyncio.Lock()
        self._batch_frames = True  # False once the cloud said it does not know them (an old cloud)
        self._sent: dict[str, float] = {}  # status id -> when sent on this connection
        self.connected = False
        self.attempts = 0  # failed attempts since the last good connection
        self.sessions = 0

    # -- what the executor calls ------------------------------------------------------------------

    def reports_changed(self) -> None:
        """New status reports are in the journal: send them now (if connected)."""
        self._reports_waiting.set()

    def status_changed(self) -> None:
        """Something `executor_status` shows has changed: send it now (if connected)."""
        self._status_changed.set()

    async def run(self) -> None:
        """Stay connected until cancelled. Raises TokenRefused when the cloud refuses the token."""
        while True:
            try:
                await self._session()
                reason = "the cloud closed the connection"
            except TokenRefused:
                raise
            except _Silent as error:
                reason = str(error)
            except ConnectionClosed as error:
                reason = _closed_reason(error)
            except (OSError, InvalidHandshake, TimeoutError, messages.BadFrame) as error:
                reason = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
            finally:
                self.connected = False
            delay = self._backoff.delay(self.attempts, self._draw())
            self.attempts += 1
            if self.attempts == 1 and self.sessions:
                logger.warning("lost the cloud at %s (%s); reconnecting in %.1fs", self.url, reason, delay)
            else:
                logger.warning(
                    "cloud unreachable at %s (%s); retrying in %.1fs (attempt %d). Orders already "
                    "received keep being placed and their statuses are kept until the cloud is back",
                    self.url,
                    reason,
                    delay,
                    self.attempts,
                )
            await self._sleep(delay)

    # -- one connection ---------------------------------------------------------------------------

    async def _session(self) -> None:
        headers = {"Authorization": f"Bearer {self._token}"}
        try:
            socket = await connect(
                self.url,
                additional_headers=headers,
                compression=None,
                max_size=messages.MAX_FRAME_BYTES,
                ssl=self._ssl,
                open_timeout=self._open_timeout,
                ping_interval=None,
                proxy=None if is_loopback(self.url) else True,
                user_agent_header="tradebridge-executor",
            )
        except InvalidStatus as error:
            status = error.response.status_code
            if status in REFUSED_HTTP:
                raise TokenRefused(
                    f"the cloud at {self.url} refused the token (HTTP {status}); {TOKEN_HELP}"
                ) from None
            raise
        async with socket:
            try:
                await self._serve(socket)
            except ConnectionClosed as error:
                if error.rcvd is not None and error.rcvd.code == CLOSE_POLICY:
                    reason = error.rcvd.reason or "policy violation"
                    raise TokenRefused(
                        f"the cloud at {self.url} refused the token (close code 1008: {reason}); {TOKEN_HELP}"
                    ) from None
                raise

    async def _serve(self, socket: ClientConnection) -> None:
        raw = await asyncio.wait_for(socket.recv(), timeout=self._open_timeout)
        first = messages.decode(raw)
        if first.event != messages.CONNECTED:
            raise messages.BadFrame(f"expected `connected` first, got {first.event!r}")
        hello: messages.Connected = first.data
        last_seq = self._handler.last_seq()
        await self._send(socket, messages.RESUME, messages.Resume(account=self.account, last_seq=last_seq))
        self.connected = True
        self.sessions += 1
        self.attempts = 0
        logger.info(
            "connected to the cloud at %s as account %s (client %s); resumed after seq %d",
            self.url,
            self.account,
            hello.client_id,
            last_seq,
        )
        heard = [asyncio.get_running_loop().time()]
        self._sent = {}
        self._acks: list[str] = []  # acknowledged ids not yet forgotten by the handler
        self._acks_waiting = asyncio.Event()
        self._batch_frames = True
        tasks = [
            asyncio.create_task(self._read(socket, heard), name="link-read"),
            asyncio.create_task(self._send_reports(socket), name="link-reports"),
            asyncio.create_task(self._send_status(socket), name="link-status"),
            asyncio.create_task(self._watch(hello.heartbeat_seconds, heard), name="link-watchdog"),
            asyncio.create_task(self._forget_acknowledged(), name="link-acks"),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        for task in done:
            error = task.exception()
            if error is not None:
                raise error

    async def _send(self, socket: ClientConnection, event: str, data: Any, seq: int | None = None) -> None:
        frame = messages.encode(event, data, seq)
        async with self._send_lock:
            await socket.send(frame.decode())

    async def _read(self, socket: ClientConnection, heard: list[float]) -> None:
        async for raw in socket:
            heard[0] = asyncio.get_running_loop().time()
            try:
                frame = messages.decode(raw)
            except messages.BadFrame as error:
                logger.warning("ignored a frame from the cloud: %s", error)
                continue
            if frame.event == messages.TRADING_ORDERS_GENERATED:
                ack = await self._handler.on_batch(frame.data, frame.seq)
                if ack is not None:
                    await self._send(socket, messages.ACK, messages.Ack(seq=ack))
            elif frame.event == messages.STATUS_ACKNOWLEDGED:
                if frame.data.status_id:
                    self._handler.on_status_acknowledged(frame.data.status_id)
            elif frame.event == messages.STATUSES_ACKNOWLEDGED:
                self._acknowledged(frame.data)
            elif frame.event == messages.HEARTBEAT:
                now = datetime.now(UTC).isoformat()
                await self._send(socket, messages.HEARTBEAT, messages.Heartbeat(time=now))
            elif frame.event == messages.ERROR:
                if self._batch_frames and frame.data.message.startswith(_UNKNOWN_BATCH_FRAME):
                    logger.info("the cloud does not take local_trading_statuses; sending statuses one by one")
                    self._batch_frames = False
                    self._sent.clear()  # what went in batch frames was not stored: send it again
                    self._reports_waiting.set()
                    continue
                logger.warning("the cloud refused a message: %s (%s)", frame.data.message, frame.data.code)

    def _acknowledged(self, answer: messages.StatusesAcknowledged) -> None:
        """Queue the stored ids for `_forget_acknowledged`, so reading goes on (a new batch must not
        wait behind hundreds of journal commits). Ids still queued when the connection drops are
        simply sent again next time: the cloud stores a repeated report once and acknowledges it."""
        for status_id, reason in answer.refused.items():
            logger.warning(
                "the cloud did not store status %s: %s (kept; sent again later)", status_id, reason
            )
        self._acks.extend(answer.status_ids)
        self._acks_waiting.set()

    async def _forget_acknowledged(self) -> None:
        many = getattr(self._handler, "on_statuses_acknowledged", None)
        while True:
            await self._acks_waiting.wait()
            self._acks_waiting.clear()
            while self._acks:
                if many is not None:
                    ids, self._acks = self._acks, []
                    many(ids)
                    continue
                ids, self._acks = self._acks[:ACKS_PER_TURN], self._acks[ACKS_PER_TURN:]
                for status_id in ids:
                    self._handler.on_status_acknowledged(status_id)
                await asyncio.sleep(0)  # let a new batch or the sending go first

    async def _send_reports(self, socket: ClientConnection) -> None:
        loop = asyncio.get_running_loop()
        sent = self._sent
        while True:
            self._reports_waiting.clear()
            now = loop.time()
            due = []
            for report in self._handler.pending_reports():
                last = sent.get(report.status_id)
                if last is None or now - last >= self._resend_after:
                    due.append(report)  # else: sent on this connection, its acknowledgement is on its way
            for start in range(0, len(due), messages.MAX_STATUSES_PER_FRAME):
                chunk = due[start : start + messages.MAX_STATUSES_PER_FRAME]
                if self._batch_frames:
                    if self._before_report is not None:
                        for _ in chunk:  # once per report, as when each went alone (crash points count them)
                            self._before_report()
                    account = self.account
                    await self._send_batch(socket, [wire_status(report, account) for report in chunk])
                else:
                    for report in chunk:
                        if self._before_report is not None:
                            self._before_report()
                        status = wire_status(report, self.account)
                        await self._send(socket, messages.LOCAL_TRADING_STATUS, status)
                sent.update((report.status_id, now) for report in chunk)
            # asyncio.timeout, not wait_for: wait_for wraps the wait in a task of its own, which
            # costs two more turns of the event loop before new reports go out.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await self._reports_waiting.wait()

    async def _send_batch(self, socket: ClientConnection, statuses: list[messages.OutgoingStatus]) -> None:
        frame = messages.encode_statuses(statuses)
        if len(frame) > messages.MAX_FRAME_BYTES and len(statuses) > 1:
            half = len(statuses) // 2  # long messages: two smaller frames
            await self._send_batch(socket, statuses[:half])
            await self._send_batch(socket, statuses[half:])
            return
        async with self._send_lock:
            await socket.send(frame.decode())

    async def _send_status(self, socket: ClientConnection) -> None:
        loop = asyncio.get_running_loop()
        last: messages.ExecutorStatus | None = None
        last_time = 0.0
        while True:
            self._status_changed.clear()
            status = await self._handler.executor_status()
            if status != last or loop.time() - last_time >= self._status_every:
                await self._send(socket, messages.EXECUTOR_STATUS, status)
                last, last_time = status, loop.time()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._status_changed.wait(), timeout=min(1.0, self._status_every))

    async def _watch(self, heartbeat: float, heard: list[float]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(max(0.05, heartbeat / 2))
            silent = loop.time() - heard[0]
            if silent > 3 * heartbeat:
                raise _Silent(
                    f"no frame from the cloud for {silent:.0f}s (3 heartbeat periods of {heartbeat:g}s)"
                )


# A status as its wire text: a dict lookup, not the member's `.value` (a descriptor call), ~200 a batch.
_STATUS_TEXT = {status: status.value for status in LegStatus}


def wire_status(report: StatusReport, account: str) -> messages.OutgoingStatus:
    """A journaled report as the `local_trading_status` frame's data (its time as the journal wrote
    it, kept by `time_text`: about 200 reports a batch)."""
    return messages.OutgoingStatus(
        report.batch_id,
        report.order_ref,
        report.symbol,
        _STATUS_TEXT[report.status],
        report.filled,
        report.avg_price,
        report.message,
        report.status_id,
        account,
        time_text(report.created_at),
    )


def _closed_reason(error: ConnectionClosed) -> str:
    frame = error.rcvd
    if frame is None:
        return "the connection dropped"
    return f"closed with code {frame.code}" + (f": {frame.reason}" if frame.reason else "")
