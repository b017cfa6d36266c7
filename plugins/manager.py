"""Building the plugin host: built-in plugins, plugins given in code, then installed plugins.

`build_plugin_manager()` is the only way in; there is no module-level manager and importing this
module does nothing. The returned `PluginHost` is a typed facade: callers read its registries
(`host.sizers.create("atr_risk", risk_pct=...)`) and never call pluggy hooks themselves. Hooks
run once per plugin, here; nothing goes through pluggy per event.

Built-in plugins and plugins passed in code are trusted: a problem with one raises PluginError.
An installed plugin (entry point) that cannot be imported, implements an unknown hook, fails in a
hook or clashes with a registered name is left out, reported in `host.failures` and logged, and
the others still load.
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import pluggy

from core.rules import Rule
from core.sizing import Sizer
from plugins import spec
from plugins.builtin import builtin_plugins
from plugins.registry import Registrar, Registration, Registries, Registry

__all__ = [
    "EntryPointLike",
    "PluginError",
    "PluginFailure",
    "PluginHost",
    "PluginInfo",
    "build_plugin_manager",
]

logger = logging.getLogger(__name__)

BUILTIN_SOURCE = "tradebridge (built-in)"

# hook name -> attribute of Registries it fills
_HOOKS: tuple[tuple[str, str], ...] = (
    ("tradebridge_register_strategies", "strategies"),
    ("tradebridge_register_rule_templates", "rule_templates"),
    ("tradebridge_register_sizers", "sizers"),
    ("tradebridge_register_signal_sources", "signal_sources"),
)


class PluginError(Exception):
    """A built-in plugin or a plugin passed in code is broken; the message says which and why."""


class EntryPointLike(Protocol):
    """What `build_plugin_manager` needs of an entry point (importlib.metadata.EntryPoint fits)."""

    @property
    def name(self) -> str: ...

    @property
    def value(self) -> str: ...

    def load(self) -> Any: ...


@dataclass(frozen=True, slots=True)
class PluginInfo:
    """A loaded plugin: its name, where it comes from, and what it registered (kind -> names)."""

    name: str
    source: str
    registered: Mapping[str, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class PluginFailure:
    """An installed plugin that was left out, and why."""

    name: str
    source: str
    error: str


class PluginHost:
    """The loaded plugins and what they registered. Built by `build_plugin_manager`."""

    def __init__(self, manager: pluggy.PluginManager) -> None:
        self._pm = manager
        self._registries = Registries()
        self._plugins: list[PluginInfo] = []
        self._failures: list[PluginFailure] = []

    @property
    def strategies(self) -> Registry[Sequence[Rule]]:
        """Strategy factories: settings -> list of Rules."""
        return self._registries.strategies

    @property
    def rule_templates(self) -> Registry[Rule]:
        """Rule templates: settings -> one Rule."""
        return self._registries.rule_templates

    @property
    def sizers(self) -> Registry[Sizer]:
        """Sizer factories: settings -> an object with size(row, equity)."""
        return self._registries.sizers

    @property
    def signal_sources(self) -> Registry[object]:
        """Signal source factories: settings -> a source of PredictionSignalEvents."""
        return self._registries.signal_sources

    @property
    def failures(self) -> tuple[PluginFailure, ...]:
        """Installed plugins that were left out, with the reason."""
        return tuple(self._failures)

    def plugins(self) -> tuple[PluginInfo, ...]:
        """Every loaded plugin, in load order (built-in first)."""
        return tuple(self._plugins)

    def add_plugin(self, name: str, source: str, plugin: object, *, trusted: bool) -> bool:
        """Register `plugin`, run its registration hooks and commit what it registered.
        Returns whether it was accepted (a trusted plugin that fails raises PluginError)."""
        pm = self._pm
        try:
            pm.register(plugin, name=name)
        except (ValueError, pluggy.PluginValidationError) as exc:
            return self._reject(name, source, f"cannot be registered: {exc}", trusted, exc)
        unknown = _unknown_hooks(pm, plugin)
        if unknown:
            pm.unregister(plugin)
            known = ", ".join(hook for hook, _ in _HOOKS)
            return self._reject(
                name, source,
                f"implements unknown hook(s) {', '.join(unknown)}; the hooks are: {known} "
                "(fix the name, or upgrade tradebridge if the hook is newer)",
                trusted,
            )
        staged: list[Registration] = []
        try:
            others = [p for p in pm.get_plugins() if p is not plugin]
            for hook, attribute in _HOOKS:
                caller = pm.subset_hook_caller(hook, remove_plugins=others)
                caller(registry=Registrar(getattr(self._registries, attribute), name, staged))
        except Exception as exc:
            pm.unregister(plugin)
            return self._reject(name, source, f"failed while registering: {type(exc).__name__}: {exc}",
                                trusted, exc)
        registered: dict[str, list[str]] = {}
        for registration in staged:
            registry = next(r for r in self._registries.all() if r.kind == registration.kind)
            registry.add(registration)
            registered.setdefault(registration.kind, []).append(registration.name)
        self._plugins.append(PluginInfo(name, source, {k: tuple(v) for k, v in registered.items()}))
        return True

    def load_entry_point(self, entry_point: EntryPointLike) -> bool:
        """Import one installed plugin and add it; a failure is reported, never raised."""
        source = _source_of_entry_point(entry_point)
        try:
            plugin = entry_point.load()
        except Exception as exc:
            return self._reject(
                entry_point.name, source,
                f"could not be imported from {entry_point.value!r}: {type(exc).__name__}: {exc}",
                trusted=False, exc=exc,
            )
        return self.add_plugin(entry_point.name, source, plugin, trusted=False)

    def check_pending(self) -> None:
        """Ask pluggy to reject any hook implementation without a spec (none should be left)."""
        try:
            self._pm.check_pending()
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"plugin {self._pm.get_name(exc.plugin)!r}: {exc}") from exc

    def _reject(
        self, name: str, source: str, reason: str, trusted: bool, exc: Exception | None = None
    ) -> bool:
        message = f"plugin {name!r} ({source}) {reason}"
        if trusted:
            raise PluginError(message) from exc
        self._failures.append(PluginFailure(name, source, reason))
        logger.error("%s; it was not loaded, the other plugins were", message)
        return False


def build_plugin_manager(
    *,
    load_entry_points: bool = True,
    extra_plugins: Iterable[object] = (),
    entry_points: Iterable[EntryPointLike] | None = None,
) -> PluginHost:
    """Build the plugin host: the built-in plugins, then `extra_plugins` (objects or modules with
    `@hookimpl` functions), then, if `load_entry_points`, the installed `tradebridge` entry
    points one by one (`entry_points` replaces the installed ones, e.g. in tests)."""
    pm = pluggy.PluginManager(spec.PROJECT)
    pm.add_hookspecs(spec)
    host = PluginHost(pm)
    for name, module in builtin_plugins():
        host.add_plugin(name, BUILTIN_SOURCE, module, trusted=True)
    for plugin in extra_plugins:
        host.add_plugin(_name_of(plugin), _source_of(plugin), plugin, trusted=True)
    if load_entry_points:
        if entry_points is None:
            entry_points = importlib.metadata.entry_points(group=spec.PROJECT)
        for entry_point in entry_points:
            host.load_entry_point(entry_point)
    host.check_pending()
    return host


def _unknown_hooks(pm: pluggy.PluginManager, plugin: object) -> list[str]:
    return sorted(
        caller.name
        for caller in pm.get_hookcallers(plugin) or ()
        if not caller.has_spec()
        and any(impl.plugin is plugin and not impl.optionalhook for impl in caller.get_hookimpls())
    )


def _name_of(plugin: object) -> str:
    name = getattr(plugin, "__name__", None)
    return name if isinstance(name, str) else type(plugin).__qualname__


def _source_of(plugin: object) -> str:
    module = getattr(plugin, "__module__", None) or getattr(plugin, "__name__", None)
    return f"passed in code ({module})" if module else "passed in code"


def _source_of_entry_point(entry_point: EntryPointLike) -> str:
    dist = getattr(entry_point, "dist", None)
    name = getattr(dist, "name", None)
    if name:
        version = getattr(dist, "version", None)
        return f"{name} {version}" if version else str(name)
    return f"entry point {entry_point.value}"
