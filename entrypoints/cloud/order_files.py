"""Order files on disk: `<data dir>/files/orders_<batch id>.xlsx`, written off the event loop.

`DiskOrderFiles` writes a file when asked. `DeferredOrderFiles` (what the cloud runs on) answers
a placement at once and writes the file in the background once the cloud is quiet, so building
the workbook (milliseconds of CPU that hold the GIL) never delays a placement or the storing of
an executor's statuses; a download of a file still waiting writes it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from core.order_file import OrderFileRow, OrderFileWriter
from entrypoints.cloud.activity import Activity

logger = logging.getLogger(__name__)

FILE_NAME = re.compile(r"orders_([A-Za-z0-9-]{1,16})\.xlsx")
DOWNLOAD_PATH = "/analysis/orders/files/"
QUIET_SECONDS = 0.25  # a queued file is written once no placement and no frame came for this long,
LATEST_SECONDS = 2.0  # or this long after its batch was stored, whatever comes first
STOP_SECONDS = 10.0  # on shutdown, the files still queued are written within this time at most


class DiskOrderFiles:
    """OrderFiles (core.service_layer.cloud) in a directory. Names are checked against
    FILE_NAME, so a request can never reach outside the directory."""

    def __init__(self, directory: Path, writer: OrderFileWriter, url_prefix: str = "") -> None:
        self.directory = directory
        self.writer = writer
        self.url_prefix = url_prefix.rstrip("/")

    def download_url(self, name: str) -> str:
        return f"{self.url_prefix}{DOWNLOAD_PATH}{name}"

    def path_of(self, name: str) -> Path:
        """The file's path; ValueError for a name that is not an order file name."""
        if not FILE_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not an order file name (orders_<batch id>.xlsx)")
        return self.directory / name

    @staticmethod
    def batch_id_of(name: str) -> str | None:
        match = FILE_NAME.fullmatch(name)
        return match.group(1) if match else None

    async def save(self, name: str, rows: Sequence[OrderFileRow]) -> None:
        path = self.path_of(name)
        await asyncio.to_thread(self._write, path, rows)

    def _write(self, path: Path, rows: Sequence[OrderFileRow]) -> None:
        _write_atomically(path, self.writer.write(rows))

    async def read(self, name: str) -> bytes | None:
        path = self.path_of(name)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            return None


class OrderFilesFailing(OSError):
    """The background writer's latest write failed: a file queued now will likely fail too."""


@dataclass(frozen=True, slots=True)
class _Queued:
    rows: tuple[OrderFileRow, ...]
    latest: float  # on Activity's clock: written by then even if the cloud is never quiet


