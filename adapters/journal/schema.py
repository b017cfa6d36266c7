"""The SQLite journal's tables, their versions, and the queries that read its records back.

Positions (AUTOINCREMENT) keep journal order: rows are read back ORDER BY position. Decimals are
text (exact digits), times ISO-8601 text in UTC, requests and batch orders JSON (`codec`).

Version 2 (the disk writes of a batch, synchronous=FULL before its `ack`, cut by a third):
- a batch's orders are in `batch_orders`, by the batch's position, written once and never
  changed; `batches` keeps the small columns, so a change of state rewrites one small row, where
  it rewrote the orders' ~15 KB (the text spills over several overflow pages) with it;
- a leg's `request` is '' while it is the order its batch holds under the leg's ref (the usual
  case: each leg's JSON was written twice per batch, in its row and in the batch's orders).
A version-1 file is upgraded when opened (`upgrade`, one transaction): its batches' orders move
to `batch_orders`; its legs keep their requests' text, which version 2 reads as before.

The index of the reports not acknowledged yet is partial (`reports_pending`: only rows with
`acked = 0`), so acknowledging a report removes its entry instead of moving it to the ever
growing part of acknowledged ones; it replaces `reports_unacked (acked, position)`, dropped when
a file is opened (an index only: the rows are the same, and a tradebridge that still makes the
old index works as before on the file).
"""

from __future__ import annotations

import sqlite3

SCHEMA_VERSION = 2

SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    batch_id TEXT NOT NULL UNIQUE,
    seq INTEGER,
    content_hash TEXT NOT NULL,
    received_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS batch_orders (
    position INTEGER PRIMARY KEY,
    orders TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS legs (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    order_ref TEXT NOT NULL UNIQUE,
    batch_id TEXT NOT NULL,
    bracket_ref TEXT NOT NULL,
    role TEXT NOT NULL,
    request TEXT NOT NULL,
    placement TEXT NOT NULL,
    status TEXT NOT NULL,
    filled TEXT NOT NULL,
    avg_price TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS executions (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    exec_id TEXT NOT NULL UNIQUE,
    order_ref TEXT NOT NULL,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL,
    quantity TEXT NOT NULL,
    price TEXT NOT NULL,
    time TEXT NOT NULL,
    commission TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS reports (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    status_id TEXT NOT NULL UNIQUE,
    batch_id TEXT NOT NULL,
    order_ref TEXT NOT NULL,
    symbol TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    filled TEXT NOT NULL,
    avg_price TEXT NOT NULL,
    message TEXT NOT NULL,
    acked INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS reports_pending ON reports (position) WHERE acked = 0;
DROP INDEX IF EXISTS reports_unacked;
CREATE INDEX IF NOT EXISTS batches_by_state ON batches (state, position);
CREATE TABLE IF NOT EXISTS trading_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    state TEXT NOT NULL,
    reason TEXT NOT NULL,
    changed_at TEXT
);
"""

# The batches of a version-1 file, renamed aside while version 2's tables are made.
_V1_UPGRADE = """
ALTER TABLE batches RENAME TO batches_v1;
DROP INDEX IF EXISTS batches_by_state;
"""
_V1_COPY = """
INSERT INTO batches (position, batch_id, seq, content_hash, received_at, expires_at, state, reason)
    SELECT position, batch_id, seq, content_hash, received_at, expires_at, state, reason FROM batches_v1;
INSERT INTO batch_orders (position, orders) SELECT position, orders FROM batches_v1;
DROP TABLE batches_v1;
"""


def upgrade(db: sqlite3.Connection) -> None:
    """Make the file's tables this version's (creating them in a new file), in one transaction.
    Raises RuntimeError for a file written by a newer tradebridge (it would be misread)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise RuntimeError(
                f"the journal {db_path(db)} has schema version {version}, newer than this tradebridge's "
                f"{SCHEMA_VERSION}: run the tradebridge version that wrote it (or a newer one)"
            )
        if version == 1:
            for statement in _statements(_V1_UPGRADE):
                db.execute(statement)
        for statement in _statements(SCHEMA):
            db.execute(statement)
        if version == 1:
            for statement in _statements(_V1_COPY):
                db.execute(statement)
        if version != SCHEMA_VERSION:
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def db_path(db: sqlite3.Connection) -> str:
    """The file behind the connection's main database ('' in memory)."""
    return str(db.execute("PRAGMA database_list").fetchone()[2])


def _statements(script: str) -> list[str]:
    # `executescript` would COMMIT first; these statements hold no ';' inside them.
    return [statement.strip() for statement in script.split(";") if statement.strip()]


BATCH_SELECT = (
    "SELECT batch_id, seq, content_hash, received_at, expires_at, state, reason, position FROM batches"
)
ORDERS_SELECT = "SELECT orders FROM batch_orders WHERE position = ?"
LEG_SELECT = (
    "SELECT order_ref, batch_id, bracket_ref, role, request, placement, status, filled, avg_price, message "
    "FROM legs"
)
