"""The executor end to end, with real processes on loopback: `tradebridge serve` and
`tradebridge executor --simulate`. A batch placed through HTTP ends with every leg's status at the
cloud; the kill switch works from the command line; batches placed while the executor is down all
arrive, in order, once; a refused token stops the executor with a message saying what to check."""

from __future__ import annotations

import contextlib
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from adapters.journal import SqliteJournal
from tests.e2e.executor_support import (
    PROJECT_ROOT,
    Cloud,
    Executor,
    audit,
    free_port,
    stop_process,
    wait_for,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    service = Cloud(tmp_path_factory.mktemp("cloud"))
    yield service
    service.stop()


def wait_reported(cloud: Cloud, batch_id: str) -> Any:
    return wait_for(f"batch {batch_id} at the cloud", 20, lambda: cloud.all_reported(batch_id))


def kill_switch(executor: Executor, action: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "entrypoints.cli",
            "executor",
            action,
            "--download-dir",
            str(executor.directory / "orders"),
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_a_batch_placed_through_http_ends_with_every_leg_status_at_the_cloud(
    cloud: Cloud, tmp_path: Path
) -> None:
    executor = Executor(cloud, tmp_path, "E2E1")
    executor.start()
    try:
        executor.wait_connected()
        scan_id = cloud.add_sample_scan()
        placed = cloud.place(scan_id, "E2E1", [{"symbol": "MSFT", "position_size": 7}])
        batch = wait_for(
            "every leg's status at the cloud", 20, lambda: cloud.all_reported(placed["batch_id"])
        )
        legs = batch["legs"]
        assert len(legs) == 3 * len(batch["orders"]) == 24
        assert {leg["status"] for leg in legs if leg["leg"] == "entry"} == {"filled"}
        assert {leg["status"] for leg in legs if leg["leg"] != "entry"} == {"working"}
        msft = next(leg for leg in legs if leg["symbol"] == "MSFT" and leg["leg"] == "entry")
        assert float(msft["filled"]) == 7
        excel = tmp_path / "orders" / placed["file"]["name"]
        wait_for("the Excel file in --download-dir", 10, excel.exists)
        assert list(tmp_path.glob("local_trading_client_*.log"))
        assert audit(executor.broker_state(), batch).missing == ()
        assert f"batch {placed['batch_id']}: 8/8 placed" in executor.output()
    finally:
        assert executor.stop() == 0


def test_halt_from_the_command_line_rejects_new_entries_keeps_stops_and_resume_trading_lifts_it(
    cloud: Cloud, tmp_path: Path
) -> None:
    executor = Executor(cloud, tmp_path, "E2E2")
    executor.start()
    try:
        executor.wait_connected()
        scan_id = cloud.add_sample_scan(rows=2)
        first = cloud.place(scan_id, "E2E2")["batch_id"]
        wait_for("the first batch at the cloud", 20, lambda: cloud.all_reported(first))
        halted = kill_switch(executor, "halt")
        assert halted.returncode == 0, halted.stderr
        wait_for("the executor to notice the halt", 10, lambda: "HALT (" in executor.output())
        second = cloud.place(scan_id, "E2E2")["batch_id"]
        batch = wait_for("the second batch's verdicts", 20, lambda: cloud.all_reported(second))
        entries = [leg for leg in batch["legs"] if leg["leg"] == "entry"]
        assert {leg["status"] for leg in entries} == {"rejected"}
        assert all("HALTED" in leg["message"] for leg in entries), entries
        kept = cloud.batch(first)["legs"]
        assert {leg["status"] for leg in kept if leg["leg"] == "stop_loss"} == {"working"}
        resumed = kill_switch(executor, "resume-trading")
        assert resumed.returncode == 0, resumed.stderr
        wait_for("the executor to resume", 10, lambda: "trading RESUMED" in executor.output())
        third = cloud.place(scan_id, "E2E2")["batch_id"]
        batch = wait_for("the third batch at the cloud", 20, lambda: cloud.all_reported(third))
        assert {leg["status"] for leg in batch["legs"] if leg["leg"] == "entry"} == {"filled"}
    finally:
        assert executor.stop() == 0


def test_three_batches_placed_while_the_executor_is_down_arrive_in_order_and_once(
    cloud: Cloud, tmp_path: Path
) -> None:
    executor = Executor(cloud, tmp_path, "OFF1")
    executor.start()
    executor.wait_connected()
    assert executor.stop() == 0
    wait_for("the cloud to see the executor leave", 10, lambda: "OFF1" not in cloud.executors())
    scan_id = cloud.add_sample_scan(rows=3)
    batch_ids = [cloud.place(scan_id, "OFF1")["batch_id"] for _ in range(3)]
    executor.start()
    try:
        batches = [wait_reported(cloud, batch_id) for batch_id in batch_ids]
    finally:
        assert executor.stop() == 0
    journal = SqliteJournal(executor.journal)
    try:
        journaled = journal.batches()
    finally:
        journal.close()
    assert [b.batch_id for b in journaled] == batch_ids  # in the order they were placed
    seqs = [b.seq or 0 for b in journaled]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3 and 0 not in seqs
    state = executor.broker_state()
    for batch in batches:
        found = audit(state, batch)
        assert (found.placements, found.missing, found.duplicates) == (9, (), ())
    assert "already in the journal" not in executor.output()  # none arrived twice


def test_a_refused_token_stops_the_executor_with_a_message_saying_what_to_check(
    cloud: Cloud, tmp_path: Path
) -> None:
    executor = Executor(cloud, tmp_path, "BAD1", token="not-the-token")
    process = executor.start()
    assert process.wait(timeout=30) == 3
    output = executor.output()
    assert "refused the token" in output
    assert "check --token or TRADEBRIDGE_TOKEN" in output


def test_an_unreachable_cloud_is_said_plainly_and_retried(tmp_path: Path) -> None:
    class Nowhere:
        ws_url = f"ws://127.0.0.1:{free_port()}/listen_events"
        token = "any"

    executor = Executor(Nowhere(), tmp_path, "AWAY1")  # type: ignore[arg-type]
    executor.start()
    try:
        wait_for(
            "the unreachable message twice (a retry)",
            20,
            lambda: executor.output().count("cloud unreachable at") >= 2,
        )
    finally:
        assert executor.stop() == 0


def test_the_executors_own_limits_reject_what_the_cloud_approved_and_say_why(
    cloud: Cloud, tmp_path: Path
) -> None:
    executor = Executor(cloud, tmp_path, "LIM1", env={"TRADEBRIDGE_MAX_ORDER_QUANTITY": "20"})
    executor.start()
    try:
        executor.wait_connected()
        scan_id = cloud.add_sample_scan(rows=2)  # AAPL 43 shares, MSFT 19 shares
        placed = cloud.place(scan_id, "LIM1")
        batch = wait_reported(cloud, placed["batch_id"])
        entries = {leg["symbol"]: leg for leg in batch["legs"] if leg["leg"] == "entry"}
        assert entries["MSFT"]["status"] == "filled"
        assert entries["AAPL"]["status"] == "rejected"
        assert "20" in entries["AAPL"]["message"], entries["AAPL"]  # names the limit it broke
    finally:
        assert executor.stop() == 0


def test_sigusr1_halts_the_running_executor_and_the_halt_survives_a_restart(
    cloud: Cloud, tmp_path: Path
) -> None:
    executor = Executor(cloud, tmp_path, "SIG1")
    process = executor.start()
    try:
        executor.wait_connected()
        process.send_signal(signal.SIGUSR1)
        wait_for("the executor to halt", 10, lambda: "HALT (SIGUSR1)" in executor.output())
    finally:
        assert executor.stop() == 0
    executor.start()
    try:
        executor.wait_connected()
        assert "trading is HALTED (SIGUSR1)" in executor.output()
    finally:
        assert executor.stop() == 0


def journal_view(path: Path) -> tuple[dict[str, tuple[str, str]], int]:
    """Each leg's (status, filled) in the executor's journal, and how many reports the cloud has
    not acknowledged; read-only, while the executor runs."""
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        legs = {
            ref: (status, filled)
            for ref, status, filled in db.execute("SELECT order_ref, status, filled FROM legs")
        }
        unacked = db.execute("SELECT COUNT(*) FROM reports WHERE acked = 0").fetchone()[0]
    return legs, int(unacked)


def test_statuses_made_while_the_cloud_is_down_all_arrive_when_it_is_back(tmp_path: Path) -> None:
    own = Cloud(tmp_path / "cloud")
    executor = Executor(own, tmp_path / "executor", "DOWN1", step="0.01")  # a moving market
    executor.start()
    try:
        executor.wait_connected()
        placed = own.place(own.add_sample_scan(), "DOWN1")
        wait_reported(own, placed["batch_id"])
        stop_process(own.process)
        wait_for("the executor to notice", 10, lambda: "lost the cloud" in executor.output())

        def exits_filled_while_down() -> bool:
            legs, unacked = journal_view(executor.journal)
            closed = sum(
                1 for ref, (status, _) in legs.items() if ref[-2:] in ("TP", "SL") and status == "filled"
            )
            return closed >= 2 and unacked > 0

        wait_for("brackets to close while the cloud is down", 20, exits_filled_while_down, interval=0.2)
        own.restart()

        def cloud_has_everything() -> bool:
            legs, unacked = journal_view(executor.journal)
            at_cloud = {
                leg["order_ref"]: (leg["status"], leg["filled"])
                for leg in own.batch(placed["batch_id"])["legs"]
            }
            return unacked == 0 and all(
                at_cloud[ref][0] == status and Decimal(str(at_cloud[ref][1])) == Decimal(filled)
                for ref, (status, filled) in legs.items()
                if ref in at_cloud
            )

        wait_for(
            "every status made while the cloud was down to arrive", 20, cloud_has_everything, interval=0.2
        )
    finally:
        assert executor.stop() == 0
        own.stop()
