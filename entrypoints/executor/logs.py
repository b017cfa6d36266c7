"""The executor's logs: a readable console, and `local_trading_client_YYYYMMDD.log` in the log dir
(the file name the first seed's users look for)."""

from __future__ import annotations

import logging
import sys
from datetime import datetime
from pathlib import Path

CONSOLE_FORMAT = "%(asctime)s %(levelname)-7s %(message)s"
FILE_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def log_file_path(log_dir: Path, today: datetime | None = None) -> Path:
    """`<log_dir>/local_trading_client_YYYYMMDD.log` for today (local time)."""
    day = (today or datetime.now()).strftime("%Y%m%d")
    return log_dir / f"local_trading_client_{day}.log"


def configure_logging(log_dir: Path, level: str = "info") -> Path:
    """Console (time, level, message) plus the daily file; returns the file's path."""
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_file_path(log_dir)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    console = logging.StreamHandler(sys.stdout)
    console.setFormatter(logging.Formatter(CONSOLE_FORMAT, datefmt="%H:%M:%S"))
    file = logging.FileHandler(path, encoding="utf-8")
    file.setFormatter(logging.Formatter(FILE_FORMAT))
    root.addHandler(console)
    root.addHandler(file)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    for noisy in ("websockets", "httpx", "httpcore", "ib_async", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return path
