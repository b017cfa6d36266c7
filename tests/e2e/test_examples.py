"""Every example of the second seed, run as `python examples/NAME.py` in its own process, to
completion: exit status 0 and the lines that show it did what it says (orders placed and filled,
refusals with their reasons, positions closed). simple_connection runs against the fake TWS
process (`python -m tests.fake_tws`), as it would against TWS."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

PROJECT_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = PROJECT_ROOT / "examples"
TIMEOUT = 60


def run_example(name: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONIOENCODING": "utf-8", **env}
    return subprocess.run(
        [sys.executable, str(EXAMPLES / f"{name}.py")], cwd=PROJECT_ROOT, env=environment,
        capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )


def expect(result: subprocess.CompletedProcess[str], *lines: str) -> list[str]:
    """Exit 0, and each of `lines` appears in the output, in this order."""
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    output = result.stdout.splitlines()
    position = 0
    for wanted in lines:
        found = next((i for i in range(position, len(output)) if wanted in output[i]), None)
        assert found is not None, f"{wanted!r} not found (in order) in:\n{result.stdout}"
        position = found + 1
    return output


@pytest.fixture
def fake_tws_port() -> Iterator[int]:
    """The fake TWS as a process; yields its API port."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_tws", "--port", "0"], cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert process.stdout is not None
        yield int(json.loads(process.stdout.readline())["port"])
    finally:
        process.terminate()
        assert process.wait(10) == 0


def test_simple_connection_against_the_fake_tws(fake_tws_port: int) -> None:
    result = run_example("simple_connection", TWS_PORT=str(fake_tws_port))
    expect(result, "Connected to TWS!", "TWS time: ")


def test_simple_connection_says_why_without_a_tws() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = run_example("simple_connection", TWS_PORT=str(port))
    expect(result, "Failed to connect to TWS", f"cannot connect to TWS at 127.0.0.1:{port}")


def test_automated_trading_places_the_rules_order() -> None:
    output = expect(
        run_example("automated_trading"),
        "Automated trading system started!",
        "signal BUY AAPL confidence 0.70",
        "signal BUY AAPL confidence 0.82",
        "-> submitted BUY 10 AAPL MKT",
        "** filled BUY 10 AAPL @ 187.45",
        "AAPL position: 10 shares at 187.45, unrealized P&L 6.50",
        "Shutting down...",
    )
    assert sum("submitted" in line for line in output) == 1  # the 0.70 signal placed nothing


def test_rule_templates_link_scale_in_and_close() -> None:
    expect(
        run_example("rule_templates"),
        "Multi-stock trading system with automatic order linking!",
        "11 rules registered",
        "-> submitted BUY 100 AAPL MKT",
        "-> submitted SELL 100 AAPL STP @ 184.30",
        "!! refused AAPL: AAPL already has an open long (BUY) position",
        "-> submitted BUY 25 TSLA MKT",
        "-> submitted BUY 50 NVDA MKT",
        "-> submitted BUY 50 AAPL MKT",  # the scale-in
        "** filled SELL 50 NVDA @ 140.40",  # the target
        "-> submitted SELL 25 TSLA MKT",  # the close
        "AAPL: 150 shares",
        "NVDA: 0 shares, realized P&L 520.00",
        "TSLA: 0 shares",
    )


def test_linked_orders_keep_sides_apart_and_reset_after_a_stop() -> None:
    expect(
        run_example("linked_orders"),
        "linked AAPL: BUY 100 open, 2 linked order(s) working",
        "!! refused AAPL: AAPL has an open long (BUY) position; opening a short (SELL) would mix sides",
        "linked AAPL: BUY 150 open, 4 linked order(s) working, 1 scale-in(s)",
        "-> submitted SELL 150 AAPL MKT",
        "linked AAPL: none",
        "linked TSLA: SELL 20 open",
        "** filled BUY 20 TSLA @ 261.00",
        "linked TSLA: none",
        "linked TSLA: SELL 20 open",
        "AAPL realized P&L 450.00, TSLA realized P&L -220.00",
    )


def test_event_driven_follows_a_bracket_to_its_target() -> None:
    expect(
        run_example("event_driven"),
        "-> submitted BUY 20 MSFT MKT",
        "== position MSFT: 20 @ 420.00",
        "P&L MSFT: unrealized 62.00",
        "** filled SELL 20 MSFT @ 441.00",
        "bracket closed: True; legs: E FILLED, TP FILLED, SL CANCELLED",
        "MSFT realized P&L 420.00, commissions 2.00, net 418.00",
    )
