"""uvicorn, configured for this service: no per-message compression (it doubles the latency of a
batch push), frames capped at the wire limit, optional TLS, WebSocket writes coalesced within one
turn of the event loop, and many text frames sent in one ASGI message (`CoalescingWebSocketProtocol`)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import uvicorn
from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

from adapters.wire.messages import MAX_FRAME_BYTES

# An ASGI extension of this server (named in the scope's "extensions" when offered): the message
# `{"type": SEND_TEXTS, "texts": [str, ...]}` sends each text as one text frame, in order, as
# that many `websocket.send` messages would, in one write. For the ~200 status frames a placement
# broadcasts to each observer: one frame through the ASGI layers (the app's send wrapper, the
# protocol's checks, a websockets Frame object) cost ~1.5 us apiece.
SEND_TEXTS = "tradebridge.websocket.send_texts"


class CoalescedWrites:
    """A transport whose writes in one turn of the event loop leave in at most two socket sends:
    the first at once (a lone frame, e.g. an acknowledgement, is not delayed), the ones after it
    joined and written when the loop next runs its ready callbacks (`call_soon`). Each write
    straight to a socket is a system call and wakes the reader: an observer was sent ~200 status
    frames per placement, one `send` each, ~15% of the cloud's CPU. The bytes, their order and
    the frames are unchanged; only how the stream is cut into TCP segments is."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] | None = None  # None: nothing written in this turn yet

    def write(self, data: bytes) -> None:
        held = self._held
        if held is None:
            self._transport.write(data)
            self._held = []
            self._loop.call_soon(self._flush)
        else:
            held.append(data)

    def _flush(self) -> None:
        held, self._held = self._held, None
        if held and not self._transport.is_closing():
            self._transport.write(b"".join(held))

    def close(self) -> None:
        held, self._held = self._held, []  # anything written after the close is dropped, as before
        if held and not self._transport.is_closing():
            self._transport.write(b"".join(held))
        self._transport.close()

    def abort(self) -> None:
        self._held = []
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:  # is_closing, get_extra_info, pause_reading, ...
        return getattr(self._transport, name)


def text_frame_header(length: int) -> bytes:
    """The header of an unfragmented, unmasked text frame (server to client, RFC 6455 5.2) with
    a payload of `length` bytes."""
    if length < 126:
        return bytes((0x81, length))
    if length < 1 << 16:
        return b"\x81\x7e" + length.to_bytes(2, "big")
    return b"\x81\x7f" + length.to_bytes(8, "big")


class CoalescingWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol writing through `CoalescedWrites`, with the SEND_TEXTS
    extension."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        coalesced: Any = CoalescedWrites(self.transport, self.loop)
        self.transport = coalesced

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        # The app's task is created, not yet started: it sees the extension in its scope. (A
        # refused handshake makes no scope and starts no app.)
        scope: Any = getattr(self, "scope", None)
        if scope is not None:
            scope.setdefault("extensions", {})[SEND_TEXTS] = {}

    async def send(self, message: Any) -> None:
        if message["type"] != SEND_TEXTS:
            await super().send(message)
            return
        texts: Sequence[str] = message["texts"]
        await self.writable.wait()
        if self.disconnected:
            raise ClientDisconnected()
        conn: Any = getattr(self, "conn", None)
        if (
            conn is None  # an uvicorn whose protocol is built otherwise: its own way, frame by frame
            or not getattr(self, "handshake_complete", False)
            or self.close_sent
            or self.initial_response is not None
            or conn.state is not State.OPEN
            or conn.expect_continuation_frame
            or conn.extensions
            or conn.debug
        ):
            # Anything but an open, plain connection (or frames to be logged): one by one, with
            # uvicorn's and websockets' own checks and answers.
            for text in texts:
                await super().send({"type": "websocket.send", "text": text, "bytes": None})
            return
        parts = conn.data_to_send()  # nothing, unless websockets queued a frame of its own
        for text in texts:
            payload = text.encode()
            parts.append(text_frame_header(len(payload)))
            parts.append(payload)
        if parts:
            self.transport.write(b"".join(parts))


def uvicorn_config(
    app: Any,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
    log_level: str = "info",
    access_log: bool = True,
) -> uvicorn.Config:
    """The server configuration for `app`; port 0 picks a free port."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        ws=CoalescingWebSocketProtocol,
        ws_per_message_deflate=False,
        ws_max_size=MAX_FRAME_BYTES,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
        log_level=log_level,
        access_log=access_log,
        lifespan="on",
        log_config=None,
    )
