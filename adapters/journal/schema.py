"""The SQLite journal's tables and the queries that read its records back.

Positions (AUTOINCREMENT) keep journal order: rows are read back ORDER BY position. Decimals are
text (exact digits), times ISO-8601 text in UTC, requests and batch orders JSON (`codec`).
"""

from __future__ import annotations

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    batch_id TEXT NOT NULL UNIQUE,
    seq INTEGER,
    content_hash TEXT NOT NULL,
    orders TEXT NOT NULL,
    received_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT ''
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
CREATE INDEX IF NOT EXISTS reports_unacked ON reports (acked, position);
CREATE INDEX IF NOT EXISTS batches_by_state ON batches (state, position);
CREATE TABLE IF NOT EXISTS trading_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    state TEXT NOT NULL,
    reason TEXT NOT NULL,
    changed_at TEXT
);
"""

BATCH_SELECT = (
    "SELECT batch_id, seq, content_hash, orders, received_at, expires_at, state, reason FROM batches"
)
LEG_SELECT = (
    "SELECT order_ref, batch_id, bracket_ref, role, request, placement, status, filled, avg_price, message "
    "FROM legs"
)
