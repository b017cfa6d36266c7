"""Real processes for the executor's end-to-end tests: `tradebridge serve` and `tradebridge executor
--simulate` on loopback, an HTTP helper, and an audit of the simulated broker's persisted state."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from entrypoints.data import sample_scan_path
from entrypoints.executor.sim_journal import StateJournal

PROJECT_ROOT = Path(__file__).resolve().parents[2]
FINAL = {"filled", "cancelled", "rejected"}
OPEN_STATUSES = {"SUBMITTED", "HELD", "WORKING", "PARTIALLY_FILLED"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_cli(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """`tradebridge ARGS` as a process (from this source tree), output to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    environment = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
    if "TRADEBRIDGE_TEST_CRASH_AT" not in env:
        environment.pop("TRADEBRIDGE_TEST_CRASH_AT", None)  # never inherited by accident
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "entrypoints.cli", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=environment,
            cwd=PROJECT_ROOT,
        )


def wait_for(what: str, seconds: float, check: Callable[[], Any], interval: float = 0.05) -> Any:
    deadline = time.monotonic() + seconds
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
        except (httpx.HTTPError, OSError, ValueError, KeyError) as error:
            last_error, result = error, None
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {seconds}s waiting for {what} (last error: {last_error})")


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10.0) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


class Cloud:
    """`tradebridge serve` on a free loopback port with one known token."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.token = secrets.token_urlsafe(16)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/listen_events"
        self.log = directory / "cloud.log"
        self._client = httpx.Client(
            base_url=self.base,
            timeout=10.0,
            trust_env=False,
            headers={"Authorization": f"Bearer {self.token}"},
        )
        self.process = self._start()

    def _start(self) -> subprocess.Popen[bytes]:
        args = ["serve", "--host", "127.0.0.1", "--port", str(self.port)]
        args += ["--data-dir", str(self.directory / "cloud"), "--log-level", "warning"]
        process = start_cli(args, self.log, {"TRADEBRIDGE_API_TOKENS": self.token})
        wait_for("the cloud to answer /health", 20, lambda: self.get("/health"))
        return process

    def restart(self) -> None:
        """Start the service again on the same port and data dir (after `stop_process`)."""
        self.process = self._start()

    def stop(self) -> None:
        self._client.close()
        stop_process(self.process)

    def get(self, path: str) -> Any:
        response = self._client.get(path)
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: Any) -> Any:
        response = self._client.post(path, json=body)
        assert response.status_code in (200, 201), f"POST {path}: {response.status_code} {response.text}"
        return response.json()

    def executors(self) -> list[str]:
        executors: list[str] = self.get("/health")["executors"]
        return executors

    def add_sample_scan(self, rows: int | None = None) -> int:
        scan = json.loads(sample_scan_path().read_text(encoding="utf-8"))
        if rows is not None:
            scan["rows"] = scan["rows"][:rows]
        scan_id: int = self.post("/analysis/scans", scan)["scan_id"]
        return scan_id

    def place(self, scan_id: int, account: str = "*", modified: list[dict[str, Any]] | None = None) -> Any:
        return self.post(
            "/analysis/orders/place-modified-orders",
            {"scan_id": scan_id, "modified_orders": modified or [], "account": account},
        )

    def batch(self, batch_id: str) -> Any:
        return self.get(f"/analysis/orders/batches/{batch_id}")

    def all_reported(self, batch_id: str) -> Any:
        """The batch once every entry is final and every leg's status has arrived, else None."""
        batch = self.batch(batch_id)
        for leg in batch["legs"]:
            if leg["status"] in ("pending", "received", "submitted"):
                return None
            if leg["leg"] == "entry" and leg["status"] not in FINAL:
                return None
        return batch


