"""The schema as SQLAlchemy Core tables: what the stores query. Migrations create it (the
revisions in `migrations/versions` are the history; a test checks both agree)."""

from __future__ import annotations

from sqlalchemy import (
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from adapters.storage.column_types import ExactDecimal, UtcDateTime

metadata = MetaData()

scans = Table(
    "scans",
    metadata,
    Column("scan_id", Integer, primary_key=True, autoincrement=True),
    Column("name", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("row_count", Integer, nullable=False),
)

scan_rows = Table(
    "scan_rows",
    metadata,
    Column("scan_id", Integer, ForeignKey("scans.scan_id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("symbol", String(16), nullable=False),
    Column("side", String(4), nullable=False),
    Column("current_price", ExactDecimal, nullable=False),
    Column("stop_loss", ExactDecimal, nullable=False),
    Column("take_profit", ExactDecimal, nullable=False),
    Column("target_date", Date, nullable=True),
    Column("win_rate", ExactDecimal, nullable=True),
    Column("adx", ExactDecimal, nullable=True),
    Column("strategy", Text, nullable=False),
    Column("confidence", ExactDecimal, nullable=True),
    Column("atr", ExactDecimal, nullable=True),
)

batches = Table(
    "batches",
    metadata,
    Column("batch_id", String(16), primary_key=True),
    Column("scan_id", Integer, nullable=False, index=True),
    Column("approved_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("accounts", Text, nullable=False),  # JSON list of account ids, or ["*"]
    Column("payload", Text, nullable=False),  # JSON: the trading_orders_generated data
    Column("created_at", UtcDateTime, nullable=False, index=True),
)

batch_lines = Table(
    "batch_lines",
    metadata,
    Column("batch_id", String(16), ForeignKey("batches.batch_id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("symbol", String(16), nullable=False),
    Column("side", String(4), nullable=False),
    Column("quantity", ExactDecimal, nullable=False),
    Column("entry_price", ExactDecimal, nullable=False),
    Column("stop_loss", ExactDecimal, nullable=False),
    Column("take_profit", ExactDecimal, nullable=False),
    Column("target_date", Date, nullable=True),
    Column("strategy", Text, nullable=False),
    Column("win_rate", ExactDecimal, nullable=True),
    Column("adx", ExactDecimal, nullable=True),
    Column("order_type", String(8), nullable=False),
    UniqueConstraint("batch_id", "symbol", name="uq_batch_lines_symbol"),
)

batch_legs = Table(
    "batch_legs",
    metadata,
    Column("order_ref", String(64), primary_key=True),
    Column("batch_id", String(16), ForeignKey("batches.batch_id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),  # line position * 3 + leg index: batch order
    Column("symbol", String(16), nullable=False),
    Column("leg", String(16), nullable=False),
    Column("status", String(20), nullable=False),
    Column("filled", ExactDecimal, nullable=False),
    Column("avg_price", ExactDecimal, nullable=False),
    Column("message", Text, nullable=False),
    Column("updated_at", UtcDateTime, nullable=True),
    UniqueConstraint("batch_id", "position", name="uq_batch_legs_position"),
)

leg_reports = Table(
    "leg_reports",
    metadata,
    Column("report_id", Integer, primary_key=True, autoincrement=True),
    Column("order_ref", String(64), ForeignKey("batch_legs.order_ref", ondelete="CASCADE"), nullable=False),
    Column("status", String(20), nullable=False),
    Column("filled", ExactDecimal, nullable=False),
    Column("avg_price", ExactDecimal, nullable=False),
    Column("message", Text, nullable=False),
    Column("reported_at", UtcDateTime, nullable=False),
    Index("ix_leg_reports_order_ref", "order_ref", "report_id"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("batch_id", String(16), ForeignKey("batches.batch_id", ondelete="CASCADE"), nullable=False),
    Column("account", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    UniqueConstraint("batch_id", "account", name="uq_outbox_batch_account"),
    CheckConstraint("seq > 0", name="ck_outbox_seq_positive"),
    Index("ix_outbox_account_seq", "account", "seq"),
)

# One row (id 1): the last sequence number issued. Placing a batch updates it first, so the row
# lock serialises placements and sequence numbers commit in increasing order.
outbox_counter = Table(
    "outbox_counter",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("last_seq", Integer, nullable=False),
    CheckConstraint("id = 1", name="ck_outbox_counter_single_row"),
)

outbox_acks = Table(
    "outbox_acks",
    metadata,
    Column("account", String(64), primary_key=True),
    Column("seq", Integer, ForeignKey("outbox.seq", ondelete="CASCADE"), primary_key=True),
    Column("acked_at", UtcDateTime, nullable=False),
)

# Per account: everything up to `acked_through` is acknowledged (what `resume` says).
outbox_cursors = Table(
    "outbox_cursors",
    metadata,
    Column("account", String(64), primary_key=True),
    Column("acked_through", Integer, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("request_hash", String(128), nullable=False),
    Column("batch_id", String(16), ForeignKey("batches.batch_id", ondelete="CASCADE"), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)
