"""Pytest fixtures and helpers for tests that run ib_async against the fake TWS.

Import the fixtures into a test module (or a conftest.py) to use them:

    # ruff: noqa: F811  (pytest fixtures arrive as parameters named like the imports)
    from tests.fake_tws.pytest_helpers import fake_tws, ib, ib_log_guard  # noqa: F401

`ib_log_guard` fails the test at teardown when ib_async logged a decode error (logger
`ib_async.Decoder`, or an "Error for <method>" record), could not place a message (a status for an
unknown order, ticks for an unknown request), or the fake logged an internal error: ib_async swallows
badly laid-out messages, so without this guard a wire bug shows up only as a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
import pytest_asyncio
from ib_async import IB, Contract, Stock, Trade

from tests.fake_tws.fake import FakeTWS
from tests.fake_tws.framing import API_PREFIX, Field, FrameBuffer, encode_message, frame

DEFAULT_PRICES = {"AAPL": 150, "MSFT": 300}
CONNECT_TIMEOUT = 3.0
WAIT_TIMEOUT = 3.0


class IbLogGuard(logging.Handler):
    """Collects log records that reveal a wire bug, and ib_async's "request timed out" records."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.wire_errors: list[str] = []
        self.timeouts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Sort one record."""
        message = record.getMessage()
        decoder = record.name == "ib_async.Decoder" and record.levelno >= logging.ERROR
        fake_bug = record.name.startswith("tests.fake_tws") and record.levelno >= logging.ERROR
        # Messages ib_async could decode but not place: a status for an order this client does not
        # have, or ticks for a request it never made (or already cancelled).
        misrouted = "No order found" in message or "Unknown reqId" in message
        if decoder or fake_bug or misrouted or message.startswith("Error for"):
            self.wire_errors.append(f"{record.name}: {message}")
        if "timed out" in message and record.name.startswith("ib_async"):
            self.timeouts.append(message)


@pytest.fixture
def ib_log_guard() -> Iterator[IbLogGuard]:
    """Fail the test if ib_async could not decode or place something the fake sent."""
    guard = IbLogGuard()
    loggers = [logging.getLogger("ib_async"), logging.getLogger("tests.fake_tws")]
    for logger in loggers:
        logger.addHandler(guard)
    try:
        yield guard
    finally:
        for logger in loggers:
            logger.removeHandler(guard)
    if guard.wire_errors:
        pytest.fail("ib_async could not handle the fake's messages:\n" + "\n".join(guard.wire_errors))


@pytest_asyncio.fixture
async def fake_tws(ib_log_guard: IbLogGuard) -> AsyncIterator[FakeTWS]:
    """A started FakeTWS on a free port, with AAPL at 150 and MSFT at 300."""
    fake = FakeTWS(prices=DEFAULT_PRICES)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


async def connect(fake: FakeTWS, client_id: int = 1, **kwargs: object) -> IB:
    """An ib_async client connected to the fake."""
    ib = IB()
    await ib.connectAsync("127.0.0.1", fake.port, clientId=client_id, timeout=CONNECT_TIMEOUT, **kwargs)  # type: ignore[arg-type]
    return ib


@pytest_asyncio.fixture
async def ib(fake_tws: FakeTWS) -> AsyncIterator[IB]:
    """ib_async connected to `fake_tws` as client 1."""
    client = await connect(fake_tws, 1)
    try:
        yield client
    finally:
        client.disconnect()


async def wait_until(condition: Callable[[], object], what: str, timeout: float = WAIT_TIMEOUT) -> None:
    """Wait until `condition()` is true; fail with `what` if it is not within `timeout` seconds.

    The timeout only bounds a hang; it is not a speed assertion.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


async def qualified(ib: IB, symbol: str = "AAPL") -> Contract:
    """A stock contract qualified through the fake (fails the test if it is unknown)."""
    [contract] = await ib.qualifyContractsAsync(Stock(symbol, "SMART", "USD"))
    assert isinstance(contract, Contract), f"{symbol} did not qualify"
    return contract


async def status_becomes(trade: Trade, status: str) -> None:
    """Wait until ib_async shows `status` for the trade."""
    await wait_until(lambda: trade.orderStatus.status == status, f"order {trade.order.orderId} {status}")


def error_codes(trade: Trade) -> list[int]:
    """The error codes ib_async logged on a trade, in order."""
    return [entry.errorCode for entry in trade.log if entry.errorCode]


class RawClient:
    """A bare TWS API client for wire-level tests (no ib_async, no throttling)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._frames = FrameBuffer()
        self.received: list[list[str]] = []

    @classmethod
    async def connect(cls, port: int, client_id: int | None = 1) -> RawClient:
        """Connect, handshake, and (unless client_id is None) send startApi."""
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        client = cls(reader, writer)
        writer.write(API_PREFIX + frame(b"v157..178"))
        (length,) = struct.unpack(">I", await reader.readexactly(4))
        client.handshake = (await reader.readexactly(length)).decode().split("\0")[:-1]
        if client_id is not None:
            client.send([71, 2, client_id, ""])
        return client

    handshake: list[str]

    def send(self, fields: list[Field]) -> None:
        """Send one message."""
        self._writer.write(encode_message(fields))

    async def read_until(
        self, condition: Callable[[list[str]], bool], timeout: float = WAIT_TIMEOUT
    ) -> list[str]:
        """The first message (already received or arriving) that satisfies `condition`.

        Every message is kept in `received`; the search starts from the first one each call.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        checked = 0
        while True:
            for fields in self.received[checked:]:
                checked += 1
                if condition(fields):
                    return fields
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"no matching message; received {[f[:4] for f in self.received]}")
            try:
                data = await asyncio.wait_for(self._reader.read(65536), remaining)
            except TimeoutError:
                continue
            if not data:
                raise ConnectionError("the fake closed the connection")
            self.received += self._frames.feed(data)

    async def closed_by_server(self, timeout: float = WAIT_TIMEOUT) -> bool:
        """Whether the server closes the connection (reading and keeping messages until then)."""
        try:
            await self.read_until(lambda _: False, timeout)
        except ConnectionError:
            return True
        except AssertionError:
            return False
        return False

    async def close(self) -> None:
        """Close the connection."""
        self._writer.close()
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()
