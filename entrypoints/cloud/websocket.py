"""WebSocket `/listen_events`: the handshake check, then one frame at a time through the hub.

The token is checked before anything else (`Authorization: Bearer` or `?token=`); without an
accepted one the socket is closed with 1008 and no frame is read. A bad frame is answered with an
`error` frame and the connection stays up: one typo must not cost an executor its session.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Any

from litestar import WebSocket, websocket
from litestar.di import NamedDependency

from adapters.wire import messages
from core.service_layer.cloud import CloudDeps, StatusReport, record_status, record_statuses
from core.stores import LegStatus, StoreError
from core.values import writable_twin
from entrypoints.cloud.activity import Activity
from entrypoints.cloud.auth import TokenBook, bearer_token
from entrypoints.cloud.delivery_hub import (
    CLOSE_EXECUTOR_CONFLICT,
    CLOSE_POLICY,
    DeliveryHub,
    ExecutorConflict,
    Peer,
)
from entrypoints.cloud.server import SEND_TEXTS

logger = logging.getLogger(__name__)


def error_frame(message: str, code: str = "bad_message") -> bytes:
    return messages.encode(messages.ERROR, messages.ErrorMessage(message=message, code=code))


@websocket("/listen_events")
async def listen_events(
    socket: WebSocket[Any, Any, Any],
    hub: NamedDependency[DeliveryHub],
    deps: NamedDependency[CloudDeps],
    tokens: NamedDependency[TokenBook],
    activity: NamedDependency[Activity],
) -> None:
    """Executors resume, receive batches, ack them and report statuses; observers watch."""
    await socket.accept()
    if not tokens.accepts(bearer_token(socket.headers, socket.query_params)):
        await socket.close(CLOSE_POLICY, "missing or wrong API token: send Authorization: Bearer <token>")
        return

    async def send_text(text: str) -> None:
        await socket.send({"type": "websocket.send", "text": text, "bytes": None})

    async def close(code: int, reason: str) -> None:
        await socket.close(code, reason)

    async def send_many(texts: Sequence[str]) -> None:
        message: Any = {"type": SEND_TEXTS, "texts": texts}
        await socket.send(message)

    offered = SEND_TEXTS in (socket.scope.get("extensions") or {})
    peer = Peer(deps.ids.next_id("client-"), send_text, close, send_many=send_many if offered else None)
    hub.connect(peer)
    try:
        await peer.send(
            messages.encode(
                messages.CONNECTED,
                messages.Connected(
                    client_id=peer.client_id,
                    server_time=deps.clock.now().isoformat(),
                    heartbeat_seconds=hub.heartbeat_seconds,
                ),
            )
        )
        while True:
            event = await socket.receive()
            if event["type"] == "websocket.disconnect":
                break
            peer.last_heard = time.monotonic()
            activity.touch()  # background work (the order files) waits for a quiet moment
            raw = event.get("text") or event.get("bytes") or b""
            if not isinstance(raw, str | bytes):
                raw = b""
            if not await handle_frame(raw, peer, hub, deps):
                break
    except Exception as error:  # the peer went away mid-send, or the server is stopping
        logger.info("websocket %s ended: %s", peer.client_id, error)
    finally:
        hub.disconnect(peer)


async def handle_frame(raw: str | bytes, peer: Peer, hub: DeliveryHub, deps: CloudDeps) -> bool:
    """Act on one frame; False when the connection must end."""
    try:
        frame = messages.decode(raw)
    except messages.BadFrame as error:
        await peer.send(error_frame(str(error)))
        return True
    data = frame.data
    with hub.urgent():
        return await _handle(frame.event, data, peer, hub, deps)


async def _handle(event: str, data: Any, peer: Peer, hub: DeliveryHub, deps: CloudDeps) -> bool:
    try:
        if event == messages.RESUME:
            await hub.resume(peer, data.account, data.last_seq)
        elif event == messages.ACK:
            await hub.ack(peer, data.seq)
        elif event == messages.LOCAL_TRADING_STATUS:
            await _status(data, peer, hub, deps)
        elif event == messages.LOCAL_TRADING_STATUSES:
            await _statuses(data, peer, hub, deps)
        elif event == messages.EXECUTOR_STATUS:
            if peer.account is not None and data.account != peer.account:
                raise ValueError(
                    f"executor_status names account {data.account}, but this connection "
                    f"resumed as {peer.account}"
                )
            await hub.executor_status(data)
        elif event != messages.HEARTBEAT:
            raise ValueError(
                f"{event} is sent by the server, not to it; clients send resume, ack, "
                f"local_trading_status, local_trading_statuses, executor_status or heartbeat"
            )
    except ExecutorConflict as error:
        await peer.send(error_frame(str(error), "executor_conflict"))
        await peer.close(CLOSE_EXECUTOR_CONFLICT, str(error))
        return False
    except (StoreError, ValueError) as error:
        await peer.send(error_frame(f"{event}: {error}", f"bad_{event}"))
    except Exception:  # e.g. the database is unreachable: say so, keep the session
        logger.exception("handling %s from %s failed", event, peer.client_id)
        await peer.send(
            error_frame(
                f"{event} could not be handled now (server error, logged); send it again shortly",
                "server_error",
            )
        )
    return True


async def _status(data: messages.LocalTradingStatus, peer: Peer, hub: DeliveryHub, deps: CloudDeps) -> None:
    if peer.account is None:
        raise ValueError("send resume {account, last_seq} first: statuses come from executors")
    report = StatusReport(
        data.batch_id, data.order_ref, data.status, data.filled, data.avg_price, data.message
    )
    await record_status(deps, report)
    data.account = data.account or peer.account
    await peer.send(messages.encode(messages.STATUS_ACKNOWLEDGED, data))
    with contextlib.suppress(Exception):
        await hub.queue_broadcast([messages.encode(messages.LOCAL_TRADING_STATUS, data).decode()])


async def _statuses(
    data: messages.LocalTradingStatuses, peer: Peer, hub: DeliveryHub, deps: CloudDeps
) -> None:
    """A frame of statuses: stored in one transaction, answered with ONE `statuses_acknowledged`
    (the ids stored; the refused ones with their reason, which stay journaled at the executor),
    then each stored one queued for the observers as a `local_trading_status`, as if sent alone."""
    if peer.account is None:
        raise ValueError("send resume {account, last_seq} first: statuses come from executors")
    outcomes = await record_statuses(deps, [_status_report(item) for item in data.statuses])
    stored: list[messages.LocalTradingStatus] = []
    answer = messages.StatusesAcknowledged(status_ids=[])
    stored_ids, refused_ids = answer.status_ids, answer.refused
    for item, outcome in zip(data.statuses, outcomes, strict=True):
        if not item.account:
            item.account = peer.account
        if isinstance(outcome, LegStatus):
            stored.append(item)
            if item.status_id:
                stored_ids.append(item.status_id)
        elif item.status_id:
            refused_ids[item.status_id] = str(outcome)
    await peer.send(messages.encode(messages.STATUSES_ACKNOWLEDGED, answer))
    if len(stored) < len(data.statuses):
        refused = len(data.statuses) - len(stored)
        first = next(str(o) for o in outcomes if not isinstance(o, LegStatus))
        await peer.send(error_frame(
            f"local_trading_statuses: {refused} of {len(data.statuses)} statuses were not stored "
            f"(first: {first}); the others were", "bad_local_trading_statuses",
        ))
    with contextlib.suppress(Exception):  # queued: the executor's next frame is read at once
        await hub.queue_broadcast(messages.encode_texts(messages.LOCAL_TRADING_STATUS, stored))


# A frame of statuses makes a StatusReport per status: the generated __init__ of the frozen
# dataclass writes each field through object.__setattr__, the twin plain slot writes (see
# core.values.writable_twin; it checks at import that these are StatusReport's fields, in order).
_WritableStatusReport = writable_twin(
    StatusReport, "batch_id", "order_ref", "status", "filled", "avg_price", "message"
)


def _status_report(item: messages.LocalTradingStatus) -> StatusReport:
    """`StatusReport(item.batch_id, item.order_ref, ...)`, an ordinary frozen StatusReport."""
    made: Any = _WritableStatusReport()
    made.batch_id = item.batch_id
    made.order_ref = item.order_ref
    made.status = item.status
    made.filled = item.filled
    made.avg_price = item.avg_price
    made.message = item.message
    made.__class__ = StatusReport
    report: StatusReport = made
    return report
