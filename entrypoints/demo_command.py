"""`tradebridge demo`: the whole product in one command, on embedded defaults.

It starts the cloud service (`tradebridge serve`) and a simulated executor (`tradebridge executor
--simulate`) as two processes on loopback, loads the bundled sample scan through the HTTP API,
previews it, places it with one quantity changed, waits until every leg's status has reached the
cloud, lets the simulated market move (a seeded, fast random walk) until brackets hit their target
or stop, prints what happened per symbol, says where the Excel file and the logs are, and stops both
processes. Exit 0 on success; 1 with the reason otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

ACCOUNT = "SIM0001"
FINAL = {"filled", "cancelled", "rejected"}


class DemoFailed(Exception):
    """Something the demo needs did not happen; the message says what and where to look."""


def register(subparsers: Any) -> None:
    """Add the `demo` subcommand."""
    parser = subparsers.add_parser(
        "demo",
        help="run the whole product end to end on a simulated broker (about 20 s)",
        description="Start the cloud service and a simulated executor, load the bundled sample scan, preview "
        "it, place it with one quantity changed, let the simulated market move, and print the outcome.",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="keep everything here, e.g. ./demo-data (default: a new temporary directory)",
    )
    parser.add_argument("--seed", type=int, default=7, help="seed of the simulated market (default 7)")
    parser.add_argument(
        "--market-seconds",
        type=float,
        default=12.0,
        help="how long the simulated market may move at most (default 12)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    data_dir = (args.data_dir or Path(tempfile.mkdtemp(prefix="tradebridge-demo-"))).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    demo = Demo(data_dir, args.seed, args.market_seconds)
    try:
        demo.run()
    except DemoFailed as error:
        print(f"\nDEMO FAILED: {error}\nLogs: {demo.cloud_log} and {demo.executor_dir}", file=sys.stderr)
        return 1
    finally:
        demo.stop()
    return 0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Demo:
    """The demo's steps; `stop` always runs."""

    def __init__(self, data_dir: Path, seed: int, market_seconds: float) -> None:
        self.data_dir = data_dir
        self.seed = seed
        self.market_seconds = market_seconds
        self.port = free_port()
        self.token = secrets.token_urlsafe(24)
        self.base = f"http://127.0.0.1:{self.port}"
        self.cloud_dir = data_dir / "cloud"
        self.cloud_log = data_dir / "cloud.log"
        self.executor_dir = data_dir / "executor"
        self.orders_dir = self.executor_dir / "orders"
        self.processes: list[subprocess.Popen[bytes]] = []

    # -- processes ------------------------------------------------------------------------------

    def _start(self, args: list[str], log: Path, extra_env: dict[str, str]) -> subprocess.Popen[bytes]:
        log.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **extra_env, "PYTHONUNBUFFERED": "1"}
        with open(log, "ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "entrypoints.cli", *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        self.processes.append(process)
        return process

    def stop(self) -> None:
        for process in reversed(self.processes):  # the executor first, then the cloud
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self.processes.clear()

    # -- HTTP -----------------------------------------------------------------------------------

    def _http(self, method: str, path: str, body: Any = None) -> Any:
        import httpx

        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(base_url=self.base, timeout=10.0, trust_env=False) as client:
            response = client.request(method, path, json=body, headers=headers)
        if response.status_code >= 300:
            raise DemoFailed(f"{method} {path} answered {response.status_code}: {response.text[:300]}")
        return response.json()

    def _wait(self, what: str, seconds: float, check: Callable[[], Any]) -> Any:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for process in self.processes:
                if process.poll() is not None:
                    raise DemoFailed(
                        f"a process stopped early (exit {process.returncode}) while waiting for {what}"
                    )
            try:
                result = check()
            except (DemoFailed, OSError, ValueError):
                result = None
            except Exception as error:  # httpx's connection errors while the server starts
                if type(error).__module__.startswith(("httpx", "httpcore")):
                    result = None
                else:
                    raise
            if result:
                return result
            time.sleep(0.1)
        raise DemoFailed(f"timed out after {seconds:.0f}s waiting for {what}")

    # -- the story ------------------------------------------------------------------------------

    def run(self) -> None:
        from entrypoints.data import sample_scan_path
        from entrypoints.executor.demo_summary import outcome_table, outcomes, preview_table

        started = time.monotonic()
        print("tradebridge demo: stock scans -> bracket orders at the broker, safely.\n")
        print(f"1. Starting the cloud service on {self.base} (data in {self.cloud_dir})")
        self._start(
            [
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--data-dir",
                str(self.cloud_dir),
                "--log-level",
                "warning",
            ],
            self.cloud_log,
            {"TRADEBRIDGE_API_TOKENS": self.token},
        )
        self._wait("the cloud service to answer /health", 20, lambda: self._http("GET", "/health"))
        print("2. Starting the local executor with the SIMULATED broker (no real orders), seeded market")
        self._start(
            [
                "executor",
                "--simulate",
                "--api-url",
                f"ws://127.0.0.1:{self.port}/listen_events",
                "--download-dir",
                str(self.orders_dir),
                "--log-dir",
                str(self.executor_dir),
                "--account",
                ACCOUNT,
                "--sim-seed",
                str(self.seed),
                "--sim-tick",
                "0.05",
                "--sim-step",
                "0.01",
            ],
            self.executor_dir / "console.txt",
            {"TRADEBRIDGE_TOKEN": self.token},
        )
        self._wait(
            "the executor to connect to the cloud",
            20,
            lambda: ACCOUNT in self._http("GET", "/health")["executors"],
        )
        scan = json.loads(sample_scan_path().read_text(encoding="utf-8"))
        created = self._http("POST", "/analysis/scans", scan)
        scan_id = created["scan_id"]
        print(
            f"3. Loaded the sample scan ({created['rows']} rows) as scan {scan_id}. Preview "
            f"(GET /analysis/orders/preview/{scan_id}):\n"
        )
        preview = self._http("GET", f"/analysis/orders/preview/{scan_id}")
        print(_indent(preview_table(preview)))
        first = preview["orders"][0]
        changed = max(1, int(Decimal(str(first["position_size"])) // 2))
        print(
            f"\n4. Placing it with one change: {first['symbol']} {first['position_size']} -> {changed} "
            "shares (POST /analysis/orders/place-modified-orders)"
        )
        placed = self._http(
            "POST",
            "/analysis/orders/place-modified-orders",
            {"scan_id": scan_id, "modified_orders": [{"symbol": first["symbol"], "position_size": changed}]},
        )
        batch_id = placed["batch_id"]
        print(
            f"   batch {batch_id}: {len(placed['orders'])} brackets (entry + take profit + stop loss each), "
            f"delivery {placed['delivery']['state']}"
        )
        batch = self._wait("every leg's status to reach the cloud", 20, lambda: self._all_reported(batch_id))
        filled = sum(1 for leg in batch["legs"] if leg["leg"] == "entry" and leg["status"] == "filled")
        print(
            f"5. The executor journaled, acknowledged and placed the batch; all {len(batch['legs'])} leg "
            f"statuses are at the cloud: {filled} entries filled, every position protected by a working stop."
        )
        print("   From the executor's log:")
        for line in self._executor_lines(batch_id):
            print(f"     {line}")
        print(f"6. Letting the simulated market move (up to {self.market_seconds:.0f}s) ...")
        batch = self._let_market_move(batch_id)
        prices = self._last_prices()
        print(f"\n7. Outcome per symbol (P&L before commissions; GET /analysis/orders/batches/{batch_id}):\n")
        print(_indent(outcome_table(outcomes(batch, prices))))
        excel = self.orders_dir / f"orders_{batch_id}.xlsx"
        self._wait("the executor to save the Excel order file", 10, excel.exists)
        print("\nWhere things are:")
        print(f"   Excel order file (downloaded by the executor): {excel}")
        print(f"   same file at the cloud: {self.base}{placed['file']['download_url']}")
        logs = sorted(self.executor_dir.glob("local_trading_client_*.log"))
        print(f"   executor log: {logs[-1] if logs else self.executor_dir}")
        print(f"   executor journal: {self.orders_dir / 'executor_journal.sqlite3'}")
        print(f"   cloud log: {self.cloud_log}")
        print(
            f"\nDemo finished in {time.monotonic() - started:.1f}s. Next: `tradebridge serve` and "
            "`tradebridge executor --simulate` (or against TWS without --simulate)."
        )

    def _executor_lines(self, batch_id: str, most: int = 6) -> list[str]:
        """The executor's first log lines about the batch (received, journaled, placed ...)."""
        try:
            text = (self.executor_dir / "console.txt").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return []
        lines = [line for line in text.splitlines() if f"batch {batch_id}" in line]
        if len(lines) > most:
            lines = [*lines[: most - 2], "...", lines[-1]]
        return lines

    def _batch(self, batch_id: str) -> dict[str, Any]:
        batch: dict[str, Any] = self._http("GET", f"/analysis/orders/batches/{batch_id}")
        return batch

    def _all_reported(self, batch_id: str) -> dict[str, Any] | None:
        batch = self._batch(batch_id)
        for leg in batch["legs"]:
            if leg["status"] in ("pending", "received", "submitted"):
                return None
            if leg["leg"] == "entry" and leg["status"] not in FINAL:
                return None
        return batch

    def _let_market_move(self, batch_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.market_seconds
        last_line = ""
        while True:
            batch = self._batch(batch_id)
            entries = [leg for leg in batch["legs"] if leg["leg"] == "entry" and leg["status"] == "filled"]
            targets = sum(
                1 for leg in batch["legs"] if leg["leg"] == "take_profit" and leg["status"] == "filled"
            )
            stops = sum(1 for leg in batch["legs"] if leg["leg"] == "stop_loss" and leg["status"] == "filled")
            line = f"   closed {targets + stops}/{len(entries)}: {targets} at target, {stops} at stop"
            if line != last_line:
                print(line, flush=True)
                last_line = line
            if targets + stops >= len(entries) or time.monotonic() >= deadline:
                return batch
            time.sleep(0.5)

    def _last_prices(self) -> dict[str, Decimal]:
        state_file = self.orders_dir / "executor_journal.simulated_broker.json"
        try:
            state = json.loads(state_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return {symbol: Decimal(price) for symbol, price in state.get("prices", {}).items()}


def _indent(text: str) -> str:
    return "\n".join("   " + line for line in text.splitlines())
