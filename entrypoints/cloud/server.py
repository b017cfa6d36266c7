"""uvicorn, configured for this service: no per-message compression (it doubles the latency of a
batch push), frames capped at the wire limit, optional TLS."""

from __future__ import annotations

from typing import Any

import uvicorn

from adapters.wire.messages import MAX_FRAME_BYTES


def uvicorn_config(
    app: Any,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
    log_level: str = "info",
    access_log: bool = True,
) -> uvicorn.Config:
    """The server configuration for `app`; port 0 picks a free port."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        ws_per_message_deflate=False,
        ws_max_size=MAX_FRAME_BYTES,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
        log_level=log_level,
        access_log=access_log,
        lifespan="on",
        log_config=None,
    )
