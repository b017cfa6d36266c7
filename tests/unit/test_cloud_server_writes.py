"""The cloud's WebSocket protocol (entrypoints/cloud/server.py): writes of one loop turn leave in at
most two socket writes, in order, and the SEND_TEXTS extension puts on the wire exactly the bytes
that one `websocket.send` per text would."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.server import ServerState
from websockets.frames import Frame, Opcode
from websockets.protocol import State

from entrypoints.cloud.delivery_hub import Peer
from entrypoints.cloud.server import (
    SEND_TEXTS,
    CoalescedWrites,
    CoalescingWebSocketProtocol,
    text_frame_header,
    uvicorn_config,
)


class FakeTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        assert not self.closed, "written after close"
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


async def test_the_first_write_of_a_turn_goes_at_once_and_the_others_together_after_it() -> None:
    transport = FakeTransport()
    writes = CoalescedWrites(transport, asyncio.get_running_loop())  # type: ignore[arg-type]
    writes.write(b"a")
    assert transport.writes == [b"a"]  # a lone frame (an acknowledgement) is not delayed
    writes.write(b"b")
    writes.write(b"c")
    assert transport.writes == [b"a"]
    await asyncio.sleep(0)
    assert transport.writes == [b"a", b"bc"]
    writes.write(b"d")  # a new turn: at once again
    assert transport.writes == [b"a", b"bc", b"d"]
    await asyncio.sleep(0)
    assert transport.writes == [b"a", b"bc", b"d"]


async def test_close_sends_what_is_held_first_and_nothing_is_written_to_a_closed_transport() -> None:
    transport = FakeTransport()
    writes = CoalescedWrites(transport, asyncio.get_running_loop())  # type: ignore[arg-type]
    writes.write(b"a")
    writes.write(b"b")
    writes.close()
    assert transport.writes == [b"a", b"b"]
    assert transport.closed
    writes.write(b"late")
    await asyncio.sleep(0)
    assert transport.writes == [b"a", b"b"]


async def test_held_writes_are_dropped_when_the_transport_closed_meanwhile() -> None:
    transport = FakeTransport()
    writes = CoalescedWrites(transport, asyncio.get_running_loop())  # type: ignore[arg-type]
    writes.write(b"a")
    writes.write(b"b")
    transport.closed = True  # the connection was lost
    await asyncio.sleep(0)
    assert transport.writes == [b"a"]
    assert writes.get_extra_info("peername", "none") == "none"  # everything else: the transport's


@pytest.mark.parametrize("length", [0, 1, 125, 126, 127, 65535, 65536, 70000])
def test_the_text_frame_header_is_the_one_websockets_writes(length: int) -> None:
    payload = b"x" * length
    expected = Frame(Opcode.TEXT, payload).serialize(mask=False, extensions=[])
    assert text_frame_header(length) + payload == expected


async def _app(scope: Any, receive: Any, send: Any) -> None:
    return None


def open_protocol() -> tuple[CoalescingWebSocketProtocol, FakeTransport]:
    config = uvicorn_config(_app)
    config.load()
    protocol = CoalescingWebSocketProtocol(config, ServerState(), {})
    transport = FakeTransport()
    protocol.connection_made(transport)  # type: ignore[arg-type]
    protocol.handshake_complete = True
    protocol.conn.state = State.OPEN
    return protocol, transport


TEXTS = st.lists(st.text(alphabet=st.characters(codec="utf-8"), max_size=300), max_size=20)


@given(TEXTS)
def test_send_texts_puts_the_bytes_of_one_send_per_text_on_the_wire_in_one_write(texts: list[str]) -> None:
    async def both() -> tuple[FakeTransport, FakeTransport]:
        together, one_write = open_protocol()
        await together.send({"type": SEND_TEXTS, "texts": texts})
        alone, one_by_one = open_protocol()
        for text in texts:
            await alone.send({"type": "websocket.send", "text": text, "bytes": None})
        await asyncio.sleep(0)
        return one_write, one_by_one

    one_write, one_by_one = asyncio.run(both())
    assert b"".join(one_write.writes) == b"".join(one_by_one.writes)
    assert len(one_write.writes) == (1 if texts else 0)


async def test_send_texts_on_a_closing_connection_fails_as_a_single_send_does() -> None:
    protocol, transport = open_protocol()
    protocol.conn.state = State.CLOSING
    with pytest.raises(ClientDisconnected):
        await protocol.send({"type": "websocket.send", "text": "a", "bytes": None})
    with pytest.raises(ClientDisconnected):
        await protocol.send({"type": SEND_TEXTS, "texts": ["a", "b"]})
    assert transport.writes == []


async def test_a_peer_sends_its_texts_in_one_call_when_the_server_can() -> None:
    one_by_one: list[str] = []
    calls: list[list[str]] = []

    async def send_text(text: str) -> None:
        one_by_one.append(text)

    async def send_many(texts: Any) -> None:
        calls.append(list(texts))

    async def close(code: int, reason: str) -> None:
        return None

    able = Peer("c1", send_text, close, send_many=send_many)
    await able.send_texts(["a", "b", "c"])
    await able.send_texts([])
    assert calls == [["a", "b", "c"]]
    assert one_by_one == []
    plain = Peer("c2", send_text, close)
    await plain.send_texts(["a", "b"])
    assert one_by_one == ["a", "b"]


HANDSHAKE = (
    b"GET /listen_events HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


async def test_the_app_is_offered_send_texts_and_a_refused_handshake_still_fails_cleanly() -> None:
    scopes: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        scopes.append(scope)
        await send({"type": "websocket.close", "code": 1000})

    config = uvicorn_config(app)
    config.load()
    protocol = CoalescingWebSocketProtocol(config, ServerState(), {})
    protocol.connection_made(FakeTransport())  # type: ignore[arg-type]
    protocol.data_received(HANDSHAKE)
    await asyncio.sleep(0.01)
    assert SEND_TEXTS in scopes[0]["extensions"]
    assert "websocket.http.response" in scopes[0]["extensions"]  # uvicorn's own is kept

    refused = CoalescingWebSocketProtocol(config, ServerState(), {})
    transport = FakeTransport()
    refused.connection_made(transport)  # type: ignore[arg-type]
    refused.data_received(HANDSHAKE.replace(b"Sec-WebSocket-Version: 13", b"Sec-WebSocket-Version: 7"))
    await asyncio.sleep(0.01)
    assert b"".join(transport.writes).startswith(b"HTTP/1.1 400")
    assert len(scopes) == 1
