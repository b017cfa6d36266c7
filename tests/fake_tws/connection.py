"""One client connection: its client id, its live subscriptions, and an ordered, delayable sender."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass, field

from tests.fake_tws.faults import Faults
from tests.fake_tws.framing import Field, encode_message
from tests.fake_tws.model import Bar

log = logging.getLogger("tests.fake_tws")


@dataclass(slots=True)
class BarStream:
    """A keepUpToDate historical request: the contract and its latest bar."""

    con_id: int
    last_bar: Bar


@dataclass(slots=True)
class Subscriptions:
    """What this connection asked to keep hearing about (they die with the connection)."""

    positions: bool = False
    account_updates: str | None = None
    account_multi: dict[int, str] = field(default_factory=dict)  # reqId -> account
    tickers: dict[int, int] = field(default_factory=dict)  # reqId -> conId
    bars: dict[int, BarStream] = field(default_factory=dict)  # reqId -> stream


class Session:
    """A client connection after the handshake.

    Messages are written in the order they are sent. With a delay fault active they wait in a queue
    and a sender task writes each one `delay` seconds after it was sent, still in order.
    """

    def __init__(self, writer: asyncio.StreamWriter, faults: Faults) -> None:
        self.client_id: int | None = None
        self.subscriptions = Subscriptions()
        self.market_data_type = 1
        self.closed = asyncio.Event()
        self._writer = writer
        self._faults = faults
        self._delayed: deque[tuple[float, bytes]] = deque()
        self._sender: asyncio.Task[None] | None = None
        self.sent = 0

    def send(self, fields: list[Field]) -> None:
        """Send one message (now, or after the configured delay)."""
        data = encode_message(fields)
        delay = self._faults.delay_seconds
        if delay <= 0 and not self._delayed:
            self._write(data)
            return
        loop = asyncio.get_running_loop()
        self._delayed.append((loop.time() + delay, data))
        if self._sender is None or self._sender.done():
            self._sender = loop.create_task(self._send_delayed())

    def send_raw(self, data: bytes) -> None:
        """Write bytes as they are (the handshake reply)."""
        self._write(data)

    async def _send_delayed(self) -> None:
        loop = asyncio.get_running_loop()
        while self._delayed:
            due, data = self._delayed[0]
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            self._delayed.popleft()
            self._write(data)

    def _write(self, data: bytes) -> None:
        if self._writer.is_closing():
            log.debug("client %s gone; dropped %d bytes", self.client_id, len(data))
            return
        self._writer.write(data)
        self.sent += 1

    def abort(self) -> None:
        """Drop the connection at once, as a network failure would (queued messages are lost)."""
        self._delayed.clear()
        if self._sender is not None:
            self._sender.cancel()
        transport = self._writer.transport
        if not transport.is_closing():
            transport.abort()
        self.closed.set()

    def close(self) -> None:
        """Close the connection after writing what is already sent."""
        if self._sender is not None:
            self._sender.cancel()
        if not self._writer.is_closing():
            self._writer.close()
        self.closed.set()
