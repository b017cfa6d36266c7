"""`WalSyncer`: each request is followed, within its period, by an fsync of the `-wal` file (never
fewer syncs than requests need, however they interleave with a sync under way; many requests in
one period make one sync); close makes the last one; a missing WAL (checkpointed away) or a
failing fsync is not an error for the journal."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from adapters.journal.wal_sync import WalSyncer


def test_a_request_syncs_the_wal_file(tmp_path: Path) -> None:
    wal = tmp_path / "j.sqlite-wal"
    wal.write_bytes(b"frames")
    synced: list[int] = []
    syncer = WalSyncer(str(tmp_path / "j.sqlite"), sync=lambda fd: synced.append(os.fstat(fd).st_ino))
    syncer.request()
    assert syncer.wait(5.0)
    assert synced == [wal.stat().st_ino]
    syncer.close()


def test_a_request_made_while_a_sync_runs_gets_a_sync_of_its_own(tmp_path: Path) -> None:
    (tmp_path / "j.sqlite-wal").write_bytes(b"frames")
    inside, release = threading.Event(), threading.Event()
    count = [0]

    def slow_sync(fd: int) -> None:
        count[0] += 1
        if count[0] == 1:
            inside.set()
            release.wait(5.0)

    syncer = WalSyncer(str(tmp_path / "j.sqlite"), sync=slow_sync)
    syncer.request()
    assert inside.wait(5.0)
    syncer.request()  # its commit came after the running sync began: it needs one more
    assert not syncer.wait(0.05)
    release.set()
    assert syncer.wait(5.0)
    assert count[0] == 2
    syncer.close()


def test_close_makes_the_last_sync(tmp_path: Path) -> None:
    (tmp_path / "j.sqlite-wal").write_bytes(b"frames")
    count = [0]
    syncer = WalSyncer(str(tmp_path / "j.sqlite"), sync=lambda fd: count.__setitem__(0, count[0] + 1))
    syncer.request()
    syncer.close()
    assert count[0] >= 1
    assert syncer.wait(0.01)


def test_no_wal_file_and_a_failing_fsync_are_tolerated(tmp_path: Path) -> None:
    syncer = WalSyncer(str(tmp_path / "none.sqlite"))
    syncer.request()
    assert syncer.wait(5.0)
    syncer.close()
    (tmp_path / "j.sqlite-wal").write_bytes(b"x")

    def failing(fd: int) -> None:
        raise OSError(5, "I/O error (injected)")

    broken = WalSyncer(str(tmp_path / "j.sqlite"), sync=failing)
    broken.request()
    assert broken.wait(5.0)
    broken.close()


def test_many_requests_in_one_period_make_one_sync_and_one_thread(tmp_path: Path) -> None:
    (tmp_path / "j.sqlite-wal").write_bytes(b"frames")
    count = [0]
    before = threading.active_count()
    syncer = WalSyncer(str(tmp_path / "j.sqlite"), sync=lambda fd: count.__setitem__(0, count[0] + 1),
                       period=0.5)
    for _ in range(1000):
        syncer.request()
    assert threading.active_count() == before + 1
    assert syncer.wait(5.0)
    assert count[0] == 1
    syncer.close()
