"""The journal's rows as SQL parameters, and statements that write many rows at once.

SQLite does a fixed amount of work per statement run (start the program, update the
AUTOINCREMENT counter, reset), and `executemany` runs the statement once per row: for the
~200 rows a 20-order batch writes, that was as much as the rows themselves. `Rows` writes
them with one statement per group of rows (`INSERT ... VALUES (...), (...), ...`), in the order
given, which SQLite applies row by row exactly as separate statements would: an upsert of a key
seen earlier in the same statement updates it, and a failing row fails the statement (the caller's
transaction is then rolled back, as before). The groups have fixed sizes (powers of two), so that
a handful of statement texts stay prepared in the connection's statement cache.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence

from adapters.journal.codec import time_text
from core.broker_events import Fill
from core.journal import LegRecord, LegRole, LegStatus, Placement, StatusReport

# Enum members to their column text: a dict lookup costs a fraction of `.value` (a descriptor call),
# and a batch writes about 200 reports and 120 leg states.
_ROLE_TEXT = {role: role.value for role in LegRole}
_PLACEMENT_TEXT = {placement: placement.value for placement in Placement}
_STATUS_TEXT = {status: status.value for status in LegStatus}

# Largest first; 128 rows of 10 columns is 1,280 parameters (SQLite allows 32,766).
GROUP_SIZES = (128, 64, 32, 16, 8, 4, 2, 1)


class Rows:
    """One statement in several sizes: `head`, then `size` copies of `row` joined by `joiner`,
    then `tail`. `write` runs it over a flat parameter list of `width` values per row."""

    __slots__ = ("_sql", "_width")

    def __init__(self, head: str, row: str, width: int, tail: str = "", joiner: str = ", ") -> None:
        self._width = width
        self._sql = {size: head + joiner.join([row] * size) + tail for size in GROUP_SIZES}

    def write(self, db: sqlite3.Connection, params: Sequence[object]) -> int | None:
        """Run the statement over every row of `params` (`width` values each), in order. Returns
        the last statement's `lastrowid` (for an INSERT: the rowid of the last row), None if none ran."""
        width = self._width
        count, start = len(params) // width, 0
        last = None
        for size in GROUP_SIZES:
            while count - start >= size:
                last = db.execute(self._sql[size], params[start * width : (start + size) * width]).lastrowid
                start += size
        return last


_LEG_COLUMNS = (
    "order_ref, batch_id, bracket_ref, role, request, placement, status, filled, avg_price, message"
)
UPSERT_LEGS = Rows(
    f"INSERT INTO legs ({_LEG_COLUMNS}) VALUES ",
    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    10,
    " ON CONFLICT (order_ref) DO UPDATE SET batch_id = excluded.batch_id, "
    "bracket_ref = excluded.bracket_ref, role = excluded.role, request = excluded.request, "
    "placement = excluded.placement, "
    "status = excluded.status, filled = excluded.filled, avg_price = excluded.avg_price, "
    "message = excluded.message",
)
INSERT_REPORTS = Rows(
    "INSERT INTO reports (status_id, batch_id, order_ref, symbol, status, created_at, filled, avg_price, "
    "message, acked) VALUES ",
    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    10,
)
INSERT_FILLS = Rows(
    "INSERT INTO executions (exec_id, order_ref, symbol, side, quantity, price, time, commission) VALUES ",
    "(?, ?, ?, ?, ?, ?, ?, ?)",
    8,
)
# A leg's state columns: what changes when a leg the journal holds is written again. Many legs per
# statement, from a VALUES list (each ref once: `write_legs` keeps the last record of a ref), as a
# statement run per leg cost more than the update itself (~60 legs a batch, written twice).
UPDATE_LEG_STATES = Rows(
    "UPDATE legs SET placement = new.column1, status = new.column2, filled = new.column3, "
    "avg_price = new.column4, message = new.column5 FROM (VALUES ",
    "(?, ?, ?, ?, ?, ?)",
    6,
    ") AS new WHERE legs.order_ref = new.column6",
)
# UPDATE ... FROM came with SQLite 3.33 (2020); a Python linked with an older one runs this per leg.
UPDATE_LEG_STATE = (
    "UPDATE legs SET placement = ?, status = ?, filled = ?, avg_price = ?, message = ? WHERE order_ref = ?"
)
UPDATE_FROM = sqlite3.sqlite_version_info >= (3, 33, 0)
# `+acked`: look the reports up by their unique status_id, not through the index of unacknowledged
# reports (which would go through every report still pending, thousands after a long outage).
ACKNOWLEDGE_REPORTS = Rows("UPDATE reports SET acked = 1 WHERE +acked = 0 AND status_id IN (", "?", 1, ")")
# The same by the reports' positions (rowids), when the journal knows them (`PendingReports`): a rowid
# lookup costs about half the lookup of a text id in the status_id index.
ACKNOWLEDGE_POSITIONS = Rows("UPDATE reports SET acked = 1 WHERE +acked = 0 AND position IN (", "?", 1, ")")


