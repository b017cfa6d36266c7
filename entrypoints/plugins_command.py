"""`tradebridge plugins list`: which plugins are loaded, from where, what each registered, and
which installed plugins failed to load (exit status 1 if any did)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any, TextIO

from plugins.manager import PluginError, PluginHost, build_plugin_manager

__all__ = ["list_plugins", "register"]


def register(subparsers: Any, *, build: Callable[[], PluginHost] = build_plugin_manager) -> None:
    """Add `plugins list` to an argparse subparsers object (`parser.add_subparsers()`)."""
    plugins = subparsers.add_parser("plugins", help="show the installed tradebridge plugins")
    actions = plugins.add_subparsers(dest="plugins_action", metavar="ACTION")
    listing = actions.add_parser(
        "list", help="list loaded plugins, what each registered, and plugins that failed to load"
    )
    listing.set_defaults(handler=lambda args: _list(build))
    plugins.set_defaults(handler=lambda args: _usage(plugins))


def _list(build: Callable[[], PluginHost]) -> int:
    try:
        host = build()
    except PluginError as exc:  # a built-in plugin is broken: say which, not a traceback
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return list_plugins(host)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def list_plugins(host: PluginHost, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Print the plugins of `host`; return 1 if an installed plugin failed to load, else 0."""
    out = out or sys.stdout
    err = err or sys.stderr
    for info in host.plugins():
        print(f"{info.name}  [{info.source}]", file=out)
        if not info.registered:
            print("    (registers nothing)", file=out)
        for kind, names in sorted(info.registered.items()):
            print(f"    {kind}: {', '.join(names)}", file=out)
    for failure in host.failures:
        print(f"FAILED {failure.name}  [{failure.source}]: {failure.error}", file=err)
    if host.failures:
        print(
            f"{len(host.failures)} plugin(s) failed to load; fix or uninstall them "
            "(the others are loaded)",
            file=err,
        )
        return 1
    return 0
