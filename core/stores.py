"""The cloud's storage ports: scans, approved batches with their legs' statuses, and the outbox.

The outbox is the delivery stream of ARCHITECTURE.md ("nothing lost, nothing placed twice"):
placing a batch writes the batch, its legs and one outbox entry per target account in ONE
transaction, each entry with the next sequence number. Executors receive entries in sequence
order, acknowledge them (`ack`, or `resume` with the last sequence they hold), and are never sent
an acknowledged entry again. Entries past their batch's expiry are never delivered.

Adapters: `adapters/storage` (SQLite, PostgreSQL). One contract suite runs against each.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Final, Protocol

from core.batches import ApprovedBatch, Leg
from core.scans import ScanRow
from core.values import ZERO, BatchId, OrderRef

ALL_ACCOUNTS: Final = "*"
"""The address of an outbox entry meant for every executor, whatever its account."""


class StoreError(Exception):
    """Storage refused or failed an operation; the message says what and what to do."""


class IdempotencyConflict(StoreError):
    """An Idempotency-Key reused with a different request body (HTTP 409)."""

    def __init__(self, key: str, batch_id: str) -> None:
        super().__init__(
            f"Idempotency-Key {key!r} was already used for a different request (it placed batch "
            f"{batch_id}); send the same body to get that batch back, or use a new key for a new request"
        )
        self.key = key
        self.batch_id = batch_id


class UnknownOrderRef(StoreError):
    """A status report for an order ref that no stored batch has."""

    def __init__(self, batch_id: str, order_ref: str) -> None:
        super().__init__(
            f"batch {batch_id} has no leg {order_ref!r}; report statuses only for the order refs "
            f"the batch was delivered with"
        )
        self.batch_id = batch_id
        self.order_ref = order_ref


class UnknownSequence(StoreError):
    """An acknowledgement of a sequence number the account was never sent."""


class LegState(StrEnum):
    """A leg's status as executors report it (`local_trading_status`), plus PENDING: stored,
    not yet reported on."""

    PENDING = "pending"
    RECEIVED = "received"
    SUBMITTED = "submitted"
    WORKING = "working"
    PARTIALLY_FILLED = "partially_filled"
    ERROR = "error"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"

    @classmethod
    def parse(cls, text: str) -> LegState:
        """The state for a reported status, or ValueError listing the accepted ones."""
        known = _LEG_STATES_BY_TEXT.get(text)  # the exact text, as executors send it: one lookup
        if known is not None:
            return known
        try:
            return cls(text.strip().lower())
        except ValueError:
            accepted = ", ".join(state.value for state in cls if state is not cls.PENDING)
            raise ValueError(f"status {text!r} is not one of {accepted}") from None

    @property
    def is_final(self) -> bool:
        return self in FINAL_LEG_STATES


_LEG_STATES_BY_TEXT: dict[str, LegState] = {state.value: state for state in LegState}
FINAL_LEG_STATES: Final = frozenset({LegState.FILLED, LegState.CANCELLED, LegState.REJECTED})

# How far along a leg is. An ERROR ranks just below the final states: it stays the latest word
# until the leg fills more or ends, so a person sees it instead of a later routine 'working'.
LEG_PROGRESS: Final[Mapping[LegState, int]] = {
    LegState.PENDING: 0,
    LegState.RECEIVED: 1,
    LegState.SUBMITTED: 2,
    LegState.WORKING: 3,
    LegState.PARTIALLY_FILLED: 4,
    LegState.ERROR: 5,
    LegState.FILLED: 6,
    LegState.CANCELLED: 6,
    LegState.REJECTED: 6,
}


def report_supersedes(current: LegState, current_filled: Decimal, new: LegState, new_filled: Decimal) -> bool:
    """Whether a new report replaces a leg's latest status.

    Reports can arrive late or twice (reconnects, resends), so the latest status never moves
    backwards: a final status stays; a report with less filled is an old one; more filled is
    always news; otherwise the report wins if it is at least as far along.
    """
    if current.is_final or new_filled < current_filled:
        return False
    return new_filled > current_filled or LEG_PROGRESS[new] >= LEG_PROGRESS[current]


@dataclass(frozen=True, slots=True)
class StoredScan:
    """A scan as stored: its id (assigned by the store), name, time of intake and rows in order."""

    scan_id: int
    name: str
    created_at: datetime
    rows: tuple[ScanRow, ...]


@dataclass(frozen=True, slots=True)
class ScanSummary:
    """A scan without its rows, for listings."""

    scan_id: int
    name: str
    created_at: datetime
    row_count: int


@dataclass(frozen=True, slots=True)
class LegStatus:
    """The latest word on one leg (one IB order) of a batch. `updated_at` is None until the
    first report; `avg_price` is 0 while nothing is filled."""

    batch_id: BatchId
    order_ref: OrderRef
    symbol: str
    leg: Leg
    status: LegState = LegState.PENDING
    filled: Decimal = ZERO
    avg_price: Decimal = ZERO
    message: str = ""
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class LegReport:
    """One status report of one leg, as received (the history keeps every distinct one)."""

    order_ref: OrderRef
    status: LegState
    filled: Decimal
    avg_price: Decimal
    message: str
    reported_at: datetime


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One deliverable message: the `trading_orders_generated` data of a batch for `account`
    (or ALL_ACCOUNTS), with its place `seq` in the delivery stream. Decimals, dates and times in
    the payload come back as strings (ISO 8601 for dates and times)."""

    seq: int
    batch_id: BatchId
    account: str
    payload: Mapping[str, object]
    created_at: datetime
    expires_at: datetime

    def is_expired(self, now: datetime) -> bool:
        return now >= self.expires_at


