"""Benchmark: 100 brackets (300 placeOrder messages) through the IBKR adapter to the fake TWS.

Target: the adapter uses >= 90 % of its 45 messages/s budget, i.e. 300 messages in <= 7.4 s
(>= 40.5 msg/s), with zero pacing errors (TWS error 100) and never more than 45 messages in any
one second as TWS counts them. The fake TWS runs in-process on a free port (`--subprocess`: as its
own process, `python -m tests.fake_tws`, so it shares no event loop with the adapter); the clock starts after
the connection (whose startup requests already used part of the first second's budget) and stops
when the fake has received all 300 orders (a round trip as a barrier).

The budget sends at most 45 per 1.05 s and 9 per 0.21 s (adapters/ibkr/pacing.py), so the best
possible is 42.9 msg/s, 300 messages in 7.0 s. The per-second peak is what the fake counted on
receipt; on a busy machine a late read can bunch a few messages above 45 (never error 100 in our
runs with the fake in its own process).

    python bench/ibkr_pacing.py [--brackets 100] [--subprocess]

The last line is one JSON object: {"bench": "ibkr_pacing", "metrics": {...}}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.ibkr import IbkrBroker, TWSConfig
from core.orders import BracketRequest, OrderRequest
from core.values import OrderRef, OrderType, Side
from tests.fake_tws import FakeTWS, FakeTWSControl

BUDGET = 45
TARGET_RATE = 40.5
PLACE_ORDER = 3


def bracket(n: int) -> BracketRequest:
    ref, q = f"BENCH-{n:03d}", Decimal(10)
    return BracketRequest(
        OrderRequest(OrderRef(ref), "AAPL", Side.BUY, q, OrderType.LIMIT, Decimal("140")),
        OrderRequest(OrderRef(f"{ref}.tp"), "AAPL", Side.SELL, q, OrderType.LIMIT, Decimal("170"),
                     parent_ref=OrderRef(ref), oca_group=f"oca-{ref}"),
        OrderRequest(OrderRef(f"{ref}.sl"), "AAPL", Side.SELL, q, OrderType.STOP, None, Decimal("130"),
                     parent_ref=OrderRef(ref), oca_group=f"oca-{ref}"),
    )


async def place_all(broker: IbkrBroker, count: int) -> float:
    """Connect, place `count` brackets at once, wait until TWS has them all; the seconds taken."""
    await broker.connect()
    started = time.perf_counter()
    await asyncio.gather(*(broker.place_bracket(bracket(n)) for n in range(count)))
    await broker.sync()
    return time.perf_counter() - started


async def run_in_process(count: int) -> tuple[float, int, int, int]:
    """(seconds, orders received, peak messages per second at TWS, pacing errors)."""
    fake = FakeTWS(prices={"AAPL": 150})
    port = await fake.start()
    broker = IbkrBroker(TWSConfig(port=port, client_id=7, timeout=5), backoff=None)
    try:
        elapsed = await place_all(broker, count)
        return elapsed, len(fake.requests_of(PLACE_ORDER)), fake.messages_per_second_max, broker.pacing_errors
    finally:
        await broker.disconnect()
        await fake.stop()


async def run_subprocess(count: int) -> tuple[float, int, int, int]:
    """The same against `python -m tests.fake_tws` in its own process (no shared event loop)."""
    root = Path(__file__).resolve().parent.parent
    command = [sys.executable, "-m", "tests.fake_tws", "--port", "0", "--control-port", "0",
               "--price", "AAPL=150"]
    process = subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        ports = json.loads(process.stdout.readline())
        broker = IbkrBroker(TWSConfig(port=ports["port"], client_id=7, timeout=5), backoff=None)
        try:
            elapsed = await place_all(broker, count)
        finally:
            await broker.disconnect()
        with FakeTWSControl("127.0.0.1", ports["control_port"]) as control:
            orders = sum(1 for _, msg_id, _ in control.requests() if msg_id == PLACE_ORDER)
            return elapsed, orders, control.messages_per_second_max(), broker.pacing_errors
    finally:
        process.terminate()
        process.wait(timeout=10)


async def run(count: int, in_subprocess: bool = False) -> dict[str, dict[str, object]]:
    runner = run_subprocess if in_subprocess else run_in_process
    elapsed, messages, peak, pacing_errors = await runner(count)
    if messages != 3 * count:
        raise SystemExit(f"the fake received {messages} orders, expected {3 * count}")
    rate = messages / elapsed
    seconds = elapsed * 300 / messages
    seconds_target = round(300 / TARGET_RATE, 1)
    return {
        "messages_per_s": {"value": round(rate, 1), "unit": "msg/s", "target": TARGET_RATE,
                           "ok": rate >= TARGET_RATE},
        "seconds_for_300": {"value": round(seconds, 2), "unit": "s", "target": seconds_target,
                            "ok": seconds <= seconds_target},
        "pacing_errors": {"value": pacing_errors, "unit": "count", "target": 0, "ok": pacing_errors == 0},
        "peak_messages_in_one_second": {"value": peak, "unit": "msg", "target": BUDGET, "ok": peak <= BUDGET},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--brackets", type=int, default=100)
    parser.add_argument("--subprocess", action="store_true", help="run the fake TWS as its own process")
    args = parser.parse_args()
    metrics = asyncio.run(run(args.brackets, args.subprocess))
    where = "a fake TWS process" if args.subprocess else "the in-process fake TWS"
    print(f"ibkr_pacing: {args.brackets} brackets = {3 * args.brackets} placeOrder messages to {where}")
    for name, m in metrics.items():
        verdict = "ok" if m["ok"] else "MISSED"
        print(f"  {name:30} {m['value']!s:>8} {m['unit']:6} target {m['target']!s:>6}  {verdict}")
    print(json.dumps({"bench": "ibkr_pacing", "metrics": metrics}), flush=True)


if __name__ == "__main__":
    main()
