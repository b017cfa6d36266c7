"""`run_integration_tests.py` (the seed's runner): lists its levels, and runs `basic` against the
fake TWS process it starts itself when no TWS_HOST/TWS_PORT is set."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUNNER = ROOT / "run_integration_tests.py"


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items()
             if k not in ("TWS_HOST", "TWS_PORT", "TWS_ENABLE_ORDER_TESTS", "TRADEBRIDGE_FAKE_TWS_CONTROL")}
    clean.update(env)
    return subprocess.run([sys.executable, str(RUNNER), *args], cwd=ROOT, env=clean, capture_output=True,
                          text=True, timeout=120)


def test_list_names_every_level() -> None:
    listed = run("--list")
    assert listed.returncode == 0, listed.stderr
    for level in ("basic", "market_data", "orders", "e2e"):
        assert level in listed.stdout
    assert "fake TWS" in listed.stdout


def test_basic_runs_against_a_fake_tws_it_starts() -> None:
    result = run("basic")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "against a fake TWS" in result.stdout
    assert "2 passed" in result.stdout


def test_order_levels_are_skipped_against_a_real_tws_unless_enabled() -> None:
    result = run("orders", "e2e", TWS_HOST="127.0.0.1", TWS_PORT="1")  # nothing is contacted
    assert result.returncode == 0, result.stdout + result.stderr
    assert "TWS_ENABLE_ORDER_TESTS=true" in result.stdout


def test_an_unknown_level_is_refused() -> None:
    result = run("everything")
    assert result.returncode == 2 and "choose from" in result.stderr
