"""`WalSyncer`: fsync the journal's write-ahead log from a background thread, shortly after.

A journal step that only records what the broker already said (see `core.journal.needs_sync`)
commits with `synchronous=NORMAL`: in WAL mode that survives kill -9 at once (its frames are in
the OS's cache), and this thread fsyncs the WAL file within SYNC_PERIOD_SECONDS, so a power loss
can lose it only in that short window instead of until the next FULL commit (which could be hours
away on a quiet day). The executor's loop never waits for the disk meanwhile.

`request` only counts: waking a thread per commit cost the loop ~0.1 ms each (the woken thread
takes the GIL from it), more than the fsync it spared. The thread looks every
SYNC_PERIOD_SECONDS instead, and syncs when something was committed since its last sync.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)

SYNC_PERIOD_SECONDS = 0.05


class WalSyncer:
    """Syncs `<database>-wal` within `period` seconds of each `request()`; `close()` makes the
    last sync and stops the thread."""

    def __init__(
        self, database_path: str, sync: Callable[[int], None] = os.fsync,
        period: float = SYNC_PERIOD_SECONDS,
    ) -> None:
        self._wal_path = f"{database_path}-wal"
        self._sync = sync
        self._period = period
        self._requested = 0  # commits made without a sync (counted on the caller's thread)
        self._synced = 0  # of those, how many a sync has covered
        self._closing = threading.Event()
        self._served = threading.Condition()
        self._thread: threading.Thread | None = None

    def request(self) -> None:
        """A commit was made without an fsync: sync it soon. Cheap: a count, no thread woken."""
        self._requested += 1
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="journal-wal-sync", daemon=True)
            self._thread.start()

    def wait(self, timeout: float = 5.0) -> bool:
        """Wait until every request made so far is synced; False on timeout."""
        target = self._requested
        with self._served:
            return self._served.wait_for(lambda: self._synced >= target, timeout)

    def close(self, timeout: float = 5.0) -> None:
        self._closing.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while True:
            closing = self._closing.wait(self._period)
            target = self._requested
            if target > self._synced:
                self._sync_once()
                with self._served:
                    self._synced = target
                    self._served.notify_all()
            if closing:
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
