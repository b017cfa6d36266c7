"""`tradebridge executor` (also installed as `local_trading_client`): the local executor, and its
kill switch `tradebridge executor halt` / `tradebridge executor resume-trading`.

    tradebridge executor --api-url ws://127.0.0.1:8000/listen_events --download-dir orders --simulate

Environment: TRADEBRIDGE_TOKEN (instead of --token); TWS_HOST, TWS_PORT, TWS_CLIENT_ID, TWS_ACCOUNT
for IBKR; TRADEBRIDGE_MAX_ORDER_QUANTITY etc. for the local limits (see entrypoints/executor/limits.py).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

DEFAULT_API_URL = "ws://127.0.0.1:8000/listen_events"
DEFAULT_DOWNLOAD_DIR = Path("downloads")
DESCRIPTION = (
    "Run the local executor: receive approved batches from the cloud over the WebSocket, journal "
    "them, place each order as a bracket at IBKR (or the simulated broker with --simulate), and "
    "report every status back. Token: --token or TRADEBRIDGE_TOKEN. IBKR: TWS_HOST (127.0.0.1), "
    "TWS_PORT (7497), TWS_CLIENT_ID (1), TWS_ACCOUNT."
)


def register(subparsers: Any) -> None:
    """Add the `executor` subcommand (with `halt` and `resume-trading`)."""
    parser = subparsers.add_parser(
        "executor", help="run the local executor (alias: local_trading_client)", description=DESCRIPTION
    )
    _configure(parser)


def build_parser(prog: str = "local_trading_client") -> argparse.ArgumentParser:
    """The standalone parser of `local_trading_client` (the same options as `tradebridge executor`)."""
    parser = argparse.ArgumentParser(prog=prog, description=DESCRIPTION)
    _configure(parser)
    return parser


def local_trading_client_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `local_trading_client` console script."""
    args = build_parser().parse_args(argv)
    result: int = args.executor_handler(args)
    return result


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--api-url",
        default=DEFAULT_API_URL,
        help=f"the cloud's WebSocket URL, ws:// or wss:// (default {DEFAULT_API_URL})",
    )
    _journal_options(parser, None)
    parser.add_argument(
        "--simulate", action="store_true", help="use the simulated broker instead of TWS (no real orders)"
    )
    parser.add_argument("--token", default=None, help="API token (default: TRADEBRIDGE_TOKEN)")
    parser.add_argument(
        "--log-dir",
        type=Path,
        default=None,
        help="where local_trading_client_YYYYMMDD.log goes (default: working directory)",
    )
    parser.add_argument(
        "--account",
        default=None,
        help="account to resume as (default: TWS_ACCOUNT / the broker's account; SIM0001 when simulating)",
    )
    parser.add_argument(
        "--limits",
        type=Path,
        default=None,
        help="TOML file of local risk limits (TRADEBRIDGE_MAX_ORDER_QUANTITY etc. override it)",
    )
    parser.add_argument(
        "--ca-file",
        type=Path,
        default=None,
        help="PEM file of the CA that signed the cloud's certificate (wss:// with a private CA)",
    )
    parser.add_argument("--log-level", default="info", help="debug, info, warning, error (default info)")
    simulation = parser.add_argument_group("simulation (--simulate)")
    simulation.add_argument(
        "--sim-state",
        type=Path,
        default=None,
        help="file keeping the simulated broker's state across restarts (default: next to the journal)",
    )
    simulation.add_argument(
        "--sim-seed", type=int, default=7, help="seed of the simulated market (default 7)"
    )
    simulation.add_argument(
        "--sim-tick", type=float, default=1.0, help="seconds between simulated price moves (default 1.0)"
    )
    simulation.add_argument(
        "--sim-step",
        type=Decimal,
        default=Decimal("0.002"),
        help="largest price move per tick, as a fraction of the price (default 0.002; 0 keeps prices still)",
    )
    parser.set_defaults(executor_handler=run, handler=lambda args: args.executor_handler(args))
    actions = parser.add_subparsers(dest="executor_action", metavar="ACTION")
    halt = actions.add_parser(
        "halt",
        help="kill switch: stop new entries, cancel working entries, keep stops (persists across restarts)",
    )
    _journal_options(halt, argparse.SUPPRESS)
    halt.add_argument("--reason", default="tradebridge executor halt", help="why (kept in the journal)")
    halt.set_defaults(executor_handler=lambda args: set_trading_state(args, "HALTED"))
    resume = actions.add_parser("resume-trading", help="lift the kill switch and place what waited")
    _journal_options(resume, argparse.SUPPRESS)
    resume.add_argument(
        "--reason", default="tradebridge executor resume-trading", help="why (kept in the journal)"
    )
    resume.set_defaults(executor_handler=lambda args: set_trading_state(args, "ACTIVE"))


