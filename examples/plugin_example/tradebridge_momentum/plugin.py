"""The plugin module named by the `tradebridge` entry point: it registers the strategy."""

from plugins.registry import Registrar
from plugins.spec import hookimpl
from tradebridge_momentum.strategy import create_momentum_strategy


@hookimpl
def tradebridge_register_strategies(registry: Registrar) -> None:
    registry.register(
        "momentum", create_momentum_strategy,
        description="buy a breakout above the recent high with a bracket; close on a SELL signal",
    )
