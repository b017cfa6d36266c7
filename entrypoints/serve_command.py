"""`tradebridge serve`: the cloud service under uvicorn."""

from __future__ import annotations

import argparse
import gc
from decimal import Decimal
from pathlib import Path
from typing import Any

SERVER_GC_YOUNG_THRESHOLD = 10_000  # allocations between young collections (Python's default: 700)


def register(subparsers: Any) -> None:
    """Add the `serve` subcommand."""
    parser = subparsers.add_parser(
        "serve",
        help="run the cloud service (HTTP API + /listen_events WebSocket)",
        description="Run the cloud service. Tokens: TRADEBRIDGE_API_TOKENS (comma-separated), or one "
        "generated on first start into the data dir. TRADEBRIDGE_REDIS_URL turns on "
        "fan-out between several instances.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="where the database, order files and token live (default ./data)",
    )
    parser.add_argument(
        "--database",
        default=None,
        help="sqlite:///file.db (default: in the data dir) or postgresql://user@host/db; "
        "or TRADEBRIDGE_DATABASE_URL",
    )
    parser.add_argument("--redis-url", default=None, help="redis://host:6379/0; or TRADEBRIDGE_REDIS_URL")
    parser.add_argument("--ssl-certfile", default=None, help="TLS certificate (PEM) to serve https/wss")
    parser.add_argument("--ssl-keyfile", default=None, help="TLS private key (PEM)")
    parser.add_argument(
        "--investment-per-position",
        type=Decimal,
        default=None,
        help="dollars per order when sizing a preview (default 10000)",
    )
    parser.add_argument(
        "--account-equity", type=Decimal, default=None, help="account equity (default 100000)"
    )
    parser.add_argument(
        "--batch-expiry-hours",
        type=Decimal,
        default=None,
        help="hours an approved batch may still be placed (default 24)",
    )
    parser.add_argument("--log-level", default="info", help="debug, info, warning, error")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Build the app from the arguments and the environment and serve it until interrupted."""
    import uvicorn

    from entrypoints.cloud.app import create_app
    from entrypoints.cloud.logs import configure_logging
    from entrypoints.cloud.server import uvicorn_config
    from entrypoints.cloud.settings import CloudSettings

    configure_logging(args.log_level)
    try:
        settings = CloudSettings.from_env(
            data_dir=args.data_dir,
            database_url=args.database,
            redis_url=args.redis_url,
            investment_per_position=args.investment_per_position,
            account_equity=args.account_equity,
            batch_expiry_hours=args.batch_expiry_hours,
        )
    except ValueError as error:
        print(f"tradebridge serve: {error}")
        return 2
    app = create_app(settings)
    # A placement allocates tens of thousands of short-lived objects (frames, reports, rows): with
    # the default threshold (700) the collector's youngest generation ran about once a placement,
    # each pass walking the objects of the requests under way (~90 us), and the next generation
    # every tenth. Nearly all of them die by reference count alone; cycles are still collected.
    gc.set_threshold(SERVER_GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    config = uvicorn_config(
        app,
        args.host,
        args.port,
        ssl_certfile=args.ssl_certfile,
        ssl_keyfile=args.ssl_keyfile,
        log_level=args.log_level,
    )
    uvicorn.Server(config).run()
    return 0