def write_legs(
    db: sqlite3.Connection,
    legs: Sequence[LegRecord],
    committed: Mapping[str, LegRecord] | None,
    request_text: Callable[[LegRecord], str],
) -> None:
    """Insert or replace the leg records (by order ref; the last of a ref named twice wins, in the
    place of its first). A leg `committed` with the same batch, bracket, role and request (the usual
    case: a new status) gets its state columns updated: an upsert first tries the insert, which cost
    more than the update. Any other leg (new, or changed otherwise, or `committed` unknown) is upserted,
its request written as `request_text` gives it."""
    latest = {leg.order_ref: leg for leg in legs}
    states: list[object] = []  # six values per leg, as UPDATE_LEG_STATES takes them
    add_state = states.extend
    upserts: list[LegRecord] = []
    placements, statuses = _PLACEMENT_TEXT, _STATUS_TEXT
    for ref, leg in latest.items():
        old = committed.get(ref) if committed is not None else None
        if (
            old is not None
            and old.role is leg.role
            and old.batch_id == leg.batch_id
            and old.bracket_ref == leg.bracket_ref
            and (old.request is leg.request or old.request == leg.request)
        ):
            add_state(
                (
                    placements[leg.placement],
                    statuses[leg.status],
                    str(leg.filled),
                    str(leg.avg_price),
                    leg.message,
                    ref,
                )
            )
        else:
            upserts.append(leg)
    if upserts:
        UPSERT_LEGS.write(db, leg_params(upserts, request_text))
    if states and UPDATE_FROM:
        UPDATE_LEG_STATES.write(db, states)
    elif states:
        db.executemany(UPDATE_LEG_STATE, [states[start : start + 6] for start in range(0, len(states), 6)])


def leg_params(legs: Sequence[LegRecord], request_text: Callable[[LegRecord], str]) -> list[object]:
    """The legs' column values, row after row (`request_text` gives a leg's request column)."""
    params: list[object] = []
    add = params.extend
    roles, placements, statuses = _ROLE_TEXT, _PLACEMENT_TEXT, _STATUS_TEXT
    for leg in legs:
        add(
            (
                leg.order_ref,
                leg.batch_id,
                leg.bracket_ref,
                roles[leg.role],
                request_text(leg),
                placements[leg.placement],
                statuses[leg.status],
                str(leg.filled),
                str(leg.avg_price),
                leg.message,
            )
        )
    return params


def report_params(reports: Sequence[StatusReport]) -> list[object]:
    """The reports' column values, row after row."""
    params: list[object] = []
    add = params.extend
    statuses = _STATUS_TEXT
    for r in reports:
        add(
            (
                r.status_id,
                r.batch_id,
                r.order_ref,
                r.symbol,
                statuses[r.status],
                time_text(r.created_at),
                str(r.filled),
                str(r.avg_price),
                r.message,
                1 if r.acked else 0,
            )
        )
    return params


def fill_params(fills: Sequence[Fill]) -> list[object]:
    """The executions' column values, row after row."""
    params: list[object] = []
    add = params.extend
    for fill in fills:
        add(
            (
                fill.exec_id,
                fill.order_ref,
                fill.symbol,
                fill.side.value,
                str(fill.quantity),
                str(fill.price),
                fill.time.isoformat(),
                str(fill.commission),
            )
        )
    return params
