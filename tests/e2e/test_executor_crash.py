"""Crash tests with real processes: the executor is killed with SIGKILL while a batch is being
placed, restarted, and the simulated broker's persisted state (which outlives the executor, as a
real broker would) must show every leg of the batch at the broker exactly once and every filled
entry covered by a working stop.

Where it is killed: at fixed points through `TRADEBRIDGE_TEST_CRASH_AT` (before the ack, before a
bracket reaches the broker, after the broker took a bracket but before the journal knows, after
placing but before reporting, while reporting), and at random times after the batch was placed.
The counts (runs, placements, duplicates, unprotected) are printed; run with `-s` to see them.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.journal import SqliteJournal
from core.journal import Placement
from core.values import BatchId
from tests.e2e.executor_support import Audit, Cloud, Executor, audit, wait_for

pytestmark = pytest.mark.slow

CRASH_POINTS = (
    "before_ack",
    "before_broker:1",
    "before_broker:4",
    "after_broker:1",
    "after_broker:5",
    "after_place",
    "before_report:3",
)
RANDOM_KILLS = 6
SEED = 20261121


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    service = Cloud(tmp_path_factory.mktemp("crash-cloud"))
    yield service
    service.stop()


@pytest.fixture(scope="module")
def scan_id(cloud: Cloud) -> int:
    return cloud.add_sample_scan()


@pytest.fixture(scope="module")
def tally() -> Iterator[dict[str, int]]:
    counts = {"runs": 0, "placements": 0, "duplicates": 0, "missing": 0, "unprotected": 0}
    yield counts
    print(f"\ncrash tests: {counts}")


def crash_and_recover(
    cloud: Cloud, scan_id: int, directory: Path, account: str, crash_at: str | None, kill_after: float | None
) -> Audit:
    executor = Executor(cloud, directory, account)
    executor.start({"TRADEBRIDGE_TEST_CRASH_AT": crash_at} if crash_at else {})
    executor.wait_connected()
    placed = cloud.place(scan_id, account)
    process = executor.process
    assert process is not None
    if kill_after is not None:
        time.sleep(kill_after)
        executor.kill9()
    else:
        assert process.wait(timeout=20) == -9, f"no crash at {crash_at}:\n{executor.output()}"
    wait_for("the cloud to see the executor gone", 10, lambda: account not in cloud.executors())
    print(
        f"\n{crash_at or f'random kill after {kill_after:.3f}s'}: {landing(executor, placed['batch_id'])}",
        end="",
    )
    executor.start()
    try:
        executor.wait_connected()  # the reports may all be in already: never stop it mid-start
        batch = wait_for(
            "every leg's status at the cloud after the restart",
            30,
            lambda: cloud.all_reported(placed["batch_id"]),
        )
    finally:
        assert executor.stop() == 0
    found = audit(executor.broker_state(), batch)
    assert "Traceback" not in executor.output(), executor.output()
    return found


def landing(executor: Executor, batch_id: str) -> str:
    """Where the kill landed: what the journal and the broker held at that moment."""
    journal = SqliteJournal(executor.journal)
    try:
        journaled = journal.batch(BatchId(batch_id)) is not None
        sent = sum(1 for leg in journal.legs() if leg.placement is Placement.SENT)
        reports = len(journal.pending_reports())
    finally:
        journal.close()
    at_broker = sum(
        1 for o in executor.broker_state()["orders"] if o["order_ref"].startswith(f"tb:{batch_id}:")
    )
    return (
        f"batch journaled={journaled}, legs journaled as sent={sent}/24, legs at the broker={at_broker}/24, "
        f"reports not yet acknowledged={reports}"
    )


def check(found: Audit, tally: dict[str, int]) -> None:
    tally["runs"] += 1
    tally["placements"] += found.placements
    tally["duplicates"] += len(found.duplicates)
    tally["missing"] += len(found.missing)
    tally["unprotected"] += len(found.unprotected)
    assert found.missing == (), f"legs never placed: {found.missing}"
    assert found.duplicates == (), f"placed twice: {found.duplicates}"
    assert found.unprotected == (), f"filled without a working stop: {found.unprotected}"
    assert found.placements == 24  # 8 brackets x 3 legs, each once


@pytest.mark.parametrize("crash_at", CRASH_POINTS)
def test_a_kill_at_a_fixed_point_loses_nothing_and_places_nothing_twice(
    cloud: Cloud, scan_id: int, tally: dict[str, int], tmp_path: Path, crash_at: str
) -> None:
    account = "CR" + crash_at.replace("_", "").replace(":", "").upper()[:12]
    check(crash_and_recover(cloud, scan_id, tmp_path, account, crash_at, None), tally)


@pytest.mark.parametrize("run", range(RANDOM_KILLS))
def test_a_kill_at_a_random_time_loses_nothing_and_places_nothing_twice(
    cloud: Cloud, scan_id: int, tally: dict[str, int], tmp_path: Path, run: int
) -> None:
    delay = random.Random(SEED + run).uniform(0.0, 0.05)
    check(crash_and_recover(cloud, scan_id, tmp_path, f"CRRANDOM{run}", None, delay), tally)
