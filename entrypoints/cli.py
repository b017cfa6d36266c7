"""The `tradebridge` command line. Each subcommand lives in its own module and is added here."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

from entrypoints import demo_command, executor_command, plugins_command, scans_command, serve_command


def _version() -> str:
    try:
        return version("tradebridge")
    except PackageNotFoundError:  # running from a source tree that was not installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tradebridge",
        description="Stock scans to bracket orders at Interactive Brokers, safely.",
    )
    parser.add_argument("--version", action="version", version=f"tradebridge {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve_command.register(subparsers)
    executor_command.register(subparsers)
    demo_command.register(subparsers)
    scans_command.register(subparsers)
    plugins_command.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    result: int = handler(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
