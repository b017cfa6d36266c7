"""Wire schemas of `/listen_events`, shared by the cloud service and the executor.

Every frame is a JSON object `{"event": name, "data": {...}}`; deliverable frames also carry
`"seq"`. The event names and data fields are fixed by INTERFACES.md; fields may be added, never
renamed. Decoding is tolerant of unknown fields (an older executor must survive a newer cloud),
but strict about types: a frame with a wrong type is refused with a message naming the field.
Money travels as JSON numbers written from Decimal digits, and is decoded back to Decimal.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Final

import msgspec

CONNECTED: Final = "connected"
RESUME: Final = "resume"
TRADING_ORDERS_GENERATED: Final = "trading_orders_generated"
ACK: Final = "ack"
LOCAL_TRADING_STATUS: Final = "local_trading_status"
STATUS_ACKNOWLEDGED: Final = "status_acknowledged"
LOCAL_TRADING_STATUSES: Final = "local_trading_statuses"
STATUSES_ACKNOWLEDGED: Final = "statuses_acknowledged"
EXECUTOR_STATUS: Final = "executor_status"
HEARTBEAT: Final = "heartbeat"
ERROR: Final = "error"

LEG_STATUSES: Final = frozenset(
    {"received", "submitted", "working", "partially_filled", "filled", "cancelled", "rejected", "error"}
)

# Frames above this size are refused by both sides: a batch of 500 orders is about 150 kB.
MAX_FRAME_BYTES: Final = 1 << 20
# Statuses per `local_trading_statuses` frame: 500 reports are about 150 kB, well under the limit.
MAX_STATUSES_PER_FRAME: Final = 500


class Connected(msgspec.Struct, kw_only=True):
    client_id: str
    server_time: str
    role: str = "observer"  # becomes "executor" once the client sends `resume`
    heartbeat_seconds: float = 15.0


class Resume(msgspec.Struct, kw_only=True):
    account: str
    last_seq: int = 0


class OrderLegs(msgspec.Struct, kw_only=True):
    entry: str
    take_profit: str
    stop_loss: str


class WireOrder(msgspec.Struct, kw_only=True):
    order_ref: str  # the entry leg's key; `legs` names all three
    symbol: str
    side: str  # "BUY" / "SELL"
    quantity: Decimal
    order_type: str  # "MKT"
    entry_price: Decimal
    stop_loss: Decimal
    take_profit: Decimal
    target_date: str | None = None
    strategy: str = ""
    legs: OrderLegs | None = None


class OrderFile(msgspec.Struct, kw_only=True):
    name: str
    download_url: str


class TradingOrdersGenerated(msgspec.Struct, kw_only=True):
    batch_id: str
    scan_id: int
    orders: list[WireOrder]
    file: OrderFile | None = None
    approved_at: str | None = None
    expires_at: str | None = None
    content_hash: str | None = None
    account: str = "*"


class Ack(msgspec.Struct, kw_only=True):
    seq: int


class LocalTradingStatus(msgspec.Struct, kw_only=True):
    batch_id: str
    order_ref: str
    symbol: str
    status: str
    filled: Decimal = Decimal(0)
    avg_price: Decimal = Decimal(0)
    message: str = ""
    status_id: str | None = None  # the executor's id for this report, echoed in the acknowledgement
    account: str | None = None
    time: str | None = None

    def __post_init__(self) -> None:
        if self.status not in LEG_STATUSES:
            raise msgspec.ValidationError(
                f"status {self.status!r} is not one of {', '.join(sorted(LEG_STATUSES))} - at `$.status`"
            )


class LocalTradingStatuses(msgspec.Struct, kw_only=True):
    """Several `local_trading_status` reports in one frame (executor -> server), stored by the
    cloud in one transaction and answered with one `statuses_acknowledged`."""

    statuses: list[LocalTradingStatus]

    def __post_init__(self) -> None:
        if len(self.statuses) > MAX_STATUSES_PER_FRAME:
            raise msgspec.ValidationError(
                f"{len(self.statuses)} statuses in one frame, at most {MAX_STATUSES_PER_FRAME}; "
                f"split them - at `$.statuses`"
            )


class OutgoingStatus(msgspec.Struct, gc=False):
    """A `local_trading_status` as the executor sends it (`encode_statuses`): the fields of
    `LocalTradingStatus` in its order, so it encodes to the same JSON. Made positionally and
    without `LocalTradingStatus`'s check of `status` (the executor's statuses are its `LegStatus`
    values, all of them in LEG_STATUSES), and left alone by the cyclic garbage collector (it holds
    only strings and numbers): about 200 are made per 20-order batch."""

    batch_id: str
    order_ref: str
    symbol: str
    status: str
    filled: Decimal
    avg_price: Decimal
    message: str
    status_id: str | None
    account: str | None
    time: str | None


class StatusesAcknowledged(msgspec.Struct, kw_only=True):
    """The answer to `local_trading_statuses`: the `status_id`s the cloud stored (the executor may
    forget those); `refused` says, per status id, why a report was not stored."""

    status_ids: list[str]
    refused: dict[str, str] = msgspec.field(default_factory=dict)


class ExecutorStatus(msgspec.Struct, kw_only=True):
    account: str
    broker_connected: bool
    trading_state: str
    open_orders: int = 0
    positions: int = 0


class Heartbeat(msgspec.Struct, kw_only=True):
    time: str | None = None


class ErrorMessage(msgspec.Struct, kw_only=True):
    message: str
    code: str = "bad_message"


DATA_TYPES: Final[dict[str, type[msgspec.Struct]]] = {
    CONNECTED: Connected,
    RESUME: Resume,
    TRADING_ORDERS_GENERATED: TradingOrdersGenerated,
    ACK: Ack,
    LOCAL_TRADING_STATUS: LocalTradingStatus,
    STATUS_ACKNOWLEDGED: LocalTradingStatus,
    LOCAL_TRADING_STATUSES: LocalTradingStatuses,
    STATUSES_ACKNOWLEDGED: StatusesAcknowledged,
    EXECUTOR_STATUS: ExecutorStatus,
    HEARTBEAT: Heartbeat,
    ERROR: ErrorMessage,
}


class _Envelope(msgspec.Struct):
    event: str
    data: msgspec.Raw = msgspec.Raw(b"{}")
    seq: int | None = None


class Frame(msgspec.Struct, kw_only=True):
    """A decoded frame: the event name, its typed data, and the delivery sequence if any."""

    event: str
    data: Any
    seq: int | None = None


class BadFrame(ValueError):
    """A frame that is not valid JSON, names an unknown event, or has data of the wrong shape."""


class _StatusesFrame(msgspec.Struct):
    """A `local_trading_statuses` frame read in one pass (see `decode`)."""

    event: str
    data: LocalTradingStatuses
    seq: int | None = None


_encoder = msgspec.json.Encoder(decimal_format="number")
_envelope_decoder = msgspec.json.Decoder(_Envelope)
_data_decoders = {name: msgspec.json.Decoder(kind) for name, kind in DATA_TYPES.items()}
_statuses_frame_decoder = msgspec.json.Decoder(_StatusesFrame)
_STATUSES_HEAD = b'{"event":"local_trading_statuses",'  # as `encode` writes it


def encode(event: str, data: msgspec.Struct | dict[str, Any], seq: int | None = None) -> bytes:
    """One frame as JSON bytes."""
    frame: dict[str, Any] = {"event": event, "data": data}
    if seq is not None:
        frame["seq"] = seq
    return _encoder.encode(frame)


def encode_statuses(statuses: Sequence[OutgoingStatus]) -> bytes:
    """`encode(LOCAL_TRADING_STATUSES, LocalTradingStatuses(statuses=...))` for the executor's own
    reports: the same bytes, without building the frame's structs."""
    if len(statuses) > MAX_STATUSES_PER_FRAME:
        raise ValueError(
            f"{len(statuses)} statuses in one frame, at most {MAX_STATUSES_PER_FRAME}; split them"
        )
    return _encoder.encode({"event": LOCAL_TRADING_STATUSES, "data": {"statuses": statuses}})


