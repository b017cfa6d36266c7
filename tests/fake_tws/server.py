"""The TCP side: accept connections, handshake, bind client ids, pace, record and dispatch requests.

Connection lifecycle (tws_protocol.md §3, §9.10):
1. `API\\0` + framed `v157..178` -> the two-field reply `178, <time>`;
2. startApi carries the client id: a live connection already holding it gets error 326 and is
   closed; otherwise MANAGED_ACCTS, NEXT_VALID_ID and the usual data-farm notices follow;
3. every later message is recorded, counted for pacing (over 50 per second: error 100, and the
   message is not processed) and dispatched.
Broker state lives in the engine, not here, so it survives any connection ending.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections.abc import Callable
from datetime import datetime
from typing import NamedTuple

from tests.fake_tws.connection import Session
from tests.fake_tws.context import Context
from tests.fake_tws.dispatch import dispatch
from tests.fake_tws.framing import (
    API_PREFIX,
    FrameBuffer,
    handshake_reply,
    negotiate_version,
    parse_version_range,
)
from tests.fake_tws.ids import In
from tests.fake_tws.messages import system
from tests.fake_tws.pacing import PACING_VIOLATION, PacingMeter
from tests.fake_tws.registry import Registry
from tests.fake_tws.requests import to_int

log = logging.getLogger("tests.fake_tws")

CLIENT_ID_IN_USE = 326
REBIND_GRACE_SECONDS = 0.25
"""How long a startApi waits for a previous connection with the same client id to finish closing
(a client that disconnects and reconnects at once may beat the server to the old socket's EOF)."""
STOP_TIMEOUT_SECONDS = 2.0
FARM_NOTICES = (
    (2104, "Market data farm connection is OK:usfarm"),
    (2106, "HMDS data farm connection is OK:ushmds"),
    (2158, "Sec-def data farm connection is OK:secdefnj"),
)


class RecordedRequest(NamedTuple):
    """One request as it reached the fake broker; `fields[0]` is the message id."""

    client_id: int
    msg_id: int
    fields: list[str]


class TwsServer:
    """Serves the TWS socket protocol for one fake broker."""

    def __init__(
        self, ctx: Context, registry: Registry, pacing: PacingMeter, clock: Callable[[], datetime]
    ) -> None:
        self._ctx = ctx
        self._registry = registry
        self._pacing = pacing
        self._clock = clock
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.requests: list[RecordedRequest] = []

    async def start(self, host: str, port: int) -> int:
        """Listen; return the bound port (useful with port 0)."""
        self._server = await asyncio.start_server(self._serve, host, port)
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop listening and drop every connection; wait for the connection tasks to finish."""
        if self._server is not None:
            self._server.close()
        for session in self._registry.all():
            session.abort()
        if self._tasks:
            # Aborted sockets end their read loops by themselves; cancelling the tasks instead
            # would make asyncio's stream callback log a CancelledError traceback (py3.11).
            _, pending = await asyncio.wait(self._tasks, timeout=STOP_TIMEOUT_SECONDS)
            for task in pending:
                task.cancel()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    def drop(self, client_id: int | None = None) -> int:
        """Cut connections (one client's, or all) as a network failure would; return how many."""
        dropped = 0
        for session in self._registry.all():
            if client_id is None or session.client_id == client_id:
                session.abort()
                self._registry.remove(session)
                dropped += 1
        return dropped

    def broadcast_error(self, code: int, message: str) -> None:
        """An error with reqId -1 to every connected client (e.g. 1100/1101/1102)."""
        for session in self._registry.bound():
            session.send(system.error(-1, code, message))

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        session = Session(writer, self._ctx.faults)
        self._registry.add(session)
        try:
            if await self._handshake(reader, session):
                await self._read_loop(reader, session)
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            log.debug("client %s connection ended: %r", session.client_id, exc)
        except asyncio.CancelledError:
            log.debug("client %s connection task cancelled at shutdown", session.client_id)
        finally:
            self._registry.remove(session)
            session.close()
            self._tasks.discard(task)

    async def _handshake(self, reader: asyncio.StreamReader, session: Session) -> bool:
        prefix = await reader.readexactly(len(API_PREFIX))
        if prefix != API_PREFIX:
            log.warning("not a TWS API client (first bytes %r); closing", prefix)
            return False
        (length,) = struct.unpack(">I", await reader.readexactly(4))
        payload = await reader.readexactly(length)
        try:
            negotiate_version(parse_version_range(payload))
        except ValueError as exc:
            log.warning("refusing client: %s", exc)
            return False
        session.send_raw(handshake_reply(self._clock()))
        return True

    async def _read_loop(self, reader: asyncio.StreamReader, session: Session) -> None:
        frames = FrameBuffer()
        while not session.closed.is_set():
            data = await reader.read(65536)
            if not data:
                return
            for fields in frames.feed(data):
                if session.client_id is None:
                    await self._start_api(session, fields)
                else:
                    self._on_request(session, session.client_id, fields)
                if session.closed.is_set():
                    return

    async def _start_api(self, session: Session, fields: list[str]) -> None:
        if not fields or to_int(fields[0], -1) != In.START_API or len(fields) < 3:
            log.warning("ignoring %s before startApi", fields[:3])
            return
        client_id = to_int(fields[2])
        self.requests.append(RecordedRequest(client_id, In.START_API, fields))
        holder = self._registry.holder(client_id)
        if holder is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(holder.closed.wait(), REBIND_GRACE_SECONDS)
        if not self._registry.bind(session, client_id):
            log.info("client id %s is in use; answering 326", client_id)
            session.send(
                system.error(
                    -1,
                    CLIENT_ID_IN_USE,
                    ("Unable to connect as the client id is already in use. Retry with a unique client id."),
                )
            )
            session.close()
            return
        session.send(system.managed_accounts(self._ctx.accounts))
        session.send(system.next_valid_id(self._ctx.engine.next_order_id()))
        for code, text in FARM_NOTICES:
            session.send(system.error(-1, code, text))

    def _on_request(self, session: Session, client_id: int, fields: list[str]) -> None:
        msg_id = to_int(fields[0], -1) if fields else -1
        self.requests.append(RecordedRequest(client_id, msg_id, fields))
        rate = self._pacing.record(client_id)
        if self._pacing.exceeded(rate):
            session.send(
                system.error(-1, PACING_VIOLATION, PacingMeter.violation_text(rate, self._pacing.limit))
            )
            return
        dispatch(self._ctx, session, fields)
