"""`CloudLink` against a small WebSocket server on loopback that plays the cloud: resume, ack,
heartbeats, status reports and their acknowledgement, a silent server, refused tokens (HTTP 401 at
the handshake and close code 1008), an unreachable cloud (exponential backoff with jitter), and
wss:// with a private CA (verified; refused without the CA)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from adapters.wire import messages
from core.journal import LegStatus, StatusReport
from core.values import BatchId, OrderRef
from entrypoints.executor.link import Backoff, CloudLink, TokenRefused
from tests.e2e.executor_support import free_port

TOKEN = "good-token"


@dataclass
class Handler:
    """The executor side, in memory."""

    reports: list[StatusReport] = field(default_factory=list)
    batches: list[tuple[str, int | None]] = field(default_factory=list)
    seq: int = 5

    def last_seq(self) -> int:
        return self.seq

    async def on_batch(self, batch: messages.TradingOrdersGenerated, seq: int | None) -> int | None:
        self.batches.append((batch.batch_id, seq))
        return seq

    def pending_reports(self) -> Sequence[StatusReport]:
        return [report for report in self.reports if not report.acked]

    def on_status_acknowledged(self, status_id: str) -> None:
        self.reports = [
            StatusReport(
                r.status_id,
                r.batch_id,
                r.order_ref,
                r.symbol,
                r.status,
                r.created_at,
                acked=r.acked or r.status_id == status_id,
            )
            for r in self.reports
        ]

    async def executor_status(self) -> messages.ExecutorStatus:
        return messages.ExecutorStatus(account="ACC1", broker_connected=True, trading_state="ACTIVE")


@dataclass
class FakeCloud:
    """What the server received, and how it behaves."""

    frames: list[dict[str, Any]] = field(default_factory=list)
    connections: int = 0
    heartbeat: float = 15.0
    silent: bool = False  # after `connected`, never say anything again
    close_1008: bool = False
    batch: bool = True
    knows_status_batches: bool = True  # False: a cloud from before `local_trading_statuses`
    refuse_first_once: bool = False  # the first status of the first batch frame is not stored

    async def handle(self, socket: ServerConnection) -> None:
        self.connections += 1
        if self.close_1008:
            await socket.close(1008, "missing or wrong API token")
            return
        await socket.send(
            messages.encode(
                messages.CONNECTED,
                messages.Connected(
                    client_id=f"c{self.connections}",
                    server_time=datetime.now(UTC).isoformat(),
                    heartbeat_seconds=self.heartbeat,
                ),
            ).decode()
        )
        if self.silent:
            await socket.wait_closed()  # says nothing more; frames sent to it are not answered
            return
        async for raw in socket:
            frame = json.loads(raw)
            self.frames.append(frame)
            if frame["event"] == "resume" and self.batch:
                order = {
                    "order_ref": "tb:B1:AAPL:E",
                    "symbol": "AAPL",
                    "side": "BUY",
                    "quantity": 1,
                    "order_type": "MKT",
                    "entry_price": 10,
                    "stop_loss": 9,
                    "take_profit": 12,
                }
                batch = {"batch_id": "B1", "scan_id": 1, "orders": [order]}
                await socket.send(json.dumps({"event": "trading_orders_generated", "data": batch, "seq": 6}))
                await socket.send(messages.encode(messages.HEARTBEAT, messages.Heartbeat()).decode())
            elif frame["event"] == "local_trading_status":
                await socket.send(json.dumps({"event": "status_acknowledged", "data": frame["data"]}))
            elif frame["event"] == "local_trading_statuses" and not self.knows_status_batches:
                refusal = messages.ErrorMessage(message="unknown event 'local_trading_statuses'; known: ...")
                await socket.send(messages.encode(messages.ERROR, refusal).decode())
            elif frame["event"] == "local_trading_statuses":
                ids = [status["status_id"] for status in frame["data"]["statuses"]]
                answer = messages.StatusesAcknowledged(status_ids=ids[1:], refused={ids[0]: "unknown leg"})
                if self.refuse_first_once:
                    self.refuse_first_once = False
                else:
                    answer = messages.StatusesAcknowledged(status_ids=ids)
                await socket.send(messages.encode(messages.STATUSES_ACKNOWLEDGED, answer).decode())

    def events(self, name: str) -> list[dict[str, Any]]:
        return [frame for frame in self.frames if frame["event"] == name]


def check_token(connection: ServerConnection, request: Request) -> Response | None:
    if request.headers.get("Authorization") != f"Bearer {TOKEN}":
        return connection.respond(HTTPStatus.UNAUTHORIZED, "wrong token\n")
    return None


@contextlib.asynccontextmanager
async def running(cloud: FakeCloud, port: int, tls: ssl.SSLContext | None = None) -> AsyncIterator[Server]:
    async with serve(cloud.handle, "127.0.0.1", port, process_request=check_token, ssl=tls) as server:
        yield server


async def until(condition: Callable[[], object], seconds: float = 5.0) -> None:
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.01)


def report(number: int) -> StatusReport:
    return StatusReport(
        f"s{number}",
        BatchId("B1"),
        OrderRef("tb:B1:AAPL:E"),
        "AAPL",
        LegStatus.SUBMITTED,
        datetime.now(UTC),
        Decimal(0),
        Decimal(0),
    )


def test_backoff_grows_exponentially_is_capped_and_jittered() -> None:
    backoff = Backoff(initial=0.5, maximum=8.0, factor=2.0, jitter=0.5)
    assert [backoff.delay(n, 0.0) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert backoff.delay(3, 0.999) == pytest.approx(2.002)  # up to half shorter, at random
    assert backoff.delay(10_000, 0.0) == 8.0


async def test_resume_ack_heartbeat_statuses_and_executor_status() -> None:
    cloud, handler, port = FakeCloud(), Handler(reports=[report(1), report(2)]), free_port()
    async with running(cloud, port):
        link = CloudLink(f"ws://127.0.0.1:{port}/listen_events", TOKEN, "ACC1", handler)
        task = asyncio.create_task(link.run())
        try:
            await until(
                lambda: (
                    not handler.pending_reports()
                    and cloud.events("ack")
                    and cloud.events("heartbeat")
                    and cloud.events("executor_status")
                )
            )
            handler.reports.append(report(3))
            link.reports_changed()
            await until(lambda: not handler.pending_reports())
        finally:
            task.cancel()
    assert cloud.events("resume")[0]["data"] == {"account": "ACC1", "last_seq": 5}
    assert handler.batches == [("B1", 6)]
    assert cloud.events("ack")[0]["data"] == {"seq": 6}
    # Everything pending at the moment of sending goes in one frame; later reports in the next.
    frames = cloud.events("local_trading_statuses")
    assert [[s["status_id"] for s in f["data"]["statuses"]] for f in frames] == [["s1", "s2"], ["s3"]]
    assert frames[0]["data"]["statuses"][0]["account"] == "ACC1"
    assert not cloud.events("local_trading_status")
    assert cloud.events("executor_status")[0]["data"]["account"] == "ACC1"


async def test_many_pending_reports_go_in_frames_of_at_most_500() -> None:
    cloud, port = FakeCloud(batch=False), free_port()
    handler = Handler(reports=[report(number) for number in range(1, 1202)])
    async with running(cloud, port):
        link = CloudLink(f"ws://127.0.0.1:{port}/listen_events", TOKEN, "ACC1", handler)
        task = asyncio.create_task(link.run())
        try:
            await until(lambda: not handler.pending_reports())
        finally:
            task.cancel()
    sizes = [len(frame["data"]["statuses"]) for frame in cloud.events("local_trading_statuses")]
    assert sizes == [500, 500, 201]


async def test_a_refused_status_stays_pending_and_is_sent_again() -> None:
    cloud, port = FakeCloud(batch=False, refuse_first_once=True), free_port()
    handler = Handler(reports=[report(1), report(2)])
    async with running(cloud, port):
        link = CloudLink(
            f"ws://127.0.0.1:{port}/listen_events", TOKEN, "ACC1", handler, resend_after=0.2
        )
        task = asyncio.create_task(link.run())
        try:
            await until(lambda: [r.status_id for r in handler.pending_reports()] == ["s1"])
            await until(lambda: not handler.pending_reports())
        finally:
            task.cancel()
    frames = cloud.events("local_trading_statuses")
    assert [[s["status_id"] for s in f["data"]["statuses"]] for f in frames] == [["s1", "s2"], ["s1"]]


async def test_a_cloud_without_status_batches_gets_one_status_per_frame() -> None:
    cloud, port = FakeCloud(batch=False, knows_status_batches=False), free_port()
    handler = Handler(reports=[report(1), report(2)])
    async with running(cloud, port):
        link = CloudLink(f"ws://127.0.0.1:{port}/listen_events", TOKEN, "ACC1", handler)
        task = asyncio.create_task(link.run())
        try:
            await until(lambda: not handler.pending_reports())
        finally:
            task.cancel()
    assert len(cloud.events("local_trading_statuses")) == 1
    assert [f["data"]["status_id"] for f in cloud.events("local_trading_status")] == ["s1", "s2"]


async def test_a_silent_server_is_left_after_three_heartbeats_and_the_link_reconnects() -> None:
    cloud, port, delays = FakeCloud(heartbeat=0.1, silent=True, batch=False), free_port(), []

    async def no_wait(seconds: float) -> None:
        delays.append(seconds)

    async with running(cloud, port):
        link = CloudLink(
            f"ws://127.0.0.1:{port}/x", TOKEN, "ACC1", Handler(), sleep=no_wait, draw=lambda: 0.0
        )
        task = asyncio.create_task(link.run())
        try:
            await until(lambda: cloud.connections >= 2)
        finally:
            task.cancel()
    assert delays[0] == 0.5  # back to the first delay: the last connection had worked


@pytest.mark.parametrize("refusal", ["http_401", "close_1008"])
async def test_a_refused_token_is_not_retried(refusal: str, caplog: pytest.LogCaptureFixture) -> None:
    cloud, port = FakeCloud(close_1008=refusal == "close_1008"), free_port()
    token = "wrong" if refusal == "http_401" else TOKEN
    async with running(cloud, port):
        link = CloudLink(f"ws://127.0.0.1:{port}/x", token, "ACC1", Handler())
        with pytest.raises(TokenRefused, match="check --token or TRADEBRIDGE_TOKEN"):
            await asyncio.wait_for(link.run(), timeout=10)
    assert cloud.connections == (1 if refusal == "close_1008" else 0)


async def test_an_unreachable_cloud_is_retried_with_growing_delays_until_it_answers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    port, cloud, delays = free_port(), FakeCloud(batch=False), []
    started = asyncio.Event()

    async def record(seconds: float) -> None:
        delays.append(seconds)
        if len(delays) == 3:
            started.set()
        await asyncio.sleep(0)

    link = CloudLink(f"ws://127.0.0.1:{port}/x", TOKEN, "ACC1", Handler(), sleep=record, draw=lambda: 0.0)
    task = asyncio.create_task(link.run())
    try:
        await asyncio.wait_for(started.wait(), 10)
        async with running(cloud, port):
            await until(lambda: link.connected)
    finally:
        task.cancel()
    assert delays[:3] == [0.5, 1.0, 2.0]
    assert "cloud unreachable at ws://127.0.0.1" in caplog.text


def make_ca(directory: Path) -> tuple[Path, Path, Path]:
    """A private CA and a server certificate for 127.0.0.1 signed by it (openssl)."""
    ca_key, ca, key, csr, cert = (
        directory / n for n in ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem")
    )
    ext = directory / "san.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1\n")

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    run(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        str(ca_key),
        "-out",
        str(ca),
        "-days",
        "2",
        "-subj",
        "/CN=tradebridge test CA",
    )
    run(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        str(key),
        "-out",
        str(csr),
        "-subj",
        "/CN=127.0.0.1",
    )
    run(
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(ca),
        "-CAkey",
        str(ca_key),
        "-CAcreateserial",
        "-out",
        str(cert),
        "-days",
        "2",
        "-extfile",
        str(ext),
    )
    return ca, cert, key


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a test CA")
async def test_wss_with_a_private_ca_is_verified(tmp_path: Path) -> None:
    ca, cert, key = make_ca(tmp_path)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    cloud, handler, port = FakeCloud(), Handler(), free_port()
    async with running(cloud, port, tls):
        trusted = CloudLink(f"wss://127.0.0.1:{port}/x", TOKEN, "ACC1", handler, ca_file=ca)
        task = asyncio.create_task(trusted.run())
        try:
            await until(lambda: cloud.events("ack"))
        finally:
            task.cancel()
        delays: list[float] = []

        async def stop_after_first(seconds: float) -> None:
            delays.append(seconds)
            raise asyncio.CancelledError

        untrusted = CloudLink(f"wss://127.0.0.1:{port}/x", TOKEN, "ACC1", handler, sleep=stop_after_first)
        with pytest.raises(asyncio.CancelledError):
            await untrusted.run()  # the certificate is not trusted without --ca-file: no connection
    assert delays and not untrusted.connected
    assert cloud.connections == 1


@dataclass
class BatchAckHandler(Handler):
    """A handler that forgets many acknowledged reports at once."""

    acknowledged: list[list[str]] = field(default_factory=list)

    def on_statuses_acknowledged(self, status_ids: Sequence[str]) -> None:
        self.acknowledged.append(list(status_ids))
        for status_id in status_ids:
            self.on_status_acknowledged(status_id)


async def test_a_handler_that_takes_many_acknowledgements_gets_them_at_once() -> None:
    cloud, port = FakeCloud(batch=False), free_port()
    handler = BatchAckHandler(reports=[report(number) for number in range(1, 8)])
    async with running(cloud, port):
        link = CloudLink(f"ws://127.0.0.1:{port}/listen_events", TOKEN, "ACC1", handler)
        task = asyncio.create_task(link.run())
        try:
            await until(lambda: not handler.pending_reports())
        finally:
            task.cancel()
    assert handler.acknowledged == [[f"s{number}" for number in range(1, 8)]]
