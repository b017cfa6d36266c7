"""The tradebridge plugin interface: these hook specs are the whole contract.

A plugin is a module or object with functions marked `@hookimpl` and named after a spec below.
Third-party packages announce theirs in the `tradebridge` entry-point group:

    [project.entry-points.tradebridge]
    my_strategies = "my_package.tradebridge_plugin"

    # my_package/tradebridge_plugin.py
    from plugins.spec import hookimpl

    @hookimpl
    def tradebridge_register_strategies(registry):
        registry.register("mean_reversion", build_mean_reversion_rules,
                          description="buy 2-sigma dips, exit at the mean")

Every hook is registration-style and runs once, when the plugin host is built; nothing here is
called per event. Adding a parameter to a spec is a compatible change; renaming or removing one
breaks plugins. A plugin implementing a hook name that is not below is rejected, naming the hook.
"""

from __future__ import annotations

import pluggy

from plugins.registry import Registrar

__all__ = ["PROJECT", "hookimpl", "hookspec"]

PROJECT = "tradebridge"
"""The pluggy project name, hook prefix and entry-point group."""

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def tradebridge_register_strategies(registry: Registrar) -> None:
    """Register strategy factories: `registry.register(name, factory, description=...)`.

    A strategy factory takes keyword settings (symbol, quantity, thresholds, ...) and returns the
    list of `core.rules.Rule` that make up the strategy, ready for `RuleEngine.register_rule`.
    Strategies return rules, and rules return intentions: a strategy never holds a broker.
    """


@hookspec
def tradebridge_register_rule_templates(registry: Registrar) -> None:
    """Register rule templates: `registry.register(name, factory, description=...)`.

    A rule template is a function returning one `core.rules.Rule` from keyword settings, like the
    built-in `create_buy_rule(symbol=..., quantity=..., confidence_threshold=...)`.
    """


@hookspec
def tradebridge_register_sizers(registry: Registrar) -> None:
    """Register position sizers: `registry.register(name, factory, description=...)`.

    A sizer factory takes its settings and returns an object with `size(row, equity) -> Decimal`
    (the `core.sizing.Sizer` protocol): whole shares, never negative. The plan clamps every size
    to the risk limits afterwards, so a sizer need not.
    """


@hookspec
def tradebridge_register_signal_sources(registry: Registrar) -> None:
    """Register signal sources: `registry.register(name, factory, description=...)`.

    A signal source factory takes its settings (URL, key, file, ...) and returns an object that
    produces `core.events.PredictionSignalEvent`s for the executor to publish on its event bus.
    """
