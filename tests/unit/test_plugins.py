"""The plugin host: built-ins, plugins in code, installed plugins that load or fail, and the
`plugins list` command."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from core.events import PriceEvent
from core.rules import CreateOrderAction, EventCondition, Rule
from core.sizing import FixedInvestmentSizer
from entrypoints.plugins_command import list_plugins, register
from plugins.manager import PluginError, PluginHost, build_plugin_manager
from plugins.registry import Registrar, UnknownName
from plugins.spec import hookimpl


def price_rule(symbol: str, quantity: int = 1) -> Rule:
    return Rule(f"{symbol}-rule", f"{symbol} rule", EventCondition(PriceEvent, {"symbol": symbol}),
                CreateOrderAction(symbol, quantity))


class StrategyPlugin:
    """An in-test plugin: a strategy, a rule template and a signal source."""

    @hookimpl
    def tradebridge_register_strategies(self, registry: Registrar) -> None:
        registry.register("one_rule", lambda symbol: [price_rule(symbol)], description="one rule")

    @hookimpl
    def tradebridge_register_rule_templates(self, registry: Registrar) -> None:
        registry.register("price_rule", price_rule)

    @hookimpl
    def tradebridge_register_signal_sources(self, registry: Registrar) -> None:
        registry.register("silence", lambda: iter(()))


@dataclass
class FakeEntryPoint:
    """What importlib.metadata.EntryPoint offers the host: name, value, dist and load()."""

    name: str
    loader: Callable[[], Any]
    value: str = "somewhere:plugin"
    dist: Any = None

    def load(self) -> Any:
        return self.loader()


def entry_point(name: str, plugin: object, dist: str | None = None) -> FakeEntryPoint:
    return FakeEntryPoint(
        name, lambda: plugin, f"{name}_pkg.plugin",
        SimpleNamespace(name=dist, version="1.2.0") if dist else None,
    )


def broken_entry_point(name: str) -> FakeEntryPoint:
    def fail() -> Any:
        raise ImportError("No module named 'numpyy'")

    return FakeEntryPoint(name, fail, "broken_pkg.plugin")


def build(*entry_points: FakeEntryPoint, extra: Sequence[object] = ()) -> PluginHost:
    return build_plugin_manager(extra_plugins=extra, entry_points=entry_points)


def test_the_built_in_sizers_are_registered_as_a_plugin() -> None:
    host = build_plugin_manager(load_entry_points=False)
    assert host.sizers.names() == ("atr_risk", "fixed_investment", "percent_of_equity")
    sizer = host.sizers.create("fixed_investment", investment=Decimal(1000))
    assert sizer == FixedInvestmentSizer(Decimal(1000))
    builtin = host.plugins()[0]
    assert builtin.name == "builtin.sizers" and "built-in" in builtin.source
    assert builtin.registered == {"sizer": ("fixed_investment", "percent_of_equity", "atr_risk")}
    assert host.failures == ()


def test_a_plugin_passed_in_code_registers_and_is_recorded() -> None:
    host = build_plugin_manager(load_entry_points=False, extra_plugins=[StrategyPlugin()])
    assert host.strategies.create("one_rule", symbol="AAPL") == [price_rule("AAPL")]
    assert host.rule_templates.create("price_rule", "MSFT", quantity=5) == price_rule("MSFT", 5)
    assert host.signal_sources.names() == ("silence",)
    assert host.strategies.owner("one_rule") == "StrategyPlugin"
    assert host.strategies.entry("one_rule").description == "one rule"
    info = host.plugins()[-1]
    assert info.name == "StrategyPlugin" and "passed in code" in info.source
    assert info.registered == {
        "strategy": ("one_rule",), "rule template": ("price_rule",), "signal source": ("silence",),
    }


def test_hosts_are_independent() -> None:
    with_plugin = build_plugin_manager(load_entry_points=False, extra_plugins=[StrategyPlugin()])
    without = build_plugin_manager(load_entry_points=False)
    assert "one_rule" in with_plugin.strategies and "one_rule" not in without.strategies


def test_an_unknown_name_lists_what_is_registered() -> None:
    host = build_plugin_manager(load_entry_points=False)
    with pytest.raises(UnknownName, match=r"no sizer named 'kelly'.*atr_risk, fixed_investment"):
        host.sizers.get("kelly")


def test_installed_plugins_load_one_by_one_and_a_broken_one_is_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="plugins.manager"):
        host = build(
            broken_entry_point("numeric_strategies"),
            entry_point("good_strategies", StrategyPlugin(), dist="good-strategies"),
        )
    (failure,) = host.failures
    assert failure.name == "numeric_strategies"
    assert "could not be imported from 'broken_pkg.plugin'" in failure.error
    assert "ImportError: No module named 'numpyy'" in failure.error
    assert "numeric_strategies" in caplog.text and "numpyy" in caplog.text
    assert "one_rule" in host.strategies
    assert [(p.name, p.source) for p in host.plugins()][-1] == ("good_strategies", "good-strategies 1.2.0")


class DuplicateSizerPlugin:
    @hookimpl
    def tradebridge_register_strategies(self, registry: Registrar) -> None:
        registry.register("harmless", lambda: [])

    @hookimpl
    def tradebridge_register_sizers(self, registry: Registrar) -> None:
        registry.register("fixed_investment", FixedInvestmentSizer)


def test_a_name_registered_twice_is_an_error_naming_both_plugins() -> None:
    with pytest.raises(PluginError, match=r"'fixed_investment' is registered by both plugin 'builtin.sizers' "
                                          r"and plugin 'DuplicateSizerPlugin'"):
        build_plugin_manager(load_entry_points=False, extra_plugins=[DuplicateSizerPlugin()])


def test_an_installed_plugin_with_a_clash_is_left_out_entirely() -> None:
    host = build(entry_point("dupes", DuplicateSizerPlugin()), entry_point("good", StrategyPlugin()))
    (failure,) = host.failures
    assert failure.name == "dupes" and "'builtin.sizers' and plugin 'dupes'" in failure.error
    # nothing half-registered: the strategy it registered before the clash is not there
    assert "harmless" not in host.strategies
    assert host.sizers.owner("fixed_investment") == "builtin.sizers"
    assert [p.name for p in host.plugins()] == ["builtin.sizers", "builtin.templates", "good"]


def test_one_plugin_registering_a_name_twice_is_reported() -> None:
    class Twice:
        @hookimpl
        def tradebridge_register_strategies(self, registry: Registrar) -> None:
            registry.register("same", lambda: [])
            registry.register("same", lambda: [])

    host = build(entry_point("twice", Twice()))
    assert "registers the strategy 'same' twice" in host.failures[0].error


class TypoPlugin:
    @hookimpl
    def tradebridge_register_strategys(self, registry: Registrar) -> None:
        registry.register("never", lambda: [])


def test_an_unknown_hook_is_rejected_naming_the_plugin_and_the_hook() -> None:
    host = build(entry_point("typo", TypoPlugin()), entry_point("good", StrategyPlugin()))
    (failure,) = host.failures
    assert failure.name == "typo"
    assert "unknown hook(s) tradebridge_register_strategys" in failure.error
    assert "tradebridge_register_strategies" in failure.error  # the names it could have meant
    assert "one_rule" in host.strategies
    with pytest.raises(PluginError, match=r"plugin 'TypoPlugin'.*tradebridge_register_strategys"):
        build_plugin_manager(load_entry_points=False, extra_plugins=[TypoPlugin()])


def test_a_hook_with_a_wrong_signature_or_that_raises_is_reported() -> None:
    class WrongArgs:
        @hookimpl
        def tradebridge_register_sizers(self, registry: Registrar, settings: object) -> None:
            pass

    class Raises:
        @hookimpl
        def tradebridge_register_sizers(self, registry: Registrar) -> None:
            raise RuntimeError("config file missing")

    host = build(entry_point("wrong_args", WrongArgs()), entry_point("raises", Raises()))
    errors = {f.name: f.error for f in host.failures}
    assert "cannot be registered" in errors["wrong_args"] and "settings" in errors["wrong_args"]
    assert "failed while registering: RuntimeError: config file missing" in errors["raises"]


def test_registrations_must_be_callables_with_plain_names() -> None:
    class BadValues:
        @hookimpl
        def tradebridge_register_sizers(self, registry: Registrar) -> None:
            registry.register(" spaced ", FixedInvestmentSizer)

    class NotCallable:
        @hookimpl
        def tradebridge_register_sizers(self, registry: Registrar) -> None:
            registry.register("number", 42)  # type: ignore[arg-type]

    host = build(entry_point("bad", BadValues()), entry_point("nc", NotCallable()))
    errors = {f.name: f.error for f in host.failures}
    assert "without surrounding spaces" in errors["bad"]
    assert "must be a callable factory" in errors["nc"]


def run_command(host: PluginHost, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tradebridge")
    register(parser.add_subparsers(dest="command"), build=lambda: host)
    args = parser.parse_args(argv)
    result: int = args.handler(args)
    return result


def test_plugins_list_shows_plugins_and_what_they_registered(capsys: pytest.CaptureFixture[str]) -> None:
    host = build(entry_point("good_strategies", StrategyPlugin(), dist="good-strategies"))
    assert run_command(host, ["plugins", "list"]) == 0
    out = capsys.readouterr().out
    assert "builtin.sizers  [tradebridge (built-in)]" in out
    assert "sizer: fixed_investment, percent_of_equity, atr_risk" in out
    assert "good_strategies  [good-strategies 1.2.0]" in out
    assert "strategy: one_rule" in out


def test_plugins_list_reports_failures_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    host = build(broken_entry_point("numeric_strategies"))
    assert run_command(host, ["plugins", "list"]) == 1
    err = capsys.readouterr().err
    assert "FAILED numeric_strategies" in err and "numpyy" in err and "1 plugin(s) failed" in err


def test_plugins_without_an_action_prints_help() -> None:
    assert run_command(build(), ["plugins"]) == 2


def test_list_plugins_writes_to_the_given_streams() -> None:
    import io

    out, err = io.StringIO(), io.StringIO()
    assert list_plugins(build(), out, err) == 0
    assert "builtin.sizers" in out.getvalue() and err.getvalue() == ""


def test_plugins_list_reports_a_broken_plugin_in_code_without_a_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def broken() -> PluginHost:
        return build_plugin_manager(load_entry_points=False, extra_plugins=[TypoPlugin()])

    parser = argparse.ArgumentParser(prog="tradebridge")
    register(parser.add_subparsers(dest="command"), build=broken)
    args = parser.parse_args(["plugins", "list"])
    assert args.handler(args) == 1
    assert "error: plugin 'TypoPlugin'" in capsys.readouterr().err
