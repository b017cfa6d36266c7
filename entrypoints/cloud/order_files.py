"""Order files on disk: `<data dir>/files/orders_<batch id>.xlsx`, written off the event loop."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Sequence
from pathlib import Path

from core.order_file import OrderFileRow, OrderFileWriter

FILE_NAME = re.compile(r"orders_([A-Za-z0-9-]{1,16})\.xlsx")
DOWNLOAD_PATH = "/analysis/orders/files/"


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


def _write_atomically(path: Path, data: bytes) -> None:
    # A reader never sees half a file: write beside it, then rename over it.
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)
