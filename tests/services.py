"""Skip-or-fail policy for tests that need a server on this machine (PostgreSQL, Redis).

Without the server, such tests skip with a reason that says how to start it, unless
TRADEBRIDGE_REQUIRE_SERVICES=1 (CI sets it), where they fail: CI must never pass by skipping.
"""

from __future__ import annotations

import os
import socket

import pytest

HOW_TO_START = {
    "postgresql": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    "redis": 'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no',
}


def services_required() -> bool:
    return os.environ.get("TRADEBRIDGE_REQUIRE_SERVICES", "") not in ("", "0", "false", "no")


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip (or, when services are required, fail) unless `name` listens on host:port."""
    if port_open(host, port):
        return
    reason = f"{name} is not listening on {host}:{port}; start it with: {HOW_TO_START.get(name, name)}"
    if services_required():
        pytest.fail(f"TRADEBRIDGE_REQUIRE_SERVICES=1 and {reason}")
    pytest.skip(reason)