class DeferredOrderFiles:
    """OrderFiles whose `save` only queues the file (the placement's answer does not wait for
    it); a background task (`start`/`stop`) writes the queued files oldest first, through `disk`,
    once `activity` has been quiet for `quiet_seconds`, and any file at the latest
    `latest_seconds` after it was queued. `read` (the download) writes a queued file at once.

    One write per name at a time: a download that comes while its file is being written waits
    for that write, so two different files of one batch are never written, and each write is an
    atomic rename, so a reader never sees half a file. A failed background write is logged (the
    download generates the file again from the stored batch) and reported by the next `save`.
    """

    def __init__(
        self,
        disk: DiskOrderFiles,
        activity: Activity,
        quiet_seconds: float = QUIET_SECONDS,
        latest_seconds: float = LATEST_SECONDS,
    ) -> None:
        self.disk = disk
        self.activity = activity
        self.quiet_seconds = quiet_seconds
        self.latest_seconds = latest_seconds
        self.last_failure: str | None = None
        self._queued: OrderedDict[str, _Queued] = OrderedDict()
        self._writing: dict[str, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def download_url(self, name: str) -> str:
        return self.disk.download_url(name)

    def path_of(self, name: str) -> Path:
        return self.disk.path_of(name)

    @staticmethod
    def batch_id_of(name: str) -> str | None:
        return DiskOrderFiles.batch_id_of(name)

    @property
    def queued(self) -> list[str]:
        """The names of the files waiting to be written, oldest first."""
        return list(self._queued)

    async def save(self, name: str, rows: Sequence[OrderFileRow]) -> None:
        """Queue the file (a placement: urgent work, so the quiet time starts again). ValueError
        for a name that is not an order file name; OrderFilesFailing (the file is queued all the
        same) when the latest background write failed."""
        self.disk.path_of(name)
        self.activity.touch()
        if name not in self._queued:
            self._queued[name] = _Queued(tuple(rows), self.activity.last + self.latest_seconds)
            self._wake.set()
        if self.last_failure is not None:
            raise OrderFilesFailing(
                f"the latest order file write failed ({self.last_failure}); this one is queued but "
                f"will likely fail too"
            )

    def next_write_at(self) -> float | None:
        """When the oldest queued file is due (on Activity's clock); None when none is queued.
        Activity only moves it later, and each file is queued after the ones before it."""
        if not self._queued:
            return None
        oldest = next(iter(self._queued.values()))
        return min(self.activity.quiet_at(self.quiet_seconds), oldest.latest)

    async def write_due(self) -> int:
        """Write the queued files that are due, oldest first (each write may end the quiet, so
        it is checked again before the next); the number written or failed."""
        handled = 0
        while self._queued:
            due = self.next_write_at()
            if due is None or due > self.activity.monotonic():
                break
            name, queued = self._queued.popitem(last=False)
            handled += 1
            try:
                await self._write(name, queued.rows)
            except Exception as error:  # logged: the download generates the file again
                self._failed(name, error)
        return handled

    async def read(self, name: str) -> bytes | None:
        """The file's content, or None if there is no such file. A file still queued is written
        now (and one being written is waited for); its write's error is raised."""
        queued = self._queued.pop(name, None)
        if queued is not None:
            await self._write(name, queued.rows)
        elif (running := self._writing.get(name)) is not None:
            await asyncio.shield(running)
        return await self.disk.read(name)

    async def write_missing(self, name: str, rows: Sequence[OrderFileRow]) -> None:
        """Write the file now unless it is there (or being written: that write is waited for);
        a download regenerates a lost or failed file from the stored batch this way."""
        queued = self._queued.pop(name, None)
        running = self._writing.get(name)
        if running is not None:
            await asyncio.shield(running)
        elif queued is not None or not await asyncio.to_thread(self.disk.path_of(name).exists):
            await self._write(name, rows)

    async def _write(self, name: str, rows: Sequence[OrderFileRow]) -> None:
        running = self._writing.get(name)
        if running is None:
            running = asyncio.create_task(self.disk.save(name, rows), name=f"order-file-{name}")
            self._writing[name] = running
            running.add_done_callback(lambda done: self._written(name, done))
        await asyncio.shield(running)  # a download that gives up does not cut the write short

    def _written(self, name: str, done: asyncio.Task[None]) -> None:
        if self._writing.get(name) is done:
            del self._writing[name]
        if not done.cancelled() and done.exception() is None:
            self.last_failure = None

    def _failed(self, name: str, error: BaseException) -> None:
        self.last_failure = str(error)
        logger.error(
            "order file %s not written (%s); check the files directory (free space, permissions): "
            "a download of %s%s generates it again from the stored batch",
            name, error, DOWNLOAD_PATH, name,
        )

    # -- the background writer ----------------------------------------------------------------

    def start(self) -> None:
        """Start writing queued files in the background (in the running event loop)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="tradebridge-order-files")

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            due = self.next_write_at()
            if due is None:
                await self._wake.wait()
                continue
            delay = due - self.activity.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)  # nothing can make the oldest file due sooner
                continue
            await self.write_due()

    async def stop(self, timeout: float = STOP_SECONDS) -> None:
        """Stop the background writer and write every queued file (waiting for the writes under
        way), within `timeout` seconds at most; what is left is logged (each file is generated
        again from its stored batch when downloaded)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await asyncio.wait_for(self._flush(), timeout)
        except TimeoutError:
            logger.error(
                "%d order file(s) not written within %.0f s of shutting down (%s); each is generated "
                "again from its stored batch when downloaded", len(self._queued), timeout,
                ", ".join(self._queued),
            )

    async def _flush(self) -> None:
        while self._queued:
            name, queued = self._queued.popitem(last=False)
            try:
                await self._write(name, queued.rows)
            except Exception as error:  # logged: the download generates the file again
                self._failed(name, error)
        for running in list(self._writing.values()):
            with contextlib.suppress(Exception):  # its waiter reports it
                await asyncio.shield(running)


def _write_atomically(path: Path, data: bytes) -> None:
    # A reader never sees half a file: write beside it, then rename over it.
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)
