"""The seed's "Automated Trading with Rule Engine", on tradebridge.

The seed's code, with tradebridge's imports; the simulated broker stands in for TWS (see
examples/_simulation.py to use TWS instead). Where the seed waits forever for prediction signals,
this example plays a short market: prices, a weak BUY signal (ignored) and a strong one (the rule
places its order), then stops.

    python examples/automated_trading.py
"""

import asyncio

from _simulation import narrate, price, signal, simulated_broker

from core.bus import EventBus
from core.events import PredictionSignalEvent
from core.orders import OrderType
from core.rules import CreateOrderAction, EventCondition, Rule, RuleEngine
from core.services import OrderManager


async def main():
    # Initialize components
    broker = simulated_broker()
    event_bus = EventBus()
    order_manager = OrderManager(event_bus, broker)
    rule_engine = RuleEngine(event_bus)

    # Connect to the broker
    await broker.connect()
    await order_manager.initialize()

    # Set up rule engine context
    rule_engine.update_context({
        "order_manager": order_manager,
        "account": {"equity": 100000},
        "prices": {}
    })

    # Create a trading rule
    buy_condition = EventCondition(
        event_type=PredictionSignalEvent,
        field_conditions={
            "signal": "BUY",
            "symbol": "AAPL",
            "confidence": lambda c: c > 0.75
        }
    )

    buy_action = CreateOrderAction(
        symbol="AAPL",
        quantity=10,
        order_type=OrderType.MARKET
    )

    rule = Rule(
        rule_id="aapl_buy_rule",
        name="AAPL Buy on High Confidence",
        condition=buy_condition,
        action=buy_action
    )

    # Register and start rule engine
    rule_engine.register_rule(rule)
    await rule_engine.start()

    print("🚀 Automated trading system started!")
    print("   - Connected to the simulated broker")
    print("   - Rule engine active")
    print("   - Waiting for prediction signals...")

    # A short market instead of waiting forever
    narrate(event_bus)
    await price(event_bus, broker, "AAPL", "187.20")
    await signal(event_bus, broker, "AAPL", "BUY", 0.70)  # below the rule's 0.75: nothing happens
    await price(event_bus, broker, "AAPL", "187.45")
    await signal(event_bus, broker, "AAPL", "BUY", 0.82)  # the rule fires: BUY 10 AAPL at market
    await price(event_bus, broker, "AAPL", "188.10")

    position = order_manager.position("AAPL")
    print(f"AAPL position: {position.quantity} shares at {position.avg_price:.2f}, "
          f"unrealized P&L {position.unrealized_pnl(order_manager.last_price('AAPL')):.2f}")

    print("Shutting down...")
    await rule_engine.stop()
    await broker.disconnect()


if __name__ == "__main__":
    asyncio.run(main())
