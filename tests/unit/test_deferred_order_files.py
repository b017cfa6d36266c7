"""The order files off the placement's critical path: a placement only queues its file; the
background writer writes it once the cloud has been quiet (no placement, no frame) for a moment,
or at the latest a while after its batch was stored, oldest first; a download of a queued file
writes it at once, one write per file; a shutdown writes what is still queued, in bounded time.
Time is a fake monotonic clock: `write_due` is what the background task runs when it wakes."""

from __future__ import annotations

import asyncio
import io
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import fastexcel
import pytest

from adapters.excel import ExcelOrderFileWriter
from core.order_file import OrderFileRow
from core.service_layer.cloud import PlaceOrders, order_file_rows, place_modified_orders
from entrypoints.cloud.activity import Activity
from entrypoints.cloud.order_files import DeferredOrderFiles, DiskOrderFiles
from tests.fakes.cloud import CloudWorld
from tests.unit.test_cloud_use_cases import world_with_scan

QUIET, LATEST = 0.25, 2.0


@dataclass
class FakeTime:
    now: float = 100.0

    def __call__(self) -> float:
        return self.now


@dataclass
class RecordingWriter:
    """The real workbook writer, recording each write's symbols; can fail or hold a write."""

    writes: list[list[str]] = field(default_factory=list)
    fail_with: Exception | None = None
    hold: threading.Event | None = None
    entered: threading.Event = field(default_factory=threading.Event)

    def write(self, rows: Sequence[OrderFileRow]) -> bytes:
        self.entered.set()
        if self.hold is not None:
            self.hold.wait(5)
        if self.fail_with is not None:
            raise self.fail_with
        self.writes.append([row.symbol for row in rows])
        return ExcelOrderFileWriter().write(rows)


@dataclass
class FilesWorld:
    world: CloudWorld
    scan_id: int
    time: FakeTime
    activity: Activity
    writer: RecordingWriter
    files: DeferredOrderFiles
    directory: Path

    async def place(self) -> tuple[str, list[str]]:
        """Place a batch: its file name and its symbols."""
        result = await place_modified_orders(self.world.deps, PlaceOrders(self.scan_id))
        assert result.created and result.file_error is None
        assert result.download_url == f"/analysis/orders/files/{result.file_name}"
        return result.file_name, [line.symbol for line in result.batch.batch.legs]

    def on_disk(self) -> list[str]:
        return sorted(path.name for path in self.directory.glob("*.xlsx"))


async def files_world(tmp_path: Path) -> FilesWorld:
    world, scan_id = await world_with_scan()
    time = FakeTime()
    activity = Activity(time)
    writer = RecordingWriter()
    files = DeferredOrderFiles(DiskOrderFiles(tmp_path, writer), activity, QUIET, LATEST)
    world.deps = type(world.deps)(
        world.scans, world.batches, world.clock, world.deps.ids, world.deps.policy, files, world.notifier
    )
    return FilesWorld(world, scan_id, time, activity, writer, files, tmp_path)


def symbols_of(content: bytes) -> list[str]:
    sheet = fastexcel.read_excel(io.BytesIO(content).getvalue()).load_sheet(0).to_polars()
    return [str(symbol) for symbol in sheet["Symbol"].to_list()]


async def test_a_placed_batchs_file_is_written_only_once_the_cloud_is_quiet(tmp_path: Path) -> None:
    fw = await files_world(tmp_path)
    name, symbols = await fw.place()
    assert fw.files.queued == [name] and fw.on_disk() == []
    fw.time.now += QUIET - 0.01
    assert await fw.files.write_due() == 0 and fw.on_disk() == []
    fw.activity.touch()  # a status frame came: the quiet starts again
    fw.time.now += QUIET - 0.01
    assert await fw.files.write_due() == 0 and fw.on_disk() == []
    fw.time.now += 0.02
    assert await fw.files.write_due() == 1
    assert fw.on_disk() == [name] and fw.files.queued == [] and fw.writer.writes == [symbols]
    assert symbols_of((tmp_path / name).read_bytes()) == symbols


async def test_under_steady_activity_each_file_is_written_by_its_latest_time_oldest_first(
    tmp_path: Path,
) -> None:
    fw = await files_world(tmp_path)
    first, _ = await fw.place()
    fw.time.now += 1.0
    second, _ = await fw.place()
    names = []
    for _ in range(32):  # frames every 1/8 s for 4 s: never quiet
        fw.time.now += 0.125
        fw.activity.touch()
        if await fw.files.write_due():
            names.append((fw.time.now - 100, fw.on_disk()))
    assert names == [(2.0, [first]), (3.0, sorted([first, second]))]
    assert len(fw.writer.writes) == 2


