"""Tests of the plugin, the way a plugin author writes them: the hook registers the strategy,
the installed entry point is discovered, and the rules trade on tradebridge's simulated broker.

    pip install -e examples/plugin_example     # into the environment that has tradebridge
    python -m pytest examples/plugin_example/tests
"""

from decimal import Decimal
from importlib import metadata

import pytest
from tradebridge_momentum import plugin
from tradebridge_momentum.strategy import create_momentum_strategy

from adapters.simulated import SimulatedBroker
from core.bus import EventBus
from core.events import PredictionSignalEvent
from core.rules import RuleEngine
from core.services import OrderManager
from plugins.manager import build_plugin_manager


def test_the_hook_registers_the_strategy() -> None:
    host = build_plugin_manager(load_entry_points=False, extra_plugins=[plugin])
    assert "momentum" in host.strategies
    rules = host.strategies.create("momentum", symbol="AAPL", quantity=5)
    assert [rule.rule_id for rule in rules] == ["momentum_aapl_entry", "momentum_aapl_exit"]


def test_the_installed_entry_point_is_discovered() -> None:
    try:
        metadata.distribution("tradebridge-momentum")
    except metadata.PackageNotFoundError:
        pytest.skip("tradebridge-momentum is not installed: pip install examples/plugin_example")
    host = build_plugin_manager()
    assert host.failures == ()
    assert host.strategies.owner("momentum") == "momentum"
    assert any(info.source.startswith("tradebridge-momentum") for info in host.plugins())


async def test_the_strategy_trades_momentum_on_the_simulated_broker() -> None:
    broker = SimulatedBroker()
    bus = EventBus()
    manager = OrderManager(bus, broker)
    engine = RuleEngine(bus)
    engine.update_context({"order_manager": manager})
    engine.register_rules(create_momentum_strategy("AAPL", quantity=10, min_upside_pct=0.03))
    await broker.connect()
    await manager.initialize()
    await engine.start()
    broker.set_price("AAPL", Decimal(100))

    async def signal(side: str, target: str | None = None) -> None:
        upside = None if target is None else Decimal(target)
        await bus.publish(PredictionSignalEvent("AAPL", side, 0.9, Decimal(100), upside,
                                                timestamp=broker.clock.now()))
        await bus.drain()

    await signal("BUY", "102")  # 2 % upside: not momentum
    assert manager.net_position("AAPL") == 0
    await signal("BUY", "104")  # 4 % upside: a bracket
    assert manager.net_position("AAPL") == 10
    (bracket,) = manager.brackets("AAPL")
    assert bracket.stop_loss.request.stop_price == Decimal(98)
    await signal("SELL")
    assert manager.net_position("AAPL") == 0 and manager.working_orders() == []
