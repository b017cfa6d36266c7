"""The executor's run (`ExecutorRun`, in this process, with its durable journal and simulated broker)
against a small WebSocket server on loopback that plays the cloud:
- a batch's `received` reports are journaled with the batch and sent right after the `ack`, before
  the first bracket reaches the broker (the cloud stores them while the executor places the batch);
- the reports of the placement follow once journaled;
- "batch X: N statuses stored at the cloud" is logged each time the cloud has acknowledged every
  report of the batch that the journal held, N counting the batch's reports acknowledged so far.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from adapters.wire import messages
from core.orders import BracketRequest
from entrypoints.executor.link import CloudLink
from entrypoints.executor.options import ExecutorOptions
from entrypoints.executor.runner import ExecutorRun
from tests.e2e.executor_support import free_port

TOKEN = "pipeline-token"
SYMBOLS = ("AAA", "BBB", "CCC")


def batch_data(batch_id: str) -> dict[str, Any]:
    orders = []
    for index, symbol in enumerate(SYMBOLS):
        price = 50 + 10 * index
        refs = {
            leg: f"tb:{batch_id}:{symbol}:{code}"
            for leg, code in (("entry", "E"), ("take_profit", "TP"), ("stop_loss", "SL"))
        }
        orders.append(
            {
                "order_ref": refs["entry"],
                "symbol": symbol,
                "side": "BUY",
                "quantity": 5,
                "order_type": "MKT",
                "entry_price": price,
                "stop_loss": price - 2,
                "take_profit": price + 4,
                "legs": refs,
            }
        )
    return {"batch_id": batch_id, "scan_id": 1, "orders": orders}


@dataclass
class Cloud:
    """Sends a batch when told to; acknowledges status frames, the first ones only when released."""

    timeline: list[tuple[str, Any]]
    hold_first_frames: int = 0  # status frames whose acknowledgement waits for `release`
    release: asyncio.Event = field(default_factory=asyncio.Event)
    send_batch: asyncio.Event = field(default_factory=asyncio.Event)
    stored: list[str] = field(default_factory=list)
    held: list[list[str]] = field(default_factory=list)
    later: list[asyncio.Task[None]] = field(default_factory=list)

    async def handle(self, socket: ServerConnection) -> None:
        connected = messages.Connected(client_id="c1", server_time=datetime.now(UTC).isoformat())
        await socket.send(messages.encode(messages.CONNECTED, connected).decode())
        sender = asyncio.create_task(self._send_batch(socket))
        try:
            async for raw in socket:
                frame = json.loads(raw)
                if frame["event"] == "ack":
                    self.timeline.append(("cloud got ack", frame["data"]["seq"]))
                elif frame["event"] == "local_trading_statuses":
                    ids = [status["status_id"] for status in frame["data"]["statuses"]]
                    if len(self.held) < self.hold_first_frames:
                        self.held.append(ids)
                        self.later.append(asyncio.create_task(self._acknowledge_later(socket, ids)))
                    else:
                        await self._acknowledge(socket, ids)
        finally:
            sender.cancel()

    async def _send_batch(self, socket: ServerConnection) -> None:
        await self.send_batch.wait()
        frame = {"event": "trading_orders_generated", "data": batch_data("B1"), "seq": 1}
        await socket.send(json.dumps(frame))

    async def _acknowledge_later(self, socket: ServerConnection, ids: list[str]) -> None:
        await self.release.wait()
        await self._acknowledge(socket, ids)

    async def _acknowledge(self, socket: ServerConnection, ids: list[str]) -> None:
        self.stored += ids
        answer = messages.StatusesAcknowledged(status_ids=ids)
        await socket.send(messages.encode(messages.STATUSES_ACKNOWLEDGED, answer).decode())


async def until(condition: Callable[[], object], seconds: float = 10.0) -> None:
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.005)


@contextlib.asynccontextmanager
async def executor(
    tmp_path: Path, cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[ExecutorRun]:
    """An executor run connected to `cloud`, reconciled, with the broker calls and the status
    frames it sends recorded in `cloud.timeline` in the order this process made them."""
    port = free_port()
    options = ExecutorOptions(
        api_url=f"ws://127.0.0.1:{port}/listen_events",
        token=TOKEN,
        download_dir=tmp_path / "orders",
        journal=tmp_path / "journal.sqlite3",
        log_dir=tmp_path,
        simulate=True,
        account="ACC1",
        sim_step_pct=Decimal(0),
    )
    send_batch = CloudLink._send_batch

    async def recorded_send_batch(link: CloudLink, socket: Any, statuses: list[Any]) -> None:
        cloud.timeline.append(("statuses sent", [(s.order_ref, s.status) for s in statuses]))
        await send_batch(link, socket, statuses)

    monkeypatch.setattr(CloudLink, "_send_batch", recorded_send_batch)
    async with serve(cloud.handle, "127.0.0.1", port):
        run = ExecutorRun(options)
        place_bracket = run.broker.place_bracket

        async def recorded_place_bracket(bracket: BracketRequest) -> None:
            cloud.timeline.append(("broker call", bracket.entry.symbol))
            await place_bracket(bracket)

        monkeypatch.setattr(run.broker, "place_bracket", recorded_place_bracket)
        task = asyncio.create_task(run.run())
        try:
            await until(lambda: run.link is not None and run.link.connected and run.service.reconciled)
            yield run
        finally:
            run._stop.set()
            assert await asyncio.wait_for(task, 10) == 0
            gc.unfreeze()  # the run froze what it had built (as at a start): not this test process's


def stored_lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, int]]:
    found = (
        re.fullmatch(r"batch (\S+): (\d+) statuses stored at the cloud", r.getMessage())
        for r in caplog.records
    )
    return [(match.group(1), int(match.group(2))) for match in found if match]


async def test_received_reports_go_out_before_the_broker_calls_and_the_rest_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tradebridge.executor")
    timeline: list[tuple[str, Any]] = []
    cloud = Cloud(timeline)
    async with executor(tmp_path, cloud, monkeypatch) as run:
        cloud.send_batch.set()
        await until(lambda: stored_lines(caplog))
        await until(lambda: not run.journal.pending_reports())
    kinds = [kind for kind, _ in timeline if kind != "cloud got ack"]
    first_call = kinds.index("broker call")
    sent_before = [statuses for kind, statuses in timeline[:first_call] if kind == "statuses sent"]
    assert sent_before == [
        [(f"tb:B1:{symbol}:{code}", "received") for symbol in SYMBOLS for code in ("E", "TP", "SL")]
    ]
    assert kinds[first_call : first_call + len(SYMBOLS)] == ["broker call"] * len(SYMBOLS)
    after = [
        status for kind, statuses in timeline[first_call:] if kind == "statuses sent" for status in statuses
    ]
    assert after and all(status != "received" for _, status in after)
    assert len(cloud.stored) == len(set(cloud.stored)) == 3 * len(SYMBOLS) + len(after)
    assert stored_lines(caplog) == [("B1", len(cloud.stored))]  # once: the batch's last acknowledgement


async def test_a_line_each_time_the_cloud_has_every_report_the_journal_held(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The `received` frame's acknowledgement comes only after the placement's reports were
    journaled: no line for it (the batch still has reports pending), one line at the end. Then a
    report of the batch made later (a fill) starts it again: a second line, counting on."""
    caplog.set_level(logging.INFO, logger="tradebridge.executor")
    timeline: list[tuple[str, Any]] = []
    cloud = Cloud(timeline, hold_first_frames=1)
    async with executor(tmp_path, cloud, monkeypatch) as run:
        cloud.send_batch.set()
        await until(lambda: sum(kind == "statuses sent" for kind, _ in timeline) >= 2 and cloud.held)
        await until(lambda: len(run.journal.pending_reports()) == len(cloud.held[0]))
        assert stored_lines(caplog) == []  # the placement's reports are stored, the first frame's not yet
        cloud.release.set()
        await until(lambda: stored_lines(caplog))
        total = len(cloud.stored)
        assert stored_lines(caplog) == [("B1", total)]
        # The target of AAA is reached: its fill and the stop's cancellation are new reports of B1.
        run.broker.set_price("AAA", Decimal(60))  # type: ignore[attr-defined]
        await until(lambda: len(stored_lines(caplog)) == 2)
    later = stored_lines(caplog)[1]
    assert later[0] == "B1" and later[1] == len(cloud.stored) > total