def encode_texts(event: str, items: Sequence[msgspec.Struct]) -> list[str]:
    """`encode(event, item).decode()` for each item: the same text, one frame per item (the ~200
    statuses of a frame go to the observers one by one). Encoded in one call, as JSON lines: a
    newline inside a JSON text is always escaped, so each item is exactly one line."""
    if not items:
        return []
    head = f'{{"event":{_encoder.encode(event).decode()},"data":'
    lines = _encoder.encode_lines(items).decode().split("\n")
    lines.pop()  # the empty text after the last newline
    return [f"{head}{line}}}" for line in lines]


def decode(raw: bytes | str) -> Frame:
    """Parse one frame, or raise BadFrame saying what is wrong with it."""
    if isinstance(raw, str):
        raw = raw.encode()
    if len(raw) > MAX_FRAME_BYTES:
        raise BadFrame(f"frame of {len(raw)} bytes is above the {MAX_FRAME_BYTES} byte limit")
    if raw.startswith(_STATUSES_HEAD):
        # An executor's frame of statuses (up to 500 of them) in one pass, not an envelope pass
        # and then a data pass. Anything amiss takes the general way below, which says what.
        try:
            statuses = _statuses_frame_decoder.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError):
            pass
        else:
            if statuses.event == LOCAL_TRADING_STATUSES:
                return Frame(event=statuses.event, data=statuses.data, seq=statuses.seq)
    try:
        envelope = _envelope_decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        raise BadFrame(f"not a frame ({error}); send {{\"event\": name, \"data\": {{...}}}}") from None
    decoder = _data_decoders.get(envelope.event)
    if decoder is None:
        raise BadFrame(f"unknown event {envelope.event!r}; known: {', '.join(sorted(DATA_TYPES))}")
    try:
        data = decoder.decode(envelope.data)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        raise BadFrame(f"{envelope.event}: {str(error).replace('$', '$.data', 1)}") from None
    return Frame(event=envelope.event, data=data, seq=envelope.seq)
