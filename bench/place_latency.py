"""Benchmark: from POST place-modified-orders (20 orders) to `trading_orders_generated` at an executor.

Run: `python bench/place_latency.py [--placements 300] [--database URL]` (under a minute). It starts
`tradebridge serve` in a subprocess on a free port (SQLite in a temporary data dir unless
--database is given), connects a WebSocket client as an executor, stores a 20-row scan, then
times each placement from just before the POST is sent until the batch frame arrives. The timed
POSTs go through a minimal keep-alive HTTP/1.1 client (bench/_keepalive_http.py): httpx would add
its own ~0.8 ms per request. Prints
human lines with the targets, then, as the last line, one JSON line for tools.

Targets (issue 4): p50 <= 3 ms, p99 <= 10 ms. Anchors from the issue: a 20-order WebSocket round
trip is 150 us with Litestar + msgspec; one WAL commit is about 14 us.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import msgspec
from _keepalive_http import KeepAliveHttp
from _machine import speed_line, speed_reference_ns, wakeup_line, wakeup_reference_us
from _twenty_orders import SYMBOLS, free_port, percentile, scan_rows
from websockets.asyncio.client import connect

P50_TARGET_MS = 3.0
P99_TARGET_MS = 10.0
WARMUP = 20
TOKEN = "bench-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def start_server(data_dir: Path, port: int, database: str | None) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "entrypoints.cli",
        "serve",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--log-level",
        "warning",
    ]
    if database:
        command += ["--database", database]
    env = {**os.environ, "TRADEBRIDGE_API_TOKENS": TOKEN, "TRADEBRIDGE_RATE_LIMIT_PER_MINUTE": "1000000"}
    return subprocess.Popen(command, env=env, cwd=Path(__file__).resolve().parent.parent)


async def wait_until_up(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient(base_url=base) as client:
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise RuntimeError(f"the server exited with {server.returncode}")
            try:
                if (await client.get("/health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError("the server did not come up within 30 s")


async def measure(base: str, ws_url: str, placements: int) -> list[float]:
    """Milliseconds from POST to batch frame, for each timed placement (after the warm-up)."""
    timings: list[float] = []
    async with (
        httpx.AsyncClient(base_url=base, headers=AUTH, timeout=30) as http,
        connect(ws_url, additional_headers=AUTH, compression=None) as ws,
    ):
        scan = await http.post("/analysis/scans", json={"name": "bench", "rows": scan_rows()})
        scan.raise_for_status()
        body = json.dumps(
            {"scan_id": scan.json()["scan_id"], "account": "BENCH", "modified_orders": []}
        ).encode()
        assert json.loads(await ws.recv())["event"] == "connected"
        await ws.send(json.dumps({"event": "resume", "data": {"account": "BENCH", "last_seq": 0}}))
        host, port = http.base_url.host, http.base_url.port
        assert port is not None
        placer = await KeepAliveHttp.open(host, port, AUTH)  # the timed requests (see its docstring)
        for number in range(WARMUP + placements):
            started = time.perf_counter()
            request = asyncio.create_task(placer.post("/analysis/orders/place-modified-orders", body))
            while True:
                frame = msgspec.json.decode(await ws.recv())  # the client's parsing: kept lean
                if frame["event"] == "trading_orders_generated":
                    break
            arrived = time.perf_counter()
            # As an executor does: acknowledged on arrival, not after the placing client's answer.
            await ws.send(json.dumps({"event": "ack", "data": {"seq": frame["seq"]}}))
            answer = await request
            if answer.status_code != 201 or len(frame["data"]["orders"]) != len(SYMBOLS):
                raise RuntimeError(f"placement failed: {answer.status_code} {answer.text[:300]}")
            if number >= WARMUP:
                timings.append((arrived - started) * 1000)
        await placer.close()
    return timings




def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--placements", type=int, default=300, help="timed placements (at least 200)")
    parser.add_argument("--database", default=None, help="database URL (default: SQLite in a temp dir)")
    args = parser.parse_args()
    placements = max(200, args.placements)
    port = free_port()
    reference_before = speed_reference_ns()
    wakeup_before = wakeup_reference_us()
    with tempfile.TemporaryDirectory(prefix="tb-bench-") as directory:
        server = start_server(Path(directory), port, args.database)
        try:
            asyncio.run(wait_until_up(f"http://127.0.0.1:{port}", server))
            timings = asyncio.run(
                measure(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/listen_events", placements)
            )
        finally:
            server.terminate()
            server.wait(timeout=15)
    reference = (reference_before + speed_reference_ns()) / 2
    wakeup = (wakeup_before + wakeup_reference_us()) / 2
    p50, p99 = statistics.median(timings), percentile(timings, 0.99)
    metrics = {
        "place_to_push_p50_ms": {
            "value": round(p50, 3),
            "unit": "ms",
            "target": P50_TARGET_MS,
            "ok": p50 <= P50_TARGET_MS,
        },
        "place_to_push_p99_ms": {
            "value": round(p99, 3),
            "unit": "ms",
            "target": P99_TARGET_MS,
            "ok": p99 <= P99_TARGET_MS,
        },
    }
    database = args.database.split("://", 1)[0] if args.database else "sqlite (temp file)"
    print(
        f"place -> push latency, {len(timings)} placements of {len(SYMBOLS)} orders, {database}, "
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}"
    )
    for label, name, target in (
        ("p50", "place_to_push_p50_ms", P50_TARGET_MS),
        ("p99", "place_to_push_p99_ms", P99_TARGET_MS),
    ):
        verdict = "OK" if metrics[name]["ok"] else "MISSED"
        print(f"  {label}: {metrics[name]['value']:8.3f} ms   target <= {target:g} ms   {verdict}")
    print(f"  min {min(timings):.3f} ms, max {max(timings):.3f} ms, mean {statistics.fmean(timings):.3f} ms")
    print(speed_line(reference))
    print(wakeup_line(wakeup))
    metrics["machine_speed_ref_ns"] = {"value": round(reference), "unit": "ns", "target": None, "ok": True}
    metrics["machine_wakeup_ref_us"] = {"value": round(wakeup, 1), "unit": "us", "target": None, "ok": True}
    print(json.dumps({"bench": "place_latency", "metrics": metrics}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
