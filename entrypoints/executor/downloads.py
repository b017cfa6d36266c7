"""The order file of each batch (`file.download_url`, relative to the API URL's http(s) origin),
downloaded with the token into --download-dir. A failed download is logged and never holds up
placing: the orders travel in the batch itself; the file is for people."""

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
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _fetch(self, download_url: str, target: Path) -> None:
        url = urljoin(http_origin(self._api_url) + "/", download_url)
        try:
            # In a thread: building the HTTP client (TLS setup) must not hold up placing orders.
            size = await asyncio.to_thread(self._fetch_blocking, url, target)
            logger.info("order file saved: %s (%d bytes)", target, size)
        except (httpx.HTTPError, OSError) as error:
            logger.warning("could not download the order file %s (%s); placing is not affected", url, error)

    def _fetch_blocking(self, url: str, target: Path) -> int:
        context = ssl_context(self._api_url, self._ca_file)
        with httpx.Client(
            verify=context if context is not None else True, timeout=30.0, trust_env=not is_loopback(url)
        ) as client:
            response = client.get(url, headers={"Authorization": f"Bearer {self._token}"})
            response.raise_for_status()
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.part")
        partial.write_bytes(response.content)
        partial.replace(target)
        return len(response.content)
