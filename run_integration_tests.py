#!/usr/bin/env python3
"""Run the integration test levels against TWS, safely (the second seed's runner).

    python run_integration_tests.py --list          # the levels
    python run_integration_tests.py basic           # connectivity (read-only)
    python run_integration_tests.py market_data     # prices and bars (read-only)
    TWS_ENABLE_ORDER_TESTS=true python run_integration_tests.py orders   # places orders!
    python run_integration_tests.py e2e             # a bracket's whole life
    python run_integration_tests.py all

Against which TWS: with `TWS_HOST` / `TWS_PORT` set, the TWS or IB Gateway there (paper trading
port 7497 / 4002); the `orders` and `e2e` levels then run only with `TWS_ENABLE_ORDER_TESTS=true`
and are skipped otherwise. Without them, a fake TWS (`python -m tests.fake_tws`) is started for
the run and stopped afterwards, and every level runs against it.
Extra arguments after `--` go to pytest (e.g. `-- -x -v`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
LEVELS_DIR = "tests/integration/levels"
LEVELS = {
    "basic": "connectivity: connect, current time, accounts, positions, account summary (read-only)",
    "market_data": "prices and daily bars (read-only)",
    "orders": "place, query and cancel orders and brackets (PLACES ORDERS)",
    "e2e": "a bracket's whole life: entry, exits, fills, positions, account (PLACES ORDERS)",
}
ORDER_LEVELS = {"orders", "e2e"}
FAKE_PRICES = ("AAPL=150", "MSFT=300")


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    extra: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, extra = argv[:at], argv[at + 1:]
    parser = argparse.ArgumentParser(
        prog="run_integration_tests.py", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    choices = f"{', '.join(LEVELS)} or all (default basic)"
    parser.add_argument("levels", nargs="*", metavar="LEVEL", help=choices)
    parser.add_argument("--list", action="store_true", help="list the levels and exit")
    return parser.parse_args(argv), extra


def print_levels() -> None:
    real = bool(os.environ.get("TWS_HOST") or os.environ.get("TWS_PORT"))
    where = (f"TWS at {os.environ.get('TWS_HOST', '127.0.0.1')}:{os.environ.get('TWS_PORT', '7497')}"
             if real else "a fake TWS started for the run (set TWS_HOST/TWS_PORT for a real one)")
    print("Integration test levels:")
    for name, what in LEVELS.items():
        print(f"  {name:12} {what}")
    print(f"\nTarget: {where}")
    if real:
        enabled = os.environ.get("TWS_ENABLE_ORDER_TESTS", "").lower() == "true"
        state = "ENABLED" if enabled else "skipped; set TWS_ENABLE_ORDER_TESTS=true"
        print(f"Order levels (orders, e2e): {state}")


def start_fake() -> tuple[subprocess.Popen[str], dict[str, int]]:
    """The fake TWS as a process; returns it and its ports."""
    command = [sys.executable, "-m", "tests.fake_tws", "--port", "0", "--control-port", "0"]
    for price in FAKE_PRICES:
        command += ["--price", price]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        process.wait(timeout=5)
        raise SystemExit(f"the fake TWS did not start (exit code {process.returncode})")
    return process, json.loads(line)


def run_pytest(levels: list[str], extra: list[str], env: dict[str, str]) -> int:
    marker = " or ".join(f"level_{level}" for level in levels)
    command = [sys.executable, "-m", "pytest", LEVELS_DIR, "-m", marker, "-p", "no:cacheprovider", *extra]
    print("$", " ".join(command), flush=True)
    return subprocess.call(command, cwd=ROOT, env=env)


def main(argv: list[str] | None = None) -> int:
    args, extra = parse_args(sys.argv[1:] if argv is None else argv)
    if args.list:
        print_levels()
        return 0
    levels = args.levels or ["basic"]
    if "all" in levels:
        levels = list(LEVELS)
    unknown = [level for level in levels if level not in LEVELS]
    if unknown:
        print(f"unknown level(s) {', '.join(unknown)}; choose from {', '.join(LEVELS)} or all",
              file=sys.stderr)
        return 2
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    if env.get("TWS_HOST") or env.get("TWS_PORT"):
        env.pop("TRADEBRIDGE_FAKE_TWS_CONTROL", None)
        if env.get("TWS_ENABLE_ORDER_TESTS", "").lower() != "true":
            skipped = [level for level in levels if level in ORDER_LEVELS]
            if skipped:
                print(f"skipping {', '.join(skipped)}: they place real orders; set "
                      "TWS_ENABLE_ORDER_TESTS=true to run them (use a paper account)")
            levels = [level for level in levels if level not in ORDER_LEVELS]
            if not levels:
                return 0
        print(f"running {', '.join(levels)} against TWS at {env.get('TWS_HOST', '127.0.0.1')}:"
              f"{env.get('TWS_PORT', '7497')}")
        return run_pytest(levels, extra, env)
    fake, ports = start_fake()
    try:
        env.update(TWS_HOST="127.0.0.1", TWS_PORT=str(ports["port"]),
                   TRADEBRIDGE_FAKE_TWS_CONTROL=f"127.0.0.1:{ports['control_port']}")
        print(f"running {', '.join(levels)} against a fake TWS at 127.0.0.1:{ports['port']}")
        return run_pytest(levels, extra, env)
    finally:
        fake.terminate()
        try:
            fake.wait(timeout=10)
        except subprocess.TimeoutExpired:
            fake.kill()


if __name__ == "__main__":
    sys.exit(main())
