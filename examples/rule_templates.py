"""The seed's "Reusable Rule Templates (Simplified)", on tradebridge.

The seed's code, with tradebridge's imports; "... initialize components ..." is written out with
the simulated broker standing in for TWS. After `start()` the example plays a short market on
four symbols, so the templates fire: entries as brackets (stop and target linked to the symbol),
a second entry on the same side refused, a scale-in once AAPL is in profit, a target hit, and a
SELL signal that closes everything left on a symbol.

    python examples/rule_templates.py
"""

import asyncio

from _simulation import narrate, price, signal, simulated_broker

from core.bus import EventBus
from core.rules import RuleEngine
from core.services import OrderManager, PositionTracker
from plugins.builtin.templates import StrategyBuilder, create_buy_rule, create_scale_in_rule


async def main():
    # ... initialize components ...
    broker = simulated_broker()
    event_bus = EventBus()
    order_manager = OrderManager(event_bus, broker)
    position_tracker = PositionTracker(event_bus)
    rule_engine = RuleEngine(event_bus)
    await broker.connect()
    await order_manager.initialize()
    await position_tracker.initialize()
    rule_engine.update_context({"order_manager": order_manager, "account": {"equity": 100000}, "prices": {}})

    # Method 1: Individual rule templates
    aapl_buy = create_buy_rule(
        symbol="AAPL",
        quantity=100,
        confidence_threshold=0.85,
        stop_loss_pct=0.03,
        take_profit_pct=0.08
    )
    aapl_scale = create_scale_in_rule("AAPL", scale_quantity=50)

    # Register individual rules
    rule_engine.register_rule(aapl_buy)
    rule_engine.register_rule(aapl_scale)

    # Method 2: Complete strategy builder
    tsla_strategy = StrategyBuilder.create_basic_strategy(
        symbol="TSLA",
        quantity=25,
        confidence_threshold=0.90,
        stop_loss_pct=0.04,
        take_profit_pct=0.12,
        enable_scale_in=True
    )

    # Register entire strategy (multiple rules)
    for rule in tsla_strategy:
        rule_engine.register_rule(rule)

    # Method 3: Multiple stocks with same pattern
    for symbol in ["AAPL", "MSFT", "NVDA"]:
        strategy_rules = StrategyBuilder.create_basic_strategy(
            symbol=symbol,
            quantity=50,
            confidence_threshold=0.80
        )
        for rule in strategy_rules:
            rule_engine.register_rule(rule)

    await rule_engine.start()
    print("🚀 Multi-stock trading system with automatic order linking!")
    print(f"   {len(rule_engine.rules)} rules registered")

    # A short market
    narrate(event_bus)
    for symbol, start in (("AAPL", "190.00"), ("TSLA", "250.00"), ("MSFT", "420.00"), ("NVDA", "130.00")):
        await price(event_bus, broker, symbol, start)
    await signal(event_bus, broker, "AAPL", "BUY", 0.88)   # Method 1 opens 100; Method 3's rule is refused
    await signal(event_bus, broker, "TSLA", "BUY", 0.93)   # the TSLA strategy opens 25
    await signal(event_bus, broker, "NVDA", "BUY", 0.81)   # the NVDA strategy opens 50
    await price(event_bus, broker, "AAPL", "194.75")        # AAPL 2.5 % up
    await signal(event_bus, broker, "AAPL", "BUY", 0.92)   # the scale-in adds 50
    await price(event_bus, broker, "NVDA", "140.50")        # through NVDA's 8 % target
    await signal(event_bus, broker, "TSLA", "SELL", 0.91)  # the TSLA strategy closes everything
    await price(event_bus, broker, "AAPL", "196.00")
    await asyncio.sleep(0.1)

    print("Summary:")
    for symbol, position in sorted(position_tracker.get_all_positions().items()):
        print(f"   {symbol}: {position.quantity} shares, realized P&L {position.realized_pnl:.2f}, "
              f"unrealized P&L {position_tracker.unrealized_pnl(symbol):.2f}")
    handler = order_manager.command_handler()
    print(f"   refused intentions: {len(handler.refusals)}; "
          f"working orders: {len(order_manager.working_orders())}")
    await rule_engine.stop()
    await broker.disconnect()


if __name__ == "__main__":
    asyncio.run(main())
