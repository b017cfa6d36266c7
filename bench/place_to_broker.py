"""Benchmark: POST place-modified-orders (20 orders) -> all 20 entries acknowledged by the simulated
broker -> every leg's status stored at the cloud.

Run: `python bench/place_to_broker.py [--placements 40]` (well under a minute). It starts
`tradebridge serve` and `tradebridge executor --simulate` (prices still, so entries fill at their
entry price and exits stay working) as two processes on loopback, connects a WebSocket observer
(observers get each `local_trading_status` after the cloud has stored it), stores a 20-row scan,
then times each placement from just before the POST is sent until:
- broker: the simulated broker accepted the 20th bracket (the executor logs "batch X: 20/20 placed",
  with millisecond wall-clock times on the same machine);
- stored: the cloud has stored every status report of the batch, each of the 60 legs up to its
  settled status (entries `filled`, exits `working`): the moment the executor hears it, i.e. the
  executor's log line "batch X: N statuses stored at the cloud" once N is the batch's last count
  (the cloud acknowledges a frame only after its transaction has committed). Each leg goes through
  several statuses (received, submitted, working, filled): about 200 status reports per batch, sent
  by the executor in `local_trading_statuses` frames (everything pending at the moment of sending)
  and stored by the cloud one frame per transaction;
- shown: an observer connected to the cloud (a dashboard) has been sent every leg's settled status
  (the cloud broadcasts each stored status after acknowledging the frame). Printed, no target: it
  adds the broadcast of ~200 frames and this script's own decoding of them.
The executor does everything durably on the way: journal commits (SQLite WAL: the batch with its
brackets gated and `sending` synchronous=FULL, before the `ack` and the first broker call; the
broker's events with their status reports before the reports are sent, surviving kill -9 at once
and fsynced by a background thread within 50 ms: see adapters/journal/sqlite_journal.py) and the
simulated broker's changes (one journal line per broker call, written before the call returns, compacted
now and then into its state file; not fsync'd: like a real broker's, the state outlives the
executor's kill -9, not a power loss of this machine).
Not measured, and kept out of the way: the executor fetches each batch's order file (a file for
people) once batches have stopped coming for 0.5 s (at the latest 5 s after it came): here, with
placements back to back, mostly after the timed ones.

Prints human lines with the target, then, as the last line, one JSON line for tools:
{"bench": "place_to_broker", "metrics": {"place_to_stored_p50_ms": {...}, ...}}. Target: p50 <= 10 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from _machine import speed_line, speed_reference_ns, wakeup_line, wakeup_reference_us
from _twenty_orders import SYMBOLS, free_port, percentile, scan_rows
from websockets.asyncio.client import connect

P50_TARGET_MS = 10.0
WARMUP = 3
ACCOUNT = "BENCH1"
PROJECT_ROOT = Path(__file__).resolve().parents[1]
SETTLED = {"entry": "filled", "take_profit": "working", "stop_loss": "working"}








def leg_kind(order_ref: str) -> str:
    return {"E": "entry", "TP": "take_profit", "SL": "stop_loss"}.get(order_ref.rsplit(":", 1)[-1], "other")


class Observer:
    """When each batch had every leg's settled status broadcast by the cloud (which it does after
    storing them). Kept light on purpose: this process shares the machine's two cores with the
    cloud and the executor, and must not take from them the CPU it measures them by (a
    dashboard would run on another machine)."""

    def __init__(self) -> None:
        self._settled: dict[str, set[str]] = defaultdict(set)  # batch -> legs settled
        self._last: dict[str, float] = {}  # batch -> when its latest leg settled
        self._done: dict[str, asyncio.Event] = defaultdict(asyncio.Event)

    async def run(self, url: str, token: str) -> None:
        legs = 3 * len(SYMBOLS)
        async with connect(
            url, additional_headers={"Authorization": f"Bearer {token}"}, compression=None, proxy=None
        ) as socket_:
            async for raw in socket_:
                frame = json.loads(raw)
                if frame.get("event") != "local_trading_status":
                    continue
                data = frame["data"]
                ref = data["order_ref"]
                if data["status"] != SETTLED[leg_kind(ref)]:
                    continue
                batch_id = data["batch_id"]
                settled = self._settled[batch_id]
                if ref not in settled:
                    settled.add(ref)
                    self._last[batch_id] = time.perf_counter()
                    if len(settled) == legs:
                        self._done[batch_id].set()

    async def shown(self, batch_id: str, timeout: float) -> float:
        """When every leg of the batch had its settled status shown (waits for it)."""
        try:
            async with asyncio.timeout(timeout):
                await self._done[batch_id].wait()
        except TimeoutError:
            raise RuntimeError(
                f"batch {batch_id}: not every status reached the cloud within {timeout:g} s"
            ) from None
        return self._last[batch_id]


def _wall(stamp: str) -> float:
    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()


def broker_times(log: Path) -> dict[str, float]:
    """Per batch, the wall time at which the broker accepted its last bracket (the executor's log)."""
    times: dict[str, float] = {}
    for line in log.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^(\S+ \S+) INFO .*batch (\S+): (\d+)/(\d+) placed \(", line)
        if match and match.group(3) == match.group(4):
            times[match.group(2)] = _wall(match.group(1))
    return times


def stored_times(log: Path) -> dict[str, float]:
    """Per batch, the wall time at which the executor heard that the cloud had stored all of its
    status reports: the first "N statuses stored at the cloud" line with the batch's highest N."""
    counts: dict[str, tuple[int, float]] = {}
    for line in log.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^(\S+ \S+) INFO .*batch (\S+): (\d+) statuses stored at the cloud", line)
        if match:
            batch_id, count = match.group(2), int(match.group(3))
            if count > counts.get(batch_id, (-1, 0.0))[0]:
                counts[batch_id] = (count, _wall(match.group(1)))
    return {batch_id: wall for batch_id, (_, wall) in counts.items()}


async def measure(
    base: str, ws_url: str, token: str, placements: int
) -> tuple[dict[str, float], list[float]]:
    """Per timed batch its wall-clock start, and the place -> shown (to an observer) times in ms."""
    observer = Observer()
    watching = asyncio.create_task(observer.run(ws_url, token))
    headers = {"Authorization": f"Bearer {token}"}
    started: dict[str, float] = {}
    to_shown: list[float] = []
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30.0, trust_env=False) as client:
        created = await client.post("/analysis/scans", json={"name": "bench", "rows": scan_rows()})
        created.raise_for_status()
        scan_id = created.json()["scan_id"]
        await asyncio.sleep(0.3)  # the observer is connected
        for number in range(WARMUP + placements):
            wall, start = time.time(), time.perf_counter()
            answer = await client.post(
                "/analysis/orders/place-modified-orders", json={"scan_id": scan_id, "account": ACCOUNT}
            )
            answer.raise_for_status()
            batch_id = answer.json()["batch_id"]
            stored = await observer.shown(batch_id, timeout=30)
            if number >= WARMUP:
                started[batch_id] = wall
                to_shown.append((stored - start) * 1000)
    watching.cancel()
    return started, to_shown


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "entrypoints.cli", *args],
            cwd=PROJECT_ROOT,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def wait_up(base: str, account: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if account in httpx.get(f"{base}/health", timeout=2, trust_env=False).json()["executors"]:
                return
        except (httpx.HTTPError, ValueError, KeyError):
            pass
        time.sleep(0.1)
    raise RuntimeError("the cloud or the executor did not come up within 30 s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--placements", type=int, default=40, help="timed placements (default 40)")
    args = parser.parse_args()
    token = secrets.token_urlsafe(16)
    port = free_port()
    base, ws_url = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/listen_events"
    reference_before = speed_reference_ns()
    wakeup_before = wakeup_reference_us()
    with tempfile.TemporaryDirectory(prefix="tradebridge-bench-") as temp:
        directory = Path(temp)
        cloud = start(
            ["serve", "--port", str(port), "--data-dir", str(directory / "cloud"), "--log-level", "warning"],
            {"TRADEBRIDGE_API_TOKENS": token},
            directory / "cloud.log",
        )
        executor = start(
            [
                "executor",
                "--simulate",
                "--api-url",
                ws_url,
                "--account",
                ACCOUNT,
                "--download-dir",
                str(directory / "orders"),
                "--log-dir",
                str(directory),
                "--sim-step",
                "0",
            ],
            {"TRADEBRIDGE_TOKEN": token},
            directory / "executor.log",
        )
        try:
            wait_up(base, ACCOUNT)
            started, to_shown = asyncio.run(measure(base, ws_url, token, args.placements))
        finally:
            for process in (executor, cloud):
                process.terminate()
                process.wait(timeout=15)
        reference = (reference_before + speed_reference_ns()) / 2
        wakeup = (wakeup_before + wakeup_reference_us()) / 2
        log = next(directory.glob("local_trading_client_*.log"))
        accepted, stored = broker_times(log), stored_times(log)
        to_broker = [(accepted[batch_id] - wall) * 1000 for batch_id, wall in started.items()]
        missing = [batch_id for batch_id in started if batch_id not in stored]
        if missing:
            raise RuntimeError(
                f"the executor's log says nothing of the cloud storing batch {missing[0]}'s statuses"
            )
        to_stored = [(stored[batch_id] - wall) * 1000 for batch_id, wall in started.items()]
    metrics: dict[str, Any] = {}
    for name, values, target in (
        ("place_to_stored", to_stored, P50_TARGET_MS),
        ("place_to_broker", to_broker, None),
        ("place_to_shown", to_shown, None),
    ):
        p50, p99 = statistics.median(values), percentile(values, 0.99)
        metrics[f"{name}_p50_ms"] = {
            "value": round(p50, 3),
            "unit": "ms",
            "target": target,
            "ok": None if target is None else p50 <= target,
        }
        metrics[f"{name}_p99_ms"] = {"value": round(p99, 3), "unit": "ms", "target": None, "ok": None}
    print(
        f"POST place (20 orders) -> broker -> statuses stored at the cloud: {len(to_stored)} placements, "
        f"durable journal + broker state, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
        f"load {os.getloadavg()[0]:.2f}"
    )
    for name, m in metrics.items():
        verdict = "" if m["ok"] is None else ("OK" if m["ok"] else "MISSED")
        wanted = "" if m["target"] is None else f"target <= {m['target']:g} ms"
        print(f"  {name:26} {m['value']:9.3f} ms   {wanted:18} {verdict}")
    print(speed_line(reference))
    print(wakeup_line(wakeup))
    print(
        json.dumps(
            {
                "bench": "place_to_broker",
                "metrics": {
                    "place_to_stored_p50_ms": metrics["place_to_stored_p50_ms"],
                    "place_to_stored_p99_ms": metrics["place_to_stored_p99_ms"],
                    "place_to_broker_p50_ms": metrics["place_to_broker_p50_ms"],
                    "place_to_broker_p99_ms": metrics["place_to_broker_p99_ms"],
                    "place_to_shown_p50_ms": metrics["place_to_shown_p50_ms"],
                    "machine_wakeup_ref_us": {"value": round(wakeup, 1), "unit": "us", "target": None,
                                              "ok": None},
                    "machine_speed_ref_ns": {"value": round(reference), "unit": "ns", "target": None,
                                             "ok": None},
                },
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