def _journal_options(parser: argparse.ArgumentParser, default: Any) -> None:
    # Sub-actions use SUPPRESS so that options given before the action are not overwritten.
    parser.add_argument(
        "--download-dir",
        type=Path,
        default=default,
        help=f"where order files (and by default the journal) go (default ./{DEFAULT_DOWNLOAD_DIR})",
    )
    parser.add_argument(
        "--journal",
        type=Path,
        default=default,
        help="the executor's SQLite journal (default: executor_journal.sqlite3 in the download dir)",
    )


def _paths(args: argparse.Namespace) -> tuple[Path, Path]:
    from entrypoints.executor.options import default_journal

    download_dir = getattr(args, "download_dir", None) or DEFAULT_DOWNLOAD_DIR
    journal = getattr(args, "journal", None) or default_journal(download_dir)
    return download_dir, journal


def set_trading_state(args: argparse.Namespace, state: str) -> int:
    """`halt` / `resume-trading`: persist the trading state in the journal; a running executor
    acts on it within a second."""
    from adapters.journal import SqliteJournal
    from core.journal import TradingStateRecord
    from core.values import TradingState

    _, journal_path = _paths(args)
    if not journal_path.exists():
        print(
            f"tradebridge executor: there is no journal at {journal_path}; pass the same --journal (or "
            "--download-dir) as the executor uses",
            file=sys.stderr,
        )
        return 2
    journal = SqliteJournal(journal_path)
    try:
        journal.set_trading_state(TradingStateRecord(TradingState(state), args.reason, datetime.now(UTC)))
    finally:
        journal.close()
    if state == "HALTED":
        print(
            f"trading HALTED in {journal_path}: a running executor cancels its working entries within a "
            "second (stops stay); nothing new is placed, also after restarts, until "
            "`tradebridge executor resume-trading`"
        )
    else:
        print(f"trading ACTIVE again in {journal_path}: a running executor places what waited")
    return 0


def run(args: argparse.Namespace) -> int:
    """Run the executor until interrupted."""
    from entrypoints.executor.limits import LimitsError, load_limits
    from entrypoints.executor.logs import configure_logging
    from entrypoints.executor.options import EXIT_TOKEN_REFUSED, ExecutorOptions
    from entrypoints.executor.runner import ExecutorRun, IbkrUnavailable

    token = args.token or os.environ.get("TRADEBRIDGE_TOKEN", "")
    if not token:
        print(
            "tradebridge executor: no API token; pass --token T or set TRADEBRIDGE_TOKEN (the cloud "
            "printed one on its first start, or see its TRADEBRIDGE_API_TOKENS)",
            file=sys.stderr,
        )
        return EXIT_TOKEN_REFUSED
    if not str(args.api_url).startswith(("ws://", "wss://")):
        print(
            f"tradebridge executor: --api-url {args.api_url!r} must start with ws:// or wss://, e.g. "
            f"{DEFAULT_API_URL}",
            file=sys.stderr,
        )
        return 2
    try:
        limits = load_limits(args.limits)
        step = Decimal(args.sim_step)
    except (LimitsError, InvalidOperation) as error:
        print(f"tradebridge executor: {error}", file=sys.stderr)
        return 2
    download_dir, journal = _paths(args)
    log_dir = args.log_dir or Path.cwd()
    log_file = configure_logging(log_dir, args.log_level)
    options = ExecutorOptions(
        api_url=args.api_url,
        token=token,
        download_dir=download_dir,
        journal=journal,
        log_dir=log_dir,
        simulate=args.simulate,
        sim_state=args.sim_state,
        account=args.account,
        limits=limits,
        ca_file=args.ca_file,
        sim_seed=args.sim_seed,
        sim_tick_seconds=args.sim_tick,
        sim_step_pct=step,
    )
    print(f"log file: {log_file}", flush=True)

    async def main() -> int:
        return await ExecutorRun(options).run()

    try:
        status = asyncio.run(main())
    except IbkrUnavailable as error:
        print(f"tradebridge executor: {error}", file=sys.stderr)
        return 2
    except ValueError as error:  # a setting the user can fix (TWS_PORT, --ca-file, ...)
        print(f"tradebridge executor: {error}", file=sys.stderr)
        return 2
    if status == EXIT_TOKEN_REFUSED:
        print(
            "tradebridge executor: the cloud refused the API token; check --token or TRADEBRIDGE_TOKEN "
            "(it must be one of the cloud's TRADEBRIDGE_API_TOKENS). Not retrying.",
            file=sys.stderr,
        )
    return status
