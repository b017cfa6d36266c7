"""Structured logs: one line per record, its message followed by its `extra` fields as JSON."""

from __future__ import annotations

import json
import logging

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName", "color_message"}


class StructuredFormatter(logging.Formatter):
    """`2026-01-02T14:30:00 INFO logger: batch placed {"batch_id": "...", "orders": 20}`."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extra = {key: value for key, value in vars(record).items() if key not in _STANDARD}
        return f"{line} {json.dumps(extra, default=str, sort_keys=True)}" if extra else line


def configure_logging(level: str = "INFO") -> None:
    """Send every logger's records to stderr in the structured format."""
    handler = logging.StreamHandler()
    handler.setFormatter(StructuredFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
