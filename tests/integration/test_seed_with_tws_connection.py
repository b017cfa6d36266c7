"""The second seed's automated-trading example, ported by changing only its imports, against the
fake TWS: `OrderManager(event_bus, tws_connection)` with a `TWSConnection`, a rule on a prediction
signal, and a market order that reaches the "broker" and fills."""

# ruff: noqa: F811 - the fake TWS fixtures are imported and then requested as parameters

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from adapters.ibkr import TWSConfig, TWSConnection
from core.bus import EventBus
from core.events import OrderFilledEvent, PredictionSignalEvent
from core.orders import OrderType
from core.rules import CreateOrderAction, EventCondition, Rule, RuleEngine
from core.services import OrderManager
from tests.fake_tws.fake import FakeTWS
from tests.fake_tws.pytest_helpers import fake_tws, ib_log_guard, wait_until  # noqa: F401


async def test_the_seed_example_places_an_order_through_a_tws_connection(fake_tws: FakeTWS) -> None:
    fake_tws.set_price("AAPL", Decimal("190.00"))
    config = TWSConfig(host="127.0.0.1", port=fake_tws.port, client_id=7)
    tws_connection = TWSConnection(config)
    event_bus = EventBus()
    order_manager = OrderManager(event_bus, tws_connection)
    rule_engine = RuleEngine(event_bus)

    assert await tws_connection.connect()
    await order_manager.initialize()
    rule_engine.update_context({"order_manager": order_manager, "account": {"equity": 100000}, "prices": {}})
    buy_condition = EventCondition(
        event_type=PredictionSignalEvent,
        field_conditions={"signal": "BUY", "symbol": "AAPL", "confidence": lambda c: c > 0.75},
    )
    buy_action = CreateOrderAction(symbol="AAPL", quantity=10, order_type=OrderType.MARKET)
    rule = Rule(rule_id="aapl_buy_rule", name="AAPL Buy on High Confidence", condition=buy_condition,
                action=buy_action)  # fmt: skip
    rule_engine.register_rule(rule)
    await rule_engine.start()
    fills: list[OrderFilledEvent] = []
    event_bus.subscribe(OrderFilledEvent, fills.append)

    now = datetime.now(UTC)
    await event_bus.publish(PredictionSignalEvent(symbol="AAPL", signal="BUY", confidence=0.6, timestamp=now))
    await event_bus.publish(PredictionSignalEvent(symbol="AAPL", signal="BUY", confidence=0.9, timestamp=now))
    await wait_until(lambda: fills, "the market order to fill at the fake TWS")

    placed = [order for order in fake_tws.orders if order.symbol == "AAPL"]
    assert len(placed) == 1, "only the high-confidence signal placed an order"
    assert placed[0].quantity == Decimal(10) and placed[0].order_type == "MKT"
    held = [position.quantity for position in fake_tws.positions if position.symbol == "AAPL"]
    assert held == [Decimal(10)]
    await rule_engine.stop()
    tws_connection.disconnect()
    await event_bus.close()
