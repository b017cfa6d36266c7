"""Typed registries of what plugins provide: name -> factory, with who registered it.

A hook receives a `Registrar`, which registers on behalf of one plugin into one registry. What a
plugin registers is staged and only committed once all of that plugin's hooks have run, so a
plugin that fails half-way leaves nothing behind. A name registered twice is an error that
names both plugins.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from core.rules import Rule
from core.sizing import Sizer

__all__ = [
    "DuplicateRegistration",
    "Registrar",
    "Registration",
    "Registries",
    "Registry",
    "UnknownName",
]

T = TypeVar("T")


class DuplicateRegistration(ValueError):
    """Two plugins (or one plugin twice) registered the same name in one registry."""


class UnknownName(KeyError):
    """No factory of that name is registered; the message lists the names that are."""

    def __str__(self) -> str:  # KeyError would show the message in quotes
        return str(self.args[0])


@dataclass(frozen=True, slots=True)
class Registration:
    """One registered factory: its registry kind, name, the plugin that registered it."""

    kind: str
    name: str
    factory: Callable[..., Any]
    plugin: str
    description: str = ""


class Registry(Generic[T]):
    """Factories of one kind by name. `create(name, **settings)` builds one."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Registration] = {}

    def add(self, registration: Registration) -> None:
        """Commit one registration; a taken name raises DuplicateRegistration naming both plugins."""
        existing = self._entries.get(registration.name)
        if existing is not None:
            raise _duplicate(self.kind, registration.name, existing.plugin, registration.plugin)
        self._entries[registration.name] = registration

    def get(self, name: str) -> Callable[..., T]:
        """The factory registered as `name`."""
        return self.entry(name).factory

    def create(self, name: str, /, *args: Any, **settings: Any) -> T:
        """Build the `name` thing with the given settings."""
        product: T = self.get(name)(*args, **settings)
        return product

    def entry(self, name: str) -> Registration:
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "none"
            raise UnknownName(
                f"no {self.kind} named {name!r} is registered (registered: {known}); "
                "is the plugin that provides it installed? `tradebridge plugins list` shows them"
            ) from None

    def owner(self, name: str) -> str:
        """The plugin that registered `name`."""
        return self.entry(name).plugin

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._entries))

    def entries(self) -> tuple[Registration, ...]:
        return tuple(self._entries[name] for name in sorted(self._entries))

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)


def _duplicate(kind: str, name: str, first: str, second: str) -> DuplicateRegistration:
    if first == second:
        return DuplicateRegistration(f"plugin {first!r} registers the {kind} {name!r} twice")
    return DuplicateRegistration(
        f"the {kind} {name!r} is registered by both plugin {first!r} and plugin {second!r}; "
        "uninstall one of them or have one use another name"
    )


@dataclass(slots=True)
class Registries:
    """The four registries a plugin host fills, one per hook."""

    strategies: Registry[Sequence[Rule]] = field(default_factory=lambda: Registry("strategy"))
    rule_templates: Registry[Rule] = field(default_factory=lambda: Registry("rule template"))
    sizers: Registry[Sizer] = field(default_factory=lambda: Registry("sizer"))
    signal_sources: Registry[object] = field(default_factory=lambda: Registry("signal source"))

    def all(self) -> tuple[Registry[Any], ...]:
        return (self.strategies, self.rule_templates, self.sizers, self.signal_sources)


class Registrar:
    """What a registration hook receives: `register(name, factory, description=...)` into one
    registry, on behalf of one plugin. Registrations are staged until the plugin is accepted."""

    def __init__(self, registry: Registry[Any], plugin: str, staged: list[Registration]) -> None:
        self._registry = registry
        self._plugin = plugin
        self._staged = staged

    @property
    def kind(self) -> str:
        """What this registry holds: "strategy", "rule template", "sizer" or "signal source"."""
        return self._registry.kind

    @property
    def plugin(self) -> str:
        """The plugin registering through this registrar."""
        return self._plugin

    def register(self, name: str, factory: Callable[..., Any], *, description: str = "") -> None:
        """Offer `factory` under `name`. Raises DuplicateRegistration if the name is taken."""
        kind = self._registry.kind
        if not isinstance(name, str) or not name.strip() or name != name.strip():
            raise ValueError(f"plugin {self._plugin!r}: a {kind} name must be a non-empty string "
                             f"without surrounding spaces, got {name!r}")
        if not callable(factory):
            raise TypeError(f"plugin {self._plugin!r}: the {kind} {name!r} must be a callable factory, "
                            f"got {factory!r}")
        if name in self._registry:
            raise _duplicate(kind, name, self._registry.owner(name), self._plugin)
        for staged in self._staged:
            if staged.kind == kind and staged.name == name:
                raise _duplicate(kind, name, staged.plugin, self._plugin)
        self._staged.append(Registration(kind, name, factory, self._plugin, description))