@dataclass(frozen=True, slots=True)
class StoredBatch:
    """An approved batch as stored, with every leg's latest status (entry, take profit, stop
    loss of each line, in batch order), the accounts it is addressed to and its payload."""

    batch: ApprovedBatch
    content_hash: str
    accounts: tuple[str, ...]
    created_at: datetime
    legs: tuple[LegStatus, ...]
    payload: Mapping[str, object]

    @property
    def batch_id(self) -> BatchId:
        return self.batch.batch_id

    @property
    def scan_id(self) -> int:
        return self.batch.scan_id

    @property
    def expires_at(self) -> datetime:
        return self.batch.expires_at


@dataclass(frozen=True, slots=True)
class PlacedBatch:
    """The result of `place_batch`: the stored batch, its outbox entries (in seq order), and
    whether this call created it (False: an idempotent repeat returned the earlier batch)."""

    batch: StoredBatch
    entries: tuple[OutboxEntry, ...]
    created: bool


class ScanStore(Protocol):
    """Scans taken in through the API or `tradebridge scans import`."""

    async def add_scan(self, name: str, rows: Sequence[ScanRow], created_at: datetime) -> int:
        """Store a scan and return its new id (ids increase). Rows keep their order and exact values."""
        ...

    async def get_scan(self, scan_id: int) -> StoredScan | None:
        """The scan with its rows, or None if there is no such scan."""
        ...

    async def list_scans(self, limit: int = 50, offset: int = 0) -> list[ScanSummary]:
        """Scans newest first, `limit` of them after skipping `offset`."""
        ...


class BatchStore(Protocol):
    """Approved batches, their legs' statuses, and their entry into the outbox."""

    async def place_batch(
        self,
        batch: ApprovedBatch,
        accounts: Sequence[str],
        payload: Mapping[str, object],
        idempotency_key: str | None = None,
        request_hash: str | None = None,
    ) -> PlacedBatch:
        """Store `batch` in ONE transaction: the batch, its three leg rows per line (order refs
        unique), one outbox entry with the next sequence number per account in `accounts` (or one
        entry for ALL_ACCOUNTS), and the idempotency record. All of it or none of it is stored.

        `payload` is the `trading_orders_generated` data: JSON values, plus Decimal, date and
        datetime, which are stored as strings. With an `idempotency_key` (and the `request_hash`
        of the request body) a repeat returns the first batch with `created=False` and stores
        nothing; the key with another hash raises IdempotencyConflict. A batch id already stored
        raises StoreError.
        """
        ...

    async def get_batch(self, batch_id: str) -> StoredBatch | None:
        """The batch with every leg's latest status, or None if there is no such batch."""
        ...

    async def list_batches(self, limit: int = 50) -> list[StoredBatch]:
        """The most recently placed batches, newest first."""
        ...

    async def record_leg_status(
        self,
        batch_id: str,
        order_ref: str,
        status: LegState,
        filled: Decimal,
        avg_price: Decimal,
        message: str,
        at: datetime,
    ) -> LegStatus:
        """Record one status report of a leg and return the leg's latest status.

        Every distinct report goes into the history; the same report again changes nothing.
        The latest status moves only forward (`report_supersedes`): a late 'working' after
        'filled' is kept in the history but does not replace 'filled'. Raises UnknownOrderRef
        if the batch has no such leg, ValueError for a negative quantity or price.
        """
        ...

    async def leg_history(self, batch_id: str, order_ref: str) -> list[LegReport]:
        """Every distinct report of one leg, in the order received. UnknownOrderRef if none such."""
        ...

    async def record_leg_statuses(
        self, reports: Sequence[tuple[str, LegReport]]
    ) -> list[LegStatus | UnknownOrderRef]:
        """Record several reports, each `(batch_id, report)`, in ONE transaction, each by the rules
        of `record_leg_status`, in the given order (the report's `reported_at` is its time).

        Returns, per report and in the same order, the leg's latest status after it, or an
        UnknownOrderRef (returned, not raised: the other reports are still stored) when the batch
        has no such leg. Raises ValueError, storing nothing, for a negative quantity or price.
        """
        ...


