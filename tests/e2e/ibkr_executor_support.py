"""Real processes for the executor's end-to-end tests with the IBKR adapter: the fake TWS as its own
process (it outlives every executor, as TWS would), `tradebridge executor` without `--simulate`
pointed at it through TWS_HOST / TWS_PORT / TWS_CLIENT_ID / TWS_ACCOUNT, and an audit of a batch by
counting orderRefs at the fake (`FakeTWSControl`)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.e2e.executor_support import PROJECT_ROOT, Cloud, Executor, start_cli, stop_process
from tests.fake_tws.control import FakeTWSControl

# The sample scan's symbols at their scan prices: market entries fill there, and every entry stays
# inside the executor's price band.
SAMPLE_PRICES = {
    "AAPL": "229.35",
    "MSFT": "507.2",
    "NVDA": "181.75",
    "AMZN": "223.1",
    "GOOGL": "201.45",
    "META": "738.6",
    "TSLA": "331.8",
    "JPM": "298.15",
}
WORKING = {"PreSubmitted", "Submitted"}  # IB statuses of an order that can still fill

class FakeTWSProcess:
    """`python -m tests.fake_tws` as a process with its control socket, prices set for the sample scan."""

    def __init__(self, directory: Path, accounts: list[str] | None = None) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.log = directory / "fake_tws.log"
        args = [sys.executable, "-m", "tests.fake_tws", "--port", "0", "--control-port", "0"]
        for account in accounts or []:
            args += ["--account", account]
        with open(self.log, "ab") as errors:
            self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=errors, cwd=PROJECT_ROOT)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise AssertionError(f"the fake TWS did not start:\n{self.log.read_text()}")
        ports = json.loads(line)
        self.port: int = ports["port"]
        self.control = FakeTWSControl("127.0.0.1", ports["control_port"])
        for symbol, price in SAMPLE_PRICES.items():
            self.control.set_price(symbol, price)

    def reject_live_order(self, order_ref: str, code: int, reason: str) -> None:
        """Reject an order the fake holds (e.g. 201 on a live stop), as TWS does."""
        self.control.reject_order(order_ref, code, reason)

    def orders_of(self, batch_id: str) -> list[dict[str, Any]]:
        """Every order at the fake whose orderRef belongs to `batch_id`."""
        prefix = f"tb:{batch_id}:"
        return [o for o in self.control.orders() if o["order_ref"].startswith(prefix)]

    def stop(self) -> None:
        self.control.close()
        assert self.process.stdout is not None
        self.process.stdout.close()
        stop_process(self.process)


class IbkrExecutor(Executor):
    """`tradebridge executor` (IBKR, no --simulate) against the fake TWS, in its own directory."""

    def __init__(
        self,
        cloud: Cloud,
        directory: Path,
        fake: FakeTWSProcess,
        account: str,
        client_id: int,
        env: dict[str, str] | None = None,
    ) -> None:
        super().__init__(cloud, directory, account, env=env)
        self.fake = fake
        self.client_id = client_id

    def start(self, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        self.process = start_cli(
            [
                "executor",
                "--api-url",
                self.cloud.ws_url,
                "--download-dir",
                str(self.directory / "orders"),
                "--log-dir",
                str(self.directory),
            ],
            self.console,
            {
                "TRADEBRIDGE_TOKEN": self.token,
                "TWS_HOST": "127.0.0.1",
                "TWS_PORT": str(self.fake.port),
                "TWS_CLIENT_ID": str(self.client_id),
                "TWS_ACCOUNT": self.account,
                **self.env,
                **(env or {}),
            },
        )
        return self.process


@dataclass(frozen=True, slots=True)
class RefCount:
    """One batch at the fake TWS, counted by orderRef."""

    placements: int  # orders of the batch the fake received with transmit (live or done)
    duplicates: tuple[str, ...]  # orderRefs transmitted more than once
    lost: tuple[str, ...]  # legs of the batch the fake never got
    unprotected: tuple[str, ...]  # filled entries whose open quantity lacks a working stop
    untransmitted: tuple[str, ...] = ()  # legs a killed executor staged (transmit=0) and never sent


def count_refs(orders: list[dict[str, Any]], batch: dict[str, Any]) -> RefCount:
    """Per bracket of `batch` (as the cloud shows it): each leg's orderRef transmitted once at the
    fake, and the shares its entry holds open covered by its working stop.

    A bracket goes to TWS as three messages, `transmit` only on the last. An executor killed between
    them leaves the first legs staged: TWS holds them untransmitted, never works them and does not
    report them to the API, so the restarted executor cannot see them and sends the bracket again.
    Those leftovers cannot trade; they are counted apart (`untransmitted`), not as placements."""
    staged = [o for o in orders if o["status"] == "PendingSubmit"]
    orders = [o for o in orders if o["status"] != "PendingSubmit"]
    per_ref = Counter(o["order_ref"] for o in orders)
    by_ref = {o["order_ref"]: o for o in orders}
    lost, unprotected = [], []
    for order in batch["orders"]:
        legs = order["legs"]
        refs = (legs["entry"], legs["take_profit"], legs["stop_loss"])
        lost += [ref for ref in refs if per_ref[ref] == 0]
        entry, target, stop = (by_ref.get(ref) for ref in refs)
        if entry is None:
            continue
        exits_filled = sum((Decimal(o["filled"]) for o in (target, stop) if o is not None), Decimal(0))
        open_quantity = Decimal(entry["filled"]) - exits_filled
        covered = (
            Decimal(stop["quantity"]) - Decimal(stop["filled"])
            if stop is not None and stop["status"] in WORKING
            else Decimal(0)
        )
        if open_quantity > 0 and covered < open_quantity:
            unprotected.append(order["symbol"])
    duplicates = tuple(sorted(ref for ref, count in per_ref.items() if count > 1))
    leftovers = tuple(sorted(o["order_ref"] for o in staged))
    return RefCount(len(orders), duplicates, tuple(lost), tuple(unprotected), leftovers)
