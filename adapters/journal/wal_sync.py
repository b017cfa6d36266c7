"""`WalSyncer`: fsync the journal's write-ahead log in a background thread.

A journal step that only records what the broker already said (see `durability`) commits with
`synchronous=NORMAL`: in WAL mode that survives kill -9 at once (its frames are in the OS's
cache), and this thread then fsyncs the WAL file, so a power loss can lose it only in the
fraction of a millisecond before the sync lands, instead of until the next FULL commit (which
could be hours away on a quiet day). The executor's loop does not wait for the disk meanwhile.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)


class WalSyncer:
    """Syncs `<database>-wal` after each `request()`; requests made while a sync runs are served by
    one more sync after it (never fewer). `close()` makes the last one and stops the thread."""

    def __init__(self, database_path: str, sync: Callable[[int], None] = os.fsync) -> None:
        self._wal_path = f"{database_path}-wal"
        self._sync = sync
        self._wanted = threading.Event()
        self._closing = False
        self._synced = 0  # requests served, for `wait` (tests) and `close`
        self._requested = 0
        self._served = threading.Condition()
        self._thread: threading.Thread | None = None

    def request(self) -> None:
        with self._served:
            self._requested += 1
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="journal-wal-sync", daemon=True)
            self._thread.start()
        self._wanted.set()

    def wait(self, timeout: float = 5.0) -> bool:
        """Wait until every request made so far is synced; False on timeout."""
        with self._served:
            target = self._requested
            return self._served.wait_for(lambda: self._synced >= target, timeout)

    def close(self, timeout: float = 5.0) -> None:
        self._closing = True
        self._wanted.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            with self._served:
                target = self._requested
            if target > self._synced:
                self._sync_once()
            with self._served:
                self._synced = max(self._synced, target)
                self._served.notify_all()
            if self._closing:
                return

    def _sync_once(self) -> None:
        # Opened each time: a checkpoint may reset the file, and an fd kept open across the
        # journal's close could sync a file no longer in use.
        try:
            descriptor = os.open(self._wal_path, os.O_RDONLY)
        except FileNotFoundError:
            return  # checkpointed away and removed: nothing left to sync
        except OSError as error:
            logger.warning("could not open the journal's WAL to sync it (%s); the next durable "
                           "commit syncs it", error)
            return
        try:
            self._sync(descriptor)
        except OSError as error:
            logger.warning("syncing the journal's WAL failed (%s); the next durable commit syncs it", error)
        finally:
            os.close(descriptor)