class Outbox(Protocol):
    """The delivery stream of batches to executors, with per-account acknowledgements.

    Sequence numbers are assigned under a lock held until the placing transaction commits, so
    they become visible in increasing order with no permanent gaps: an executor that holds
    everything up to N has missed nothing below N. An entry is owed to an account while it is
    addressed to it (or to ALL_ACCOUNTS), unexpired and not acknowledged by that account.
    """

    async def pending(self, account: str, after_seq: int, now: datetime) -> list[OutboxEntry]:
        """The entries still owed to `account` with seq above `after_seq`, in seq order.

        Acknowledged entries (by `ack` or `ack_through`) and expired ones are left out; an
        unacknowledged entry below a higher acknowledged one is still owed and returned.
        """
        ...

    async def ack(self, account: str, seq: int) -> None:
        """`account` holds entry `seq` safely; it is never sent to this account again.
        Repeating an ack is harmless. UnknownSequence if no such entry is addressed to it."""
        ...

    async def ack_through(self, account: str, last_seq: int) -> None:
        """`account` holds every entry up to `last_seq` (what `resume` says). UnknownSequence
        if `last_seq` is beyond the last sequence number ever issued: the executor's journal
        then belongs to another database, and skipping ahead would silently lose batches."""
        ...

    async def resume(self, account: str, last_seq: int, now: datetime) -> list[OutboxEntry]:
        """`ack_through(account, last_seq)`, then what is still owed to the account, in order."""
        ...

    async def acked_seq(self, account: str) -> int:
        """The highest sequence number `account` has acknowledged (by ack or resume); 0 if none.
        It does not promise that everything below was acknowledged: `pending` is the authority."""
        ...

    async def backlog(self, now: datetime) -> int:
        """How many unexpired entries no addressee has acknowledged yet: for an account entry,
        that account; for an ALL_ACCOUNTS entry, any account. 0 means nothing is waiting."""
        ...


def json_ready(value: object, where: str = "payload") -> object:
    """`value` as plain JSON values: Decimal becomes its string, date and datetime their ISO
    text, tuples lists. Raises ValueError naming the path of anything else."""
    try:
        return _plain(value)
    except _NotJson:
        # Walked again only to name the path: the fast walk does not build paths it never needs.
        return _explained(value, where)


class _NotJson(Exception):
    """Something JSON cannot hold: `_explained` says what and where."""


def _plain(value: object) -> object:
    # The types a payload is made of, by exact type first and without building paths; anything
    # else (subclasses, other mappings) goes the general way.
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is Decimal:
        return _plain_decimal(value)  # type: ignore[arg-type]  # its type is Decimal exactly
    if kind is dict:
        return _plain_mapping(value)  # type: ignore[arg-type]  # its type is dict exactly
    if kind is list or kind is tuple:
        return [_plain(item) for item in value]  # type: ignore[attr-defined]  # list or tuple
    return _plain_general(value)


def _plain_decimal(value: Decimal) -> str:
    if not value.is_finite():
        raise _NotJson
    return str(value)


def _plain_mapping(value: Mapping[object, object]) -> dict[str, object]:
    result: dict[str, object] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise _NotJson
        result[key] = _plain(item)
    return result


def _plain_general(value: object) -> object:
    # The same rules as `_explained`, in the same order, for values of other (sub)types.
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, Decimal):
        return _plain_decimal(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return _plain_mapping(value)
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    raise _NotJson


def _explained(value: object, where: str) -> object:
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{where} is the non-finite number {value}; send finite numbers only")
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        result: dict[str, object] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{where} has the key {key!r}; JSON object keys must be strings")
            result[key] = _explained(item, f"{where}.{key}")
        return result
    if isinstance(value, list | tuple):
        return [_explained(item, f"{where}[{index}]") for index, item in enumerate(value)]
    raise ValueError(
        f"{where} is a {type(value).__name__}, which JSON cannot hold; convert it to a string or number "
        f"(floats are refused too: money travels as Decimal strings)"
    )
