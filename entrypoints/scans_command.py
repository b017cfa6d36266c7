"""`tradebridge scans import FILE`: load a scan (.xlsx, .csv, .json) into the cloud's store."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    """Add the `scans` subcommand with its `import` action."""
    parser = subparsers.add_parser("scans", help="manage scans in the cloud store")
    actions = parser.add_subparsers(dest="scans_action", metavar="ACTION", required=True)
    importer = actions.add_parser("import", help="load a scan from .xlsx, .csv or .json and print its id")
    importer.add_argument("file", type=Path, help="the scan file")
    importer.add_argument(
        "--data-dir", type=Path, default=None, help="the service's data dir (default ./data)"
    )
    importer.add_argument(
        "--database",
        default=None,
        help="database URL (default: the SQLite file in the data dir, or TRADEBRIDGE_DATABASE_URL)",
    )
    importer.add_argument("--name", default=None, help="the scan's name (default: the file's name)")
    importer.set_defaults(handler=run_import)


def run_import(args: argparse.Namespace) -> int:
    """Read, validate and store the scan; print its id. Exit 2 with every problem otherwise."""
    return asyncio.run(_import(args))


async def _import(args: argparse.Namespace) -> int:
    from adapters.scanfiles import ScanFileError, read_scan_file
    from adapters.storage import DatabaseUrlError, SqlScanStore, create_engine_from_url, migrate
    from adapters.system import SystemClock
    from core.service_layer.cloud import InvalidScan, add_scan
    from entrypoints.cloud.settings import CloudSettings

    try:
        settings = CloudSettings.from_env(data_dir=args.data_dir, database_url=args.database)
        scan_file = read_scan_file(args.file)
    except (ScanFileError, ValueError) as error:
        print(f"tradebridge scans import: {error}", file=sys.stderr)
        return 2
    try:
        engine = create_engine_from_url(settings.database)
    except DatabaseUrlError as error:
        print(f"tradebridge scans import: {error}", file=sys.stderr)
        return 2
    try:
        await migrate(engine)
        name = args.name or scan_file.name or args.file.name
        scan_id = await add_scan(SqlScanStore(engine), SystemClock(), name, scan_file.rows)
    except InvalidScan as error:
        print(f"tradebridge scans import: {args.file}: {error}", file=sys.stderr)
        return 2
    finally:
        await engine.dispose()
    print(scan_id)
    return 0