async def test_the_background_task_wakes_when_a_file_is_due(tmp_path: Path) -> None:
    writer = RecordingWriter()
    files = DeferredOrderFiles(DiskOrderFiles(tmp_path, writer), Activity(), quiet_seconds=0.02)
    files.start()
    try:
        await files.save("orders_1.xlsx", [])
        for _ in range(200):
            if (tmp_path / "orders_1.xlsx").exists():
                break
            await asyncio.sleep(0.01)
        assert (tmp_path / "orders_1.xlsx").exists() and writer.writes == [[]]
    finally:
        await files.stop()


async def test_a_download_of_a_queued_file_writes_it_at_once_and_only_once(tmp_path: Path) -> None:
    fw = await files_world(tmp_path)
    name, symbols = await fw.place()
    fw.activity.touch()  # busy: the background writer would not write it now
    content = await fw.files.read(name)
    assert content is not None and symbols_of(content) == symbols
    assert fw.files.queued == [] and fw.writer.writes == [symbols]
    fw.time.now += 10
    assert await fw.files.write_due() == 0 and await fw.files.read(name) == content
    assert fw.writer.writes == [symbols]


async def test_a_download_during_the_background_write_waits_for_it_no_second_file(tmp_path: Path) -> None:
    fw = await files_world(tmp_path)
    name, symbols = await fw.place()
    fw.writer.hold = threading.Event()
    fw.time.now += QUIET
    background = asyncio.create_task(fw.files.write_due())
    await asyncio.to_thread(fw.writer.entered.wait, 5)
    download = asyncio.create_task(fw.files.read(name))
    regenerate = asyncio.create_task(fw.files.write_missing(name, []))
    await asyncio.sleep(0.01)
    assert not download.done() and not regenerate.done()  # waiting: nothing half written is read
    fw.writer.hold.set()
    content = await download
    await regenerate
    assert await background == 1
    assert content is not None and symbols_of(content) == symbols
    assert fw.writer.writes == [symbols]  # one write: never two different files of one batch


async def test_shutdown_writes_every_queued_file_in_order(tmp_path: Path) -> None:
    fw = await files_world(tmp_path)
    fw.files.start()
    placed = [await fw.place() for _ in range(3)]
    assert fw.on_disk() == []
    await fw.files.stop()
    assert fw.on_disk() == sorted(name for name, _ in placed)
    assert fw.writer.writes == [symbols for _, symbols in placed]


async def test_shutdown_gives_up_after_its_timeout_and_says_what_is_left(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fw = await files_world(tmp_path)
    fw.writer.hold = threading.Event()
    await fw.place()
    second, _ = await fw.place()
    try:
        await fw.files.stop(timeout=0.05)
    finally:
        fw.writer.hold.set()
    assert "not written within" in caplog.text and second in caplog.text and "downloaded" in caplog.text


async def test_a_failed_write_is_logged_reported_by_the_next_placement_and_regenerated_on_download(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fw = await files_world(tmp_path)
    name, symbols = await fw.place()
    fw.writer.fail_with = OSError("no space left on device")
    fw.time.now += QUIET
    with caplog.at_level(logging.ERROR):
        assert await fw.files.write_due() == 1
    assert fw.on_disk() == [] and "no space left" in caplog.text
    assert f"download of /analysis/orders/files/{name}" in caplog.text
    later = await place_modified_orders(fw.world.deps, PlaceOrders(fw.scan_id))
    assert later.file_error is not None and "no space left" in later.file_error
    assert fw.files.queued == [later.file_name]  # queued all the same
    fw.writer.fail_with = None
    assert await fw.files.read(name) is None  # what the download route finds first
    stored = await fw.world.batches.get_batch(name.removeprefix("orders_").removesuffix(".xlsx"))
    assert stored is not None
    await fw.files.write_missing(name, order_file_rows(stored.batch))
    content = await fw.files.read(name)
    assert content is not None and symbols_of(content) == symbols
    assert fw.files.last_failure is None


async def test_a_name_that_is_not_an_order_file_name_is_refused_and_not_queued(tmp_path: Path) -> None:
    fw = await files_world(tmp_path)
    with pytest.raises(ValueError, match="not an order file name"):
        await fw.files.save("../passwd", [])
    assert fw.files.queued == []
