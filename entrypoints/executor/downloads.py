"""The order file of each batch (`file.download_url`, relative to the API URL's http(s) origin),
downloaded with the token into --download-dir. A failed download is logged and never holds up
placing: the orders travel in the batch itself; the file is for people. One asynchronous HTTP
client serves every download: it is built once, in a thread (its TLS setup costs ~20 ms of CPU,
which, paid per batch, competed with placing the batch's orders); requests then run on the event
loop, between the executor's steps, instead of in a thread that contends for the interpreter
while the batch's statuses are being sent."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx

from adapters.wire import messages
from entrypoints.executor.link import is_loopback, ssl_context

logger = logging.getLogger("tradebridge.executor")


def http_origin(api_url: str) -> str:
    """ws://host:port/listen_events -> http://host:port (wss -> https)."""
    parts = urlsplit(api_url)
    scheme = "https" if parts.scheme == "wss" else "http"
    return f"{scheme}://{parts.netloc}"


class OrderFiles:
    """Downloads order files in the background (one task each); `cancel` stops what is running."""

    def __init__(self, api_url: str, token: str, directory: Path, ca_file: Path | None) -> None:
        self._api_url = api_url
        self._token = token
        self._directory = directory
        self._ca_file = ca_file
        self._tasks: set[asyncio.Task[None]] = set()
        self._client: httpx.AsyncClient | None = None
        self._client_lock = asyncio.Lock()  # concurrent downloads build the client once

    def download(self, file: messages.OrderFile) -> None:
        """Start downloading `file` unless it is already in the directory."""
        name = Path(file.name).name  # never outside the download dir, whatever the cloud says
        target = self._directory / name
        if not name or target.exists():
            return
        task = asyncio.create_task(self._fetch(file.download_url, target), name=f"download {name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def cancel(self) -> None:
        """Stop the downloads that are running and release the HTTP client."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def _fetch(self, download_url: str, target: Path) -> None:
        url = urljoin(http_origin(self._api_url) + "/", download_url)
        try:
            client = await self._http()
            response = await client.get(url, headers={"Authorization": f"Bearer {self._token}"})
            response.raise_for_status()
            size = await asyncio.to_thread(_save, target, response.content)
            logger.info("order file saved: %s (%d bytes)", target, size)
        except (httpx.HTTPError, OSError) as error:
            logger.warning("could not download the order file %s (%s); placing is not affected", url, error)

    async def _http(self) -> httpx.AsyncClient:
        """The shared client (every download goes to the API URL's origin), built on first use."""
        async with self._client_lock:
            if self._client is None:
                # In a thread: building it (TLS setup) must not hold up placing orders.
                self._client = await asyncio.to_thread(self._build_client)
            return self._client

    def _build_client(self) -> httpx.AsyncClient:
        context = ssl_context(self._api_url, self._ca_file)
        return httpx.AsyncClient(
            verify=context if context is not None else True,
            timeout=30.0,
            trust_env=not is_loopback(http_origin(self._api_url)),
        )


def _save(target: Path, content: bytes) -> int:
    """Write the file whole under its name (a partial file never carries it)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.part")
    partial.write_bytes(content)
    partial.replace(target)
    return len(content)
