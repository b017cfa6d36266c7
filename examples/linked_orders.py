"""The seed's "Automatic Order Linking with BUY/SELL Support", on tradebridge.

The seed shows the two actions; here they are put into rules and played on the simulated broker:
a BUY opens AAPL long as a bracket (stop 3 % below, target 8 % above), a SELL entry on AAPL is
refused while it is long (sides never mix), a scale-in adds on the long side only, the SELL
signal closes everything on AAPL (every linked order cancelled, the position flattened), and on
TSLA a short opened with side="SELL" ends through its stop, which resets its linked state so the
next trade starts clean.

    python examples/linked_orders.py
"""

import asyncio

from _simulation import narrate, price, signal, simulated_broker

from core.bus import EventBus
from core.events import PredictionSignalEvent
from core.rules import (
    EventCondition,
    LinkedCloseAllAction,
    LinkedCreateOrderAction,
    LinkedScaleInAction,
    Rule,
    RuleEngine,
)
from core.services import OrderManager, PositionTracker


def on_signal(rule_id, symbol, side, action, confidence=0.8, below=1.01):
    """A rule: a `side` signal for `symbol` with a confidence from `confidence` up to (not
    including) `below` runs `action`."""
    condition = EventCondition(
        event_type=PredictionSignalEvent,
        field_conditions={"signal": side, "symbol": symbol, "confidence": lambda c: confidence <= c < below},
    )
    return Rule(rule_id=rule_id, name=rule_id, condition=condition, action=action)


async def main():
    broker = simulated_broker()
    event_bus = EventBus()
    order_manager = OrderManager(event_bus, broker)
    position_tracker = PositionTracker(event_bus)
    rule_engine = RuleEngine(event_bus)
    await broker.connect()
    await order_manager.initialize()
    await position_tracker.initialize()
    rule_engine.update_context({"order_manager": order_manager, "prices": {}})

    # BUY (Long) Position Entry
    buy_action = LinkedCreateOrderAction(
        symbol="AAPL",
        quantity=100,
        side="BUY",                  # NEW: Explicit side for long positions
        auto_create_stops=True,      # Automatic stop & target creation
        stop_loss_pct=0.03,
        take_profit_pct=0.08
    )

    # Closing automatically cancels ALL related orders for the symbol
    close_action = LinkedCloseAllAction(symbol="AAPL", reason="Sell signal")

    # SELL (Short) Position Entry, and the scale-ins
    short_action = LinkedCreateOrderAction(symbol="TSLA", quantity=20, side="SELL",
                                           stop_loss_pct=0.04, take_profit_pct=0.10)
    aapl_scale_in = LinkedScaleInAction(symbol="AAPL", scale_quantity=50, trigger_profit_pct=0.02)

    rule_engine.register_rule(on_signal("aapl_long", "AAPL", "BUY", buy_action, below=0.95))
    rule_engine.register_rule(on_signal("aapl_scale_in", "AAPL", "BUY", aapl_scale_in, confidence=0.95))
    rule_engine.register_rule(on_signal("aapl_short", "AAPL", "SELL",
                                        LinkedCreateOrderAction("AAPL", 30, side="SELL"), confidence=0.95))
    rule_engine.register_rule(on_signal("aapl_close", "AAPL", "SELL", close_action,
                                        confidence=0.6, below=0.95))
    rule_engine.register_rule(on_signal("tsla_short", "TSLA", "SELL", short_action))
    await rule_engine.start()
    handler = order_manager.command_handler()

    def linked(symbol):
        state = handler.linked.get(symbol)
        if state is None:
            return f"linked {symbol}: none"
        return (f"linked {symbol}: {state.side} {state.open_quantity} open, "
                f"{len(state.working_refs)} linked order(s) working, {state.scale_ins} scale-in(s)")

    narrate(event_bus)
    await price(event_bus, broker, "AAPL", "190.00")
    await price(event_bus, broker, "TSLA", "250.00")
    await signal(event_bus, broker, "AAPL", "BUY", 0.85)   # long 100 with its stop and target
    print(linked("AAPL"))
    await signal(event_bus, broker, "AAPL", "SELL", 0.97)  # a short entry while long: refused
    await price(event_bus, broker, "AAPL", "194.50")
    await signal(event_bus, broker, "AAPL", "BUY", 0.96)   # 2.4 % up: the scale-in adds 50, long side
    print(linked("AAPL"))
    await signal(event_bus, broker, "AAPL", "SELL", 0.70)  # close-all: cancel every linked order, flatten
    print(linked("AAPL"))
    await signal(event_bus, broker, "TSLA", "SELL", 0.90)  # short 20 TSLA, stop 4 % above
    print(linked("TSLA"))
    await price(event_bus, broker, "TSLA", "261.00")        # through the stop at 260
    print(linked("TSLA"))
    await signal(event_bus, broker, "TSLA", "SELL", 0.90)  # a fresh short, not a refused duplicate
    print(linked("TSLA"))
    await asyncio.sleep(0.1)

    print(f"AAPL realized P&L {position_tracker.realized_pnl('AAPL'):.2f}, "
          f"TSLA realized P&L {position_tracker.realized_pnl('TSLA'):.2f}")
    print(f"refused: {len(handler.refusals)} ({handler.refusals[0].reason})")
    await rule_engine.stop()
    await broker.disconnect()


if __name__ == "__main__":
    asyncio.run(main())
