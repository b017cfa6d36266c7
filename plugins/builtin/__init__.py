"""The plugins tradebridge ships: its own features, registered exactly as a third-party plugin
registers through the `tradebridge` entry-point group.

`BUILTIN_PLUGIN_MODULES` lists them in registration order (they come before any installed plugin,
so a third-party plugin reusing a built-in name is the one reported). A new built-in plugin is a
module with `@hookimpl` functions, added to this tuple; the rule templates and the strategy
builder go in `plugins.builtin.templates`.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["BUILTIN_PLUGIN_MODULES", "builtin_plugins"]

BUILTIN_PLUGIN_MODULES: tuple[str, ...] = ("plugins.builtin.sizers", "plugins.builtin.templates")


def builtin_plugins() -> list[tuple[str, ModuleType]]:
    """(plugin name, module) for each built-in plugin, imported now (not at package import)."""
    return [(name.removeprefix("plugins."), importlib.import_module(name)) for name in BUILTIN_PLUGIN_MODULES]
