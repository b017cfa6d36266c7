"""Initial schema: scans, batches with lines and legs, leg reports, outbox, idempotency keys.

Revision ID: 0001
Revises:
Create Date: 2026-01-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Frozen copies of the column types (a revision must not change when the code does): money is
# NUMERIC, or text on SQLite where NUMERIC would turn it into a float.
MONEY = sa.Numeric().with_variant(sa.String(64), "sqlite")
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "scans",
        sa.Column("scan_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("row_count", sa.Integer, nullable=False),
    )
    op.create_table(
        "scan_rows",
        sa.Column("scan_id", sa.Integer, sa.ForeignKey("scans.scan_id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("symbol", sa.String(16), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("current_price", MONEY, nullable=False),
        sa.Column("stop_loss", MONEY, nullable=False),
        sa.Column("take_profit", MONEY, nullable=False),
        sa.Column("target_date", sa.Date, nullable=True),
        sa.Column("win_rate", MONEY, nullable=True),
        sa.Column("adx", MONEY, nullable=True),
        sa.Column("strategy", sa.Text, nullable=False),
        sa.Column("confidence", MONEY, nullable=True),
        sa.Column("atr", MONEY, nullable=True),
    )
    op.create_table(
        "batches",
        sa.Column("batch_id", sa.String(16), primary_key=True),
        sa.Column("scan_id", sa.Integer, nullable=False),
        sa.Column("approved_at", TIME, nullable=False),
        sa.Column("expires_at", TIME, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("accounts", sa.Text, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
    )
    op.create_index("ix_batches_scan_id", "batches", ["scan_id"])
    op.create_index("ix_batches_created_at", "batches", ["created_at"])
    op.create_table(
        "batch_lines",
        sa.Column("batch_id", sa.String(16), sa.ForeignKey("batches.batch_id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("symbol", sa.String(16), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("quantity", MONEY, nullable=False),
        sa.Column("entry_price", MONEY, nullable=False),
        sa.Column("stop_loss", MONEY, nullable=False),
        sa.Column("take_profit", MONEY, nullable=False),
        sa.Column("target_date", sa.Date, nullable=True),
        sa.Column("strategy", sa.Text, nullable=False),
        sa.Column("win_rate", MONEY, nullable=True),
        sa.Column("adx", MONEY, nullable=True),
        sa.Column("order_type", sa.String(8), nullable=False),
        sa.UniqueConstraint("batch_id", "symbol", name="uq_batch_lines_symbol"),
    )
    op.create_table(
        "batch_legs",
        sa.Column("order_ref", sa.String(64), primary_key=True),
        sa.Column("batch_id", sa.String(16), sa.ForeignKey("batches.batch_id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("symbol", sa.String(16), nullable=False),
        sa.Column("leg", sa.String(16), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("filled", MONEY, nullable=False),
        sa.Column("avg_price", MONEY, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("updated_at", TIME, nullable=True),
        sa.UniqueConstraint("batch_id", "position", name="uq_batch_legs_position"),
    )
    op.create_table(
        "leg_reports",
        sa.Column("report_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("order_ref", sa.String(64), sa.ForeignKey("batch_legs.order_ref", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("filled", MONEY, nullable=False),
        sa.Column("avg_price", MONEY, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("reported_at", TIME, nullable=False),
    )
    op.create_index("ix_leg_reports_order_ref", "leg_reports", ["order_ref", "report_id"])
    op.create_table(
        "outbox",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("batch_id", sa.String(16), sa.ForeignKey("batches.batch_id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("expires_at", TIME, nullable=False),
        sa.UniqueConstraint("batch_id", "account", name="uq_outbox_batch_account"),
        sa.CheckConstraint("seq > 0", name="ck_outbox_seq_positive"),
    )
    op.create_index("ix_outbox_account_seq", "outbox", ["account", "seq"])
    counter = op.create_table(
        "outbox_counter",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("last_seq", sa.Integer, nullable=False),
        sa.CheckConstraint("id = 1", name="ck_outbox_counter_single_row"),
    )
    op.bulk_insert(counter, [{"id": 1, "last_seq": 0}])
    op.create_table(
        "outbox_acks",
        sa.Column("account", sa.String(64), primary_key=True),
        sa.Column("seq", sa.Integer, sa.ForeignKey("outbox.seq", ondelete="CASCADE"), primary_key=True),
        sa.Column("acked_at", TIME, nullable=False),
    )
    op.create_table(
        "outbox_cursors",
        sa.Column("account", sa.String(64), primary_key=True),
        sa.Column("acked_through", sa.Integer, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("request_hash", sa.String(128), nullable=False),
        sa.Column("batch_id", sa.String(16), sa.ForeignKey("batches.batch_id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("created_at", TIME, nullable=False),
    )


def downgrade() -> None:
    for table in ("idempotency_keys", "outbox_cursors", "outbox_acks", "outbox_counter", "outbox",
                  "leg_reports", "batch_legs", "batch_lines", "batches", "scan_rows", "scans"):
        op.drop_table(table)
