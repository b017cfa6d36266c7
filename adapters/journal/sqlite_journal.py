"""`SqliteJournal`: the executor's journal in one local SQLite file.

Durability is the point: WAL mode with `synchronous=FULL` makes a committed transaction survive
kill -9 and power loss (the WAL is fsynced at each commit). Two kinds of commits do not wait for
the disk (`synchronous=NORMAL`, the connection back at FULL right after), and a background
thread (`WalSyncer`) fsyncs the WAL within 50 ms of them: the steps that only record what the
broker already said (`core.journal.needs_sync`: lost in a power loss, reconciliation reads all of it back
from the broker) and the cloud's acknowledgements of status reports (lost, the reports are only
sent again; the cloud stores a repeated report once). Both survive kill -9 at once (in WAL mode
their frames are in the OS's cache). Every step that decides something before or instead of a
broker call (a leg about to be sent, refused, a batch rejected) and the batch itself, before its
`ack`, are synced before the call returns. Each port call that writes is one
`BEGIN IMMEDIATE ... COMMIT`; an error rolls the whole step back. The standard library's sqlite3
is enough: one executor process owns the file, and a commit takes a few milliseconds.
Decimals are stored as text (exact digits), times as ISO-8601 text in UTC; a leg's request is
not written again while it is its batch's (`schema`, which also upgrades older files). Rows are
written many per statement (`rows`); what is read often (legs, reports pending, execution ids
applied) is also kept in memory, updated after each COMMIT (the file has one owner: exact).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from adapters.journal.codec import (
    batch_orders_from_json,
    batch_orders_to_json,
    order_from_json,
    order_to_json,
)
from adapters.journal.pending import PendingReports
from adapters.journal.rows import (
    ACKNOWLEDGE_POSITIONS,
    ACKNOWLEDGE_REPORTS,
    INSERT_FILLS,
    INSERT_REPORTS,
    fill_params,
    report_params,
    write_legs,
)
from adapters.journal.schema import BATCH_SELECT, LEG_SELECT, ORDERS_SELECT, upgrade
from adapters.journal.wal_sync import WalSyncer
from core.broker_events import Fill
from core.journal import (
    REUSED_STATUS_ID,
    BatchOrder,
    BatchState,
    DuplicateExecution,
    JournaledBatch,
    JournalStep,
    LegRecord,
    LegRole,
    LegStatus,
    Placement,
    RecordOutcome,
    StatusReport,
    TradingStateRecord,
    needs_sync,
)
from core.orders import OrderRequest
from core.values import BatchId, ExecId, OrderRef, Side, TradingState


class SqliteJournal:
    """The Journal port over one SQLite file (`:memory:` for a throwaway journal in tests)."""

    def __init__(self, path: str | Path) -> None:
        self._path = str(path)
        if self._path != ":memory:":
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN IMMEDIATE / COMMIT ourselves, one per logical step.
        self._db: sqlite3.Connection | None = sqlite3.connect(self._path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._wal_syncer = None if self._path == ":memory:" else WalSyncer(self._path)
        try:
            upgrade(self._db)
        except BaseException:
            self.close()
            raise
        # Leg records are read on every broker event; one executor process owns the file, so a
        # write-through copy (filled from disk on first use, updated after each COMMIT) is exact.
        self._legs: dict[str, LegRecord] | None = None
        # Likewise the reports not acknowledged yet, read before every status frame sent.
        self._pending: PendingReports | None = None
        # The legs written since `changed_legs` was last called (None: nobody asked yet).
        self._leg_changes: dict[str, LegRecord] | None = None
        # A batch's orders never change once journaled, and decoding them (~0.4 ms for 20) was paid
        # on every read of the batch, several times per placement: kept per batch id, from the
        # objects `record_batch` wrote, or decoded once when read from the file.
        self._batch_orders: dict[str, tuple[BatchOrder, ...]] = {}
        # Their legs' requests by ref, per batch (made when first needed): a leg whose request is its
        # batch's is written without it (`schema`).
        self._batch_requests: dict[str, dict[str, OrderRequest]] = {}
        # A leg's request rarely changes while its record is rewritten on every status: the JSON text
        # of the request last written per ref, reused while the record carries the same request.
        self._request_text: dict[str, tuple[OrderRequest, str]] = {}
        # The execution ids applied (filled from disk on first use, updated after each COMMIT): asked
        # once per fill, which was a query each.
        self._exec_ids: set[str] | None = None

    @property
    def path(self) -> str:
        return self._path

    def pragma(self, name: str) -> str:
        """A pragma's current value, as text (for tests and diagnostics)."""
        return str(self._conn.execute(f"PRAGMA {name}").fetchone()[0])

    # -- writes ---------------------------------------------------------------------------------

    def record_batch(
        self, batch: JournaledBatch, legs: Sequence[LegRecord], reports: Sequence[StatusReport]
    ) -> RecordOutcome:
        with self._transaction() as db:
            if db.execute("SELECT 1 FROM batches WHERE batch_id = ?", (batch.batch_id,)).fetchone():
                return RecordOutcome.DUPLICATE
            position = db.execute(
                "INSERT INTO batches (batch_id, seq, content_hash, received_at, expires_at, state, reason) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (batch.batch_id, batch.seq, batch.content_hash, batch.received_at.isoformat(),
                 batch.expires_at.isoformat(), batch.state.value, batch.reason),
            ).lastrowid
            db.execute(
                "INSERT INTO batch_orders (position, orders) VALUES (?, ?)",
                (position, batch_orders_to_json(batch.orders)),
            )
            requests = _requests_by_ref(batch.orders)
            positions = self._write_legs_and_reports(
                db, legs, reports, lambda batch_id: requests if batch_id == batch.batch_id else None
            )
        self._batch_orders[batch.batch_id] = batch.orders
        self._batch_requests[batch.batch_id] = requests
        self._remember(legs, reports, positions)
        return RecordOutcome.NEW

    def commit(self, step: JournalStep) -> None:
        applied = self._applied() if step.fills else set()  # as committed: read before the transaction
        durable = needs_sync(step)
        with self._transaction(durable) as db:
            for batch_id, state, reason in step.batch_states:
                changed = db.execute(
                    "UPDATE batches SET state = ?, reason = ? WHERE batch_id = ?",
                    (state.value, reason, batch_id),
                ).rowcount
                if not changed:
                    raise KeyError(f"batch {batch_id} is not in the journal")
            if step.fills:
                try:
                    INSERT_FILLS.write(db, fill_params(step.fills))
                except sqlite3.IntegrityError:
                    raise DuplicateExecution(
                        f"execution {_applied_twice(step.fills, applied)} was applied already"
                    ) from None
            positions = self._write_legs_and_reports(db, step.legs, step.reports, self._requests_of)
        if not durable:
            self._sync_soon()
        self._remember(step.legs, step.reports, positions)
        if self._exec_ids is not None:
            self._exec_ids.update(fill.exec_id for fill in step.fills)

    def acknowledge_report(self, status_id: str) -> bool:
        return bool(self.acknowledge_reports((status_id,)))

    def acknowledge_reports(self, status_ids: Sequence[str]) -> int:
        """In one transaction, committed without waiting for an fsync (see the module docstring)."""
        if not status_ids:
            return 0
        positions, others = self._known_pending().positions(status_ids)
        with self._transaction(durable=False) as db:
            before = db.total_changes
            if positions:
                ACKNOWLEDGE_POSITIONS.write(db, positions)
            if others:
                ACKNOWLEDGE_REPORTS.write(db, others)
            changed = db.total_changes - before
        self._sync_soon()
        self._forget_pending(status_ids)
        return changed

    def set_trading_state(self, record: TradingStateRecord) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO trading_state (id, state, reason, changed_at) VALUES (1, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET state = excluded.state, reason = excluded.reason, "
                "changed_at = excluded.changed_at",
                (record.state.value, record.reason,
                 None if record.changed_at is None else record.changed_at.isoformat()),
            )

    # -- reads ----------------------------------------------------------------------------------

    def batch(self, batch_id: BatchId) -> JournaledBatch | None:
        row = self._conn.execute(f"{BATCH_SELECT} WHERE batch_id = ?", (batch_id,)).fetchone()
        return None if row is None else self._batch(row)

    def batches(self, states: Collection[BatchState] | None = None) -> tuple[JournaledBatch, ...]:
        if states is None:
            rows = self._conn.execute(f"{BATCH_SELECT} ORDER BY position")
        else:
            wanted = sorted(state.value for state in states)
            marks = ", ".join("?" * len(wanted))
            rows = self._conn.execute(f"{BATCH_SELECT} WHERE state IN ({marks}) ORDER BY position", wanted)
        return tuple(self._batch(row) for row in rows)

    def legs(self) -> tuple[LegRecord, ...]:
        return tuple(self._known_legs().values())

    def changed_legs(self) -> tuple[LegRecord, ...]:
        """The leg records written since the last call (each ref once, as it is now), in the order
        they were first written since then; the first call returns every leg. For one watcher
        (the executor's progress lines and open-order count), so that it need not go through the
        whole history on every step. Not part of the Journal port."""
        if self._leg_changes is None:
            self._leg_changes = {}
            return self.legs()
        changed, self._leg_changes = self._leg_changes, {}
        return tuple(changed.values())

    def leg(self, order_ref: OrderRef) -> LegRecord | None:
        return self._known_legs().get(order_ref)

    def fills(self) -> tuple[Fill, ...]:
        rows = self._conn.execute(
            "SELECT exec_id, order_ref, symbol, side, quantity, price, time, commission FROM executions "
            "ORDER BY position"
        )
        return tuple(
            Fill(ExecId(e), OrderRef(r), sym, Side(side), Decimal(q), Decimal(p), datetime.fromisoformat(t),
                 Decimal(c))
            for e, r, sym, side, q, p, t, c in rows
        )

    def has_execution(self, exec_id: str) -> bool:
        return exec_id in self._applied()

    def pending_reports(self) -> tuple[StatusReport, ...]:
        return self._known_pending().all()

    def pending_report(self, status_id: str) -> StatusReport | None:
        """The report with this id while the cloud has not acknowledged it (None after that, or for
        an unknown id). Not part of the Journal port: for the executor's log of what the cloud stored."""
        return self._known_pending().get(status_id)

    def pending_batches(self, status_ids: Iterable[str]) -> dict[str, int]:
        """How many of these reports (each id once) the cloud has not acknowledged, per batch (ids
        not pending are left out). Not part of the Journal port: for the executor's log of what
        the cloud stored."""
        return self._known_pending().batches_of(status_ids)

    def pending_count(self, batch_id: str) -> int:
        """How many of this batch's reports the cloud has not acknowledged. Not part of the Journal port."""
        return self._known_pending().count(batch_id)

    def last_seq(self) -> int:
        value = self._conn.execute("SELECT MAX(seq) FROM batches").fetchone()[0]
        return int(value) if value is not None else 0

    def trading_state(self) -> TradingStateRecord:
        query = "SELECT state, reason, changed_at FROM trading_state WHERE id = 1"
        row = self._conn.execute(query).fetchone()
        if row is None:
            return TradingStateRecord()
        state, reason, changed_at = row
        return TradingStateRecord(
            TradingState(state), reason, None if changed_at is None else datetime.fromisoformat(changed_at)
        )

    def close(self) -> None:
        self._legs = None
        if self._wal_syncer is not None:
            self._wal_syncer.close()
        if self._db is not None:
            self._db.close()
            self._db = None

    def wait_synced(self, timeout: float = 5.0) -> bool:
        """Wait until every commit made so far is on disk (the background syncs); False on timeout."""
        return True if self._wal_syncer is None else self._wal_syncer.wait(timeout)

    # -- internals ------------------------------------------------------------------------------

    def _sync_soon(self) -> None:
        if self._wal_syncer is not None:
            self._wal_syncer.request()

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError(f"the journal {self._path} is closed; open a new SqliteJournal")
        return self._db

    def _known_legs(self) -> dict[str, LegRecord]:
        if self._legs is None:
            self._legs = {}
            for row in self._conn.execute(f"{LEG_SELECT} ORDER BY position").fetchall():
                leg = self._legs[row[0]] = self._leg(row)
                if row[4]:
                    self._request_text[leg.order_ref] = (leg.request, row[4])
        return self._legs

    def _remember(
        self, legs: Sequence[LegRecord], reports: Sequence[StatusReport], positions: Sequence[int] | None
    ) -> None:
        """After a COMMIT: a new ref goes last (as its row's position), a known one keeps its place;
        new unacknowledged reports go last (report ids are never reused: the insert would fail),
        with their rows' `positions` when known."""
        if self._legs is not None:
            self._legs.update((leg.order_ref, leg) for leg in legs)
        if self._leg_changes is not None:
            self._leg_changes.update((leg.order_ref, leg) for leg in legs)
        if self._pending is not None:
            self._pending.add(reports, positions)

    def _forget_pending(self, status_ids: Iterable[str]) -> None:
        """After a COMMIT acknowledging these reports."""
        if self._pending is not None:
            self._pending.forget(status_ids)

    def _known_pending(self) -> PendingReports:
        if self._pending is None:
            rows = self._conn.execute(
                "SELECT status_id, batch_id, order_ref, symbol, status, created_at, filled, avg_price, "
                "message, acked, position FROM reports WHERE acked = 0 ORDER BY position"
            ).fetchall()
            self._pending = PendingReports(
                (StatusReport(sid, BatchId(b), OrderRef(r), sym, LegStatus(st), datetime.fromisoformat(at),
                              Decimal(f), Decimal(p), msg, bool(acked))
                 for sid, b, r, sym, st, at, f, p, msg, acked, _ in rows),
                [row[10] for row in rows],
            )
        return self._pending

    def _request_json(self, request: OrderRequest) -> str:
        """The request as JSON: the text last made for its ref when it is the same object (leg
        records are rebuilt around the request they had; a batch holds its legs' requests)."""
        known = self._request_text.get(request.order_ref)
        if known is not None and known[0] is request:
            return known[1]
        text = order_to_json(request)
        self._request_text[request.order_ref] = (request, text)
        return text

    def _batch(self, row: tuple[str, int | None, str, str, str, str, str, int]) -> JournaledBatch:
        batch_id, seq, content_hash, received_at, expires_at, state, reason, position = row
        orders = self._batch_orders.get(batch_id)
        if orders is None:
            orders = self._batch_orders[batch_id] = self._orders_at(position, batch_id)
        return JournaledBatch(
            BatchId(batch_id), seq, content_hash, orders, datetime.fromisoformat(received_at),
            datetime.fromisoformat(expires_at), BatchState(state), reason,
        )

    def _orders_at(self, position: int, batch_id: str) -> tuple[BatchOrder, ...]:
        row = self._conn.execute(ORDERS_SELECT, (position,)).fetchone()
        if row is None:
            raise ValueError(f"the journal {self._path} has no orders for batch {batch_id}: the file is "
                             "damaged; restore it from a backup")
        return batch_orders_from_json(row[0])

    def _requests_of(self, batch_id: str) -> dict[str, OrderRequest] | None:
        """The batch's legs' requests by ref, or None for a batch not in the journal."""
        requests = self._batch_requests.get(batch_id)
        if requests is None:
            batch = self.batch(BatchId(batch_id))
            if batch is None:
                return None
            requests = self._batch_requests[batch_id] = _requests_by_ref(batch.orders)
        return requests

    def _leg(self, row: tuple[str, str, str, str, str, str, str, str, str, str]) -> LegRecord:
        order_ref, batch_id, bracket_ref, role, request, placement, status, filled, avg_price, message = row
        if request:
            order = order_from_json(request)
        else:  # its batch's (`schema`)
            known = (self._requests_of(batch_id) or {}).get(order_ref)
            if known is None:
                raise ValueError(f"the journal {self._path} has no request for leg {order_ref} in batch "
                                 f"{batch_id}: the file is damaged; restore it from a backup")
            order = known
        return LegRecord(
            OrderRef(order_ref), BatchId(batch_id), OrderRef(bracket_ref), LegRole(role), order,
            Placement(placement), LegStatus(status), Decimal(filled), Decimal(avg_price), message,
        )

    @contextmanager
    def _transaction(self, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """One `BEGIN IMMEDIATE ... COMMIT`; `durable=False`: committed with synchronous=NORMAL
        (no fsync), the connection back at FULL afterwards whatever happened."""
        db = self._conn
        if not durable:
            db.execute("PRAGMA synchronous=NORMAL")
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        finally:
            if not durable:
                db.execute("PRAGMA synchronous=FULL")

    def _write_legs_and_reports(
        self, db: sqlite3.Connection, legs: Sequence[LegRecord], reports: Sequence[StatusReport],
        requests_of: Callable[[str], Mapping[str, OrderRequest] | None],
    ) -> list[int] | None:
        """Write the legs and insert the reports; the reports' row positions, in order (None if
        they could not be told: the reports are then acknowledged by id)."""
        if legs:
            def request_text(leg: LegRecord) -> str:
                """'' while the leg's request is its batch's (read back from there), else its JSON."""
                known = (requests_of(leg.batch_id) or {}).get(leg.order_ref)
                if known is not None and (known is leg.request or known == leg.request):
                    return ""
                return self._request_json(leg.request)

            write_legs(db, legs, self._legs, request_text)
        if not reports:
            return []
        try:
            last = INSERT_REPORTS.write(db, report_params(reports))
        except sqlite3.IntegrityError:
            raise ValueError(REUSED_STATUS_ID) from None
        # AUTOINCREMENT gives each new row a rowid above every rowid the table ever had, so the
        # reports' rowids increase in order: when the first report sits at `last - n + 1`, they
        # are exactly the n positions up to `last` (one lookup instead of reading them back).
        if last is None:
            return None
        first = last - len(reports) + 1
        row = db.execute("SELECT status_id FROM reports WHERE position = ?", (first,)).fetchone()
        if row is None or row[0] != reports[0].status_id:
            return None
        return list(range(first, last + 1))

    def _applied(self) -> set[str]:
        """The execution ids applied (committed)."""
        if self._exec_ids is None:
            self._exec_ids = {row[0] for row in self._conn.execute("SELECT exec_id FROM executions")}
        return self._exec_ids


def _applied_twice(fills: Sequence[Fill], applied: set[str]) -> str:
    """The exec id of the first fill that was `applied` already, or that the step has twice."""
    seen: set[str] = set()
    for fill in fills:
        if fill.exec_id in seen or fill.exec_id in applied:
            return fill.exec_id
        seen.add(fill.exec_id)
    return fills[0].exec_id


def _requests_by_ref(orders: Sequence[BatchOrder]) -> dict[str, OrderRequest]:
    return {leg.order_ref: leg for order in orders for leg in order.bracket.legs}
