"""`tradebridge demo` runs the whole product end to end and explains itself: exit 0, the preview,
the placement with one changed quantity, the outcome table with totals, and where the files are."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.executor_support import PROJECT_ROOT

pytestmark = pytest.mark.slow


def test_the_demo_exits_0_and_prints_the_summary(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo-data"
    result = subprocess.run(
        [sys.executable, "-m", "entrypoints.cli", "demo", "--data-dir", str(data_dir)],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    output = result.stdout
    assert result.returncode == 0, f"exit {result.returncode}\n{output}\n{result.stderr}"
    for expected in (
        "Preview",
        "risk check",
        "Placing it with one change",
        "all 24 leg statuses are at the cloud",
        "Outcome per symbol",
        "TOTAL",
        "Excel order file",
        "executor log",
        "Demo finished",
    ):
        assert expected in output, f"{expected!r} missing from:\n{output}"
    assert any(word in output for word in ("target hit", "stopped out")), output  # the market moved
    excel = next(data_dir.glob("executor/orders/orders_*.xlsx"))
    assert excel.stat().st_size > 0
    assert list(data_dir.glob("executor/local_trading_client_*.log"))
