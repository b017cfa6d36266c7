"""Many legs' status reports stored in ONE write transaction (`BatchStore.record_leg_statuses`).

An executor reports a 20-order batch in about 200 statuses. Stored one transaction each, that
was ~4 ms apiece at the cloud; here the whole frame is one `run_write` unit (one hand-off to the
driver's thread on SQLite, one commit on either database), with exactly the rules of
`record_leg_status`: every distinct report goes into the history, the same report again changes
nothing, and a leg's latest status moves only forward (`core.stores.report_supersedes`).

The legs of each batch named are read (and, on PostgreSQL, locked) with one query per batch, in
(batch_id, order_ref) order so that two writers never wait on each other in a cycle, and their
history with one more: a frame costs a few queries, not one per report (200 queries were most of
a frame's time). The reports are then applied in the order given, against the legs as they stand
after the earlier reports of the same frame. The history rows go in together, and each leg whose
latest status moved is updated once (`execute_rows`, `update_rows`: on SQLite a few multi-row
statements, not a step per row; see write_units).

Then half of the transaction was Python (~1.4 ms of 200 reports, beside ~0.5 ms of SQL and the
commit): so the reports are applied in one loop, rows go to the runner as tuples (`execute_rows`:
no dict per row, each column converted in one pass), and the LegStatus values a frame makes (one
per report that moves a leg, one per leg a report leaves where it was; a leg's row is parsed only
then) are built through a writable twin.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.storage.tables import batch_legs, leg_reports
from adapters.storage.write_units import StatementRunner, run_write
from core.batches import Leg
from core.stores import LegReport, LegState, LegStatus, UnknownOrderRef, report_supersedes
from core.values import BatchId, OrderRef, writable_twin

_batch_id = bindparam("batch_id", type_=batch_legs.c.batch_id.type)
_READ_LEGS = (
    select(
        batch_legs.c.order_ref,
        batch_legs.c.batch_id,
        batch_legs.c.symbol,
        batch_legs.c.leg,
        batch_legs.c.status,
        batch_legs.c.filled,
        batch_legs.c.avg_price,
        batch_legs.c.message,
        batch_legs.c.updated_at,
    )
    .where(batch_legs.c.batch_id == _batch_id)
    .order_by(batch_legs.c.order_ref)
    .with_for_update()
)
# The numbers are compared as values in Python (on SQLite they are text, where "10.5" and "10.50"
# differ).
_READ_HISTORY = (
    select(leg_reports.c.order_ref, leg_reports.c.status, leg_reports.c.filled, leg_reports.c.avg_price,
           leg_reports.c.message)
    .join(batch_legs, batch_legs.c.order_ref == leg_reports.c.order_ref)
    .where(batch_legs.c.batch_id == _batch_id)
)
_INSERT_REPORT = leg_reports.insert()
_REPORT_COLUMNS = ("order_ref", "status", "filled", "avg_price", "message", "reported_at")
_LEG_COLUMNS_MOVED = ("status", "filled", "avg_price", "message", "updated_at")


def _decimal(value: Any) -> Decimal:
    # The runner gives SQLite's stored text as it is, PostgreSQL's NUMERIC as Decimal.
    if value.__class__ is str:
        # A frame reads the same few texts ("0", a fill's quantity) hundreds of times; parsed
        # once each. Keyed by the exact text, so "10" and "10.0" stay two Decimals as stored.
        parsed = _DECIMALS_BY_TEXT.get(value)
        if parsed is None:
            if len(_DECIMALS_BY_TEXT) >= _MAX_DECIMALS_BY_TEXT:
                _DECIMALS_BY_TEXT.clear()
            parsed = _DECIMALS_BY_TEXT[value] = Decimal(value)
        return parsed
    return value if isinstance(value, Decimal) else Decimal(str(value))


_DECIMALS_BY_TEXT: dict[str, Decimal] = {}  # Decimals are immutable: one may serve every frame
_MAX_DECIMALS_BY_TEXT = 4096


def _utc(value: Any) -> datetime | None:
    if value is None:
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    assert isinstance(moment, datetime)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# Stored text to enum member by dict: a frame reads a leg's status and kind for every leg.
_LEG_STATES = {state.value: state for state in LegState}
_LEG_KINDS = {kind.value: kind for kind in Leg}
_STATE_TEXT = {state: state.value for state in LegState}  # `.value` is a descriptor call

# A frame makes a LegStatus per report that moves a leg: the generated __init__ of the frozen
# dataclass writes each of its 9 fields through object.__setattr__, 4x the cost of `_leg_status`.
# The twin checks at import that these are LegStatus's fields, in order.
_WritableLegStatus = writable_twin(
    LegStatus, "batch_id", "order_ref", "symbol", "leg", "status", "filled", "avg_price", "message",
    "updated_at",
)


def _leg_status(
    batch_id: BatchId, order_ref: OrderRef, symbol: str, leg: Leg, status: LegState, filled: Decimal,
    avg_price: Decimal, message: str, updated_at: datetime | None,
) -> LegStatus:
    """`LegStatus(...)` with every field given, through the writable twin (an ordinary, frozen
    LegStatus comes out)."""
    made: Any = _WritableLegStatus()
    made.batch_id = batch_id
    made.order_ref = order_ref
    made.symbol = symbol
    made.leg = leg
    made.status = status
    made.filled = filled
    made.avg_price = avg_price
    made.message = message
    made.updated_at = updated_at
    made.__class__ = LegStatus
    leg_status: LegStatus = made
    return leg_status


def _leg(row: Sequence[Any]) -> LegStatus:
    # Text columns come back as str from both drivers (typed Any here: no NewType call per leg).
    order_ref, batch_id, symbol, leg, status, filled, avg_price, message, updated_at = row
    return _leg_status(
        batch_id, order_ref, symbol, _LEG_KINDS[leg], _LEG_STATES[status], _decimal(filled),
        _decimal(avg_price), message, None if updated_at is None else _utc(updated_at),
    )


_Similar = tuple[LegState, Decimal, Decimal, str]  # what makes two reports of a leg the same


def check_reports(reports: Sequence[tuple[str, LegReport]]) -> None:
    """ValueError naming the first report with a negative quantity or price."""
    for _, report in reports:
        if report.filled < 0 or report.avg_price < 0:
            raise ValueError(
                f"leg {report.order_ref}: filled ({report.filled}) and avg_price ({report.avg_price}) "
                f"must be 0 or more; nothing of this batch of statuses was stored"
            )


class _Frame:
    """The transaction's work: the legs as they stand, the reports seen, what to write.

    A leg's row is read as it is stored and made a LegStatus only when that is an outcome (a
    report that does not move it): a frame's reports move nearly every leg they name, and the new
    status is built from the report, so parsing each row's numbers and time was mostly waste."""

    def __init__(self, runner: StatementRunner) -> None:
        self.runner = runner
        self.stored: dict[str, Sequence[Any]] = {}  # the legs' rows as read, by order_ref
        self.legs: dict[str, LegStatus] = {}  # the legs made or moved by this frame
        self.history: dict[str, set[_Similar]] = {}
        self.inserts: list[tuple[Any, ...]] = []  # in the order of _REPORT_COLUMNS
        self.moved: set[str] = set()

    def load(self, batch_ids: Sequence[str]) -> None:
        stored = self.stored
        for batch_id in sorted(set(batch_ids)):  # one lock order for every writer (PostgreSQL)
            for row in self.runner.rows(_READ_LEGS, {"batch_id": batch_id}):
                stored[row[0]] = row
            for ref, status, filled, avg_price, message in self.runner.rows(
                _READ_HISTORY, {"batch_id": batch_id}
            ):
                similar = (_LEG_STATES[status], _decimal(filled), _decimal(avg_price), str(message))
                self.history.setdefault(str(ref), set()).add(similar)

    def apply_all(self, reports: Sequence[tuple[str, LegReport]]) -> list[LegStatus | UnknownOrderRef]:
        """Per report, in order: UnknownOrderRef for a leg not in its batch, else the leg's latest
        status after it (moved only if the report supersedes it; history kept if it is news)."""
        stored, legs, history, inserts, moved = self.stored, self.legs, self.history, self.inserts, self.moved
        outcomes: list[LegStatus | UnknownOrderRef] = []
        for batch_id, report in reports:
            ref = report.order_ref
            current = legs.get(ref)
            row = None
            if current is None:
                row = stored.get(ref)
                if row is None or row[1] != batch_id:
                    outcomes.append(UnknownOrderRef(batch_id, ref))
                    continue
            elif current.batch_id != batch_id:
                outcomes.append(UnknownOrderRef(batch_id, ref))
                continue
            status, filled, avg_price = report.status, report.filled, report.avg_price
            message = report.message
            # Whether the same report (all but its time) is in the leg's history; if not, it is now.
            similar = (status, filled, avg_price, message)
            seen = history.get(ref)
            if seen is None:
                history[ref] = {similar}
            elif similar in seen:
                if current is None:
                    assert row is not None
                    current = legs[ref] = _leg(row)
                outcomes.append(current)
                continue
            else:
                seen.add(similar)
            inserts.append((ref, _STATE_TEXT[status], filled, avg_price, message, report.reported_at))
            if current is None:
                assert row is not None
                # order_ref, batch_id, symbol, leg, status, filled, ... as _READ_LEGS reads them
                if report_supersedes(_LEG_STATES[row[4]], _decimal(row[5]), status, filled):
                    current = _leg_status(row[1], ref, row[2], _LEG_KINDS[row[3]], status, filled,
                                          avg_price, message, report.reported_at)
                    moved.add(ref)
                else:
                    current = _leg(row)
                legs[ref] = current
            elif report_supersedes(current.status, current.filled, status, filled):
                current = _leg_status(current.batch_id, ref, current.symbol, current.leg, status, filled,
                                      avg_price, message, report.reported_at)
                legs[ref] = current
                moved.add(ref)
            outcomes.append(current)
        return outcomes

    def write(self) -> None:
        # Only with rows: an empty parameter list means one bare execution to SQLAlchemy.
        if self.inserts:
            self.runner.execute_rows(_INSERT_REPORT, _REPORT_COLUMNS, self.inserts)
        updates = []
        for ref in sorted(self.moved):
            leg = self.legs[ref]
            updates.append(
                (ref, _STATE_TEXT[leg.status], leg.filled, leg.avg_price, leg.message, leg.updated_at)
            )
        if updates:
            self.runner.update_rows(batch_legs, "order_ref", _LEG_COLUMNS_MOVED, updates)


async def record_leg_statuses(
    engine: AsyncEngine, reports: Sequence[tuple[str, LegReport]]
) -> list[LegStatus | UnknownOrderRef]:
    """`BatchStore.record_leg_statuses` (see core.stores) over SQL, in one write transaction."""
    if not reports:
        return []
    check_reports(reports)

    def record(runner: StatementRunner) -> list[LegStatus | UnknownOrderRef]:
        frame = _Frame(runner)
        frame.load([batch_id for batch_id, _ in reports])
        outcomes = frame.apply_all(reports)
        frame.write()
        return outcomes

    return await run_write(engine, record)
