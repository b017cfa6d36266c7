"""Run the fake TWS as a process: `python -m tests.fake_tws --port 0 --control-port 0`.

Prints one JSON line with the bound ports, e.g. `{"port": 4002, "control_port": 4003}`, then serves
until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys

from tests.fake_tws.fake import DEFAULT_ACCOUNT, FakeTWS


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m tests.fake_tws", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="API port; 0 picks a free one")
    parser.add_argument("--control-port", type=int, default=None, help="JSON-lines control port; 0 picks")
    parser.add_argument("--account", action="append", help=f"managed account (default {DEFAULT_ACCOUNT})")
    parser.add_argument(
        "--price", action="append", default=[], metavar="SYMBOL=PRICE", help="initial last price"
    )
    parser.add_argument(
        "--unknown-symbols-error", action="store_true", help="answer error 200 for unregistered symbols"
    )
    parser.add_argument("--log-level", default="WARNING", help="logging level (default WARNING)")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    """Start the fake (and its control socket), announce the ports, wait for a stop signal."""
    prices = dict(item.split("=", 1) for item in args.price)
    fake = FakeTWS(accounts=args.account, prices=prices, unknown_symbols_error=args.unknown_symbols_error)
    ports: dict[str, int | None] = {"port": await fake.start(args.host, args.port), "control_port": None}
    if args.control_port is not None:
        ports["control_port"] = await fake.start_control("127.0.0.1", args.control_port)
    print(json.dumps(ports), flush=True)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await stopping.wait()
    await fake.stop()


def main(argv: list[str] | None = None) -> None:
    """Entry point."""
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr)
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