class Executor:
    """`tradebridge executor --simulate` in its own directory (journal, broker state, logs)."""

    def __init__(
        self,
        cloud: Cloud,
        directory: Path,
        account: str = "SIM0001",
        *,
        step: str = "0",
        env: dict[str, str] | None = None,
        token: str | None = None,
    ) -> None:
        self.cloud = cloud
        self.directory = directory
        self.account = account
        self.step = step
        self.env = env or {}
        self.token = token or cloud.token
        self.console = directory / "console.txt"
        self.journal = directory / "orders" / "executor_journal.sqlite3"
        self.state_file = directory / "orders" / "executor_journal.simulated_broker.json"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        self.process = start_cli(
            [
                "executor",
                "--simulate",
                "--api-url",
                self.cloud.ws_url,
                "--download-dir",
                str(self.directory / "orders"),
                "--log-dir",
                str(self.directory),
                "--account",
                self.account,
                "--sim-tick",
                "0.05",
                "--sim-step",
                self.step,
            ],
            self.console,
            {"TRADEBRIDGE_TOKEN": self.token, **self.env, **(env or {})},
        )
        return self.process

    def wait_connected(self, seconds: float = 20) -> None:
        wait_for(
            f"executor {self.account} to connect",
            seconds,
            lambda: self.account in self.cloud.executors() or self._died(),
        )

    def _died(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"executor exited {self.process.returncode}:\n{self.output()}")
        return False

    def stop(self) -> int:
        assert self.process is not None
        return stop_process(self.process)

    def kill9(self) -> None:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def output(self) -> str:
        return self.console.read_text(encoding="utf-8", errors="replace") if self.console.exists() else ""

    def broker_state(self) -> dict[str, Any]:
        # The state file plus the journal of the broker's changes since (sim_journal), as restored.
        state = StateJournal(self.state_file).load()
        assert state is not None, f"no simulated broker state at {self.state_file}"
        return state


@dataclass(frozen=True, slots=True)
class Audit:
    """What the broker holds for one batch, checked against what was ordered."""

    placements: int  # orders of the batch at the broker
    missing: tuple[str, ...]  # legs never placed
    duplicates: tuple[str, ...]  # symbols with more than one entry, or more shares than ordered
    unprotected: tuple[str, ...]  # symbols with an open position and less working stop than it


def audit(state: dict[str, Any], batch: dict[str, Any]) -> Audit:
    """Per bracket of `batch`: its legs are at the broker, its entry once (never more shares than
    ordered), and the shares it holds open are covered by its working stops."""
    prefix = f"tb:{batch['batch_id']}:"
    orders = [o for o in state["orders"] if o["order_ref"].startswith(prefix)]
    refs = {o["order_ref"] for o in orders}
    missing, duplicates, unprotected = [], [], []
    for order in batch["orders"]:
        symbol, ordered = order["symbol"], Decimal(str(order["position_size"]))
        legs = order["legs"]
        missing += [ref for ref in (legs["entry"], legs["take_profit"], legs["stop_loss"]) if ref not in refs]
        entry_side = "BUY" if order["side"] == "Buy" else "SELL"
        mine = [o for o in orders if o["symbol"] == symbol]
        entries = [
            o
            for o in mine
            if o["parent_ref"] is None and o["order_type"] == "MKT" and o["side"] == entry_side
        ]
        entry_filled = sum((Decimal(o["filled"]) for o in entries), Decimal(0))
        if len(entries) > 1 or entry_filled > ordered:
            duplicates.append(symbol)
        exits = [o for o in mine if o["side"] != entry_side]
        open_quantity = entry_filled - sum((Decimal(o["filled"]) for o in exits), Decimal(0))
        stop = sum(
            (
                Decimal(o["current_quantity"]) - Decimal(o["filled"])
                for o in exits
                if o["order_type"] == "STP" and o["status"] in OPEN_STATUSES
            ),
            Decimal(0),
        )
        if open_quantity > 0 and stop < open_quantity:
            unprotected.append(symbol)
    return Audit(len(orders), tuple(missing), tuple(duplicates), tuple(unprotected))
