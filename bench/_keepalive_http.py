"""A minimal HTTP/1.1 client on one keep-alive connection, for the latency benchmarks.

Not a benchmark itself (`make bench` runs only files not starting with `_`). httpx adds about
0.8 ms of its own per request on this machine (request building, its connection pool, the task
hand-off), which is the client's cost, not the service's; the benchmarks time the service, so
their timed requests go through this instead. The server still receives, parses and answers an
ordinary HTTP/1.1 request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping


class HttpAnswer:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status_code = status
        self.headers = headers
        self.content = body

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


class KeepAliveHttp:
    """One connection, one request at a time (await each answer before the next request)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str,
                 headers: Mapping[str, str]) -> None:
        self._reader = reader
        self._writer = writer
        fixed = {"Host": host, **headers}
        self._head = "".join(f"{name}: {value}\r\n" for name, value in fixed.items()).encode()

    @classmethod
    async def open(cls, host: str, port: int, headers: Mapping[str, str]) -> KeepAliveHttp:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer, f"{host}:{port}", headers)

    async def post(self, path: str, body: bytes, content_type: str = "application/json") -> HttpAnswer:
        self._writer.write(
            b"POST " + path.encode() + b" HTTP/1.1\r\n" + self._head
            + f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
        )
        return await self._answer()

    async def _answer(self) -> HttpAnswer:
        head = await self._reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        headers = {}
        for line in header_lines:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            return HttpAnswer(status, headers, await self._chunks())
        length = int(headers.get("content-length", "0"))
        return HttpAnswer(status, headers, await self._reader.readexactly(length))

    async def _chunks(self) -> bytes:
        parts = []
        while True:
            size = int((await self._reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self._reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append(await self._reader.readexactly(size))
            await self._reader.readexactly(2)

    async def close(self) -> None:
        self._writer.close()
        await self._writer.wait_closed()
