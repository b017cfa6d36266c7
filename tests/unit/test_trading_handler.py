"""TradingCommandHandler: intentions -> linked-order state -> risk -> OrderManager, on the simulated
broker, driven through the RuleEngine as the seed wires it."""

from __future__ import annotations

from decimal import Decimal

from adapters.simulated import SimulatedBroker
from core.bus import EventBus
from core.clock import ManualClock
from core.events import OrderRejectedEvent, PredictionSignalEvent, PriceEvent, Signal
from core.order_status import OrderStatus
from core.orders import OrderType
from core.risk import RiskGate, RiskLimits
from core.rules import (
    CreateOrderAction,
    EventCondition,
    LinkedCloseAllAction,
    LinkedCreateOrderAction,
    LinkedScaleInAction,
    Rule,
    RuleEngine,
)
from core.services import OrderManager, TradingCommandHandler
from core.values import Side

D = Decimal


class Desk:
    """Broker, bus, order manager and a rule engine wired as in the seed's example."""

    def __init__(self, context: dict[str, object] | None = None) -> None:
        self.clock = ManualClock()
        self.broker = SimulatedBroker(self.clock)
        self.bus = EventBus()
        self.rejections: list[OrderRejectedEvent] = []
        self.bus.subscribe(OrderRejectedEvent, self.rejections.append)
        self.manager = OrderManager(self.bus, self.broker)
        self.engine = RuleEngine(self.bus)
        self.engine.update_context({"order_manager": self.manager, "account": {"equity": 100000},
                                    "prices": {}, **(context or {})})

    async def start(self, *rules: Rule) -> Desk:
        await self.broker.connect()
        await self.manager.initialize()
        self.engine.register_rules(rules)
        await self.engine.start()
        await self.price("AAPL", "100")
        return self

    @property
    def handler(self) -> TradingCommandHandler:
        return self.manager.command_handler()

    async def price(self, symbol: str, price: str) -> None:
        self.clock.advance(1)
        self.broker.set_price(symbol, D(price))
        await self.bus.publish(PriceEvent(symbol, D(price), timestamp=self.clock.now()))
        await self.settle()

    async def signal(self, signal: str, confidence: float = 0.9, symbol: str = "AAPL") -> None:
        self.clock.advance(1)
        price = self.broker.exchange.prices[symbol]
        await self.bus.publish(PredictionSignalEvent(symbol, Signal(signal), confidence, price,
                                                     timestamp=self.clock.now()))
        await self.settle()

    async def settle(self) -> None:
        for _ in range(3):
            await self.bus.drain()
            await self.manager.drain()

    async def working(self) -> list[tuple[str, str]]:
        orders = await self.broker.open_orders()
        return sorted((o.request.side.value, o.request.order_type.value) for o in orders)


def on(signal: str, action: object, rule_id: str | None = None, **fields: object) -> Rule:
    """A rule firing `action` on an AAPL `signal` (with more field conditions if given)."""
    condition = EventCondition(PredictionSignalEvent, {"signal": signal, "symbol": "AAPL", **fields})
    return Rule(rule_id or f"{signal}-{type(action).__name__}", "rule", condition, action)  # type: ignore[arg-type]


def linked_buy(**options: object) -> LinkedCreateOrderAction:
    return LinkedCreateOrderAction("AAPL", 100, side="BUY", stop_loss_pct=0.03, take_profit_pct=0.08,
                                   **options)  # type: ignore[arg-type]


async def test_the_seed_wiring_places_orders_with_only_an_order_manager_in_the_context() -> None:
    seed_rule = Rule(
        rule_id="aapl_buy_rule", name="AAPL Buy on High Confidence",
        condition=EventCondition(event_type=PredictionSignalEvent,
                                 field_conditions={"signal": "BUY", "symbol": "AAPL",
                                                   "confidence": lambda c: c > 0.75}),
        action=CreateOrderAction(symbol="AAPL", quantity=10, order_type=OrderType.MARKET),
    )
    desk = await Desk().start(seed_rule)
    assert desk.engine.command_handler is None
    await desk.signal("BUY", 0.8)
    await desk.signal("BUY", 0.5)  # below the threshold
    assert desk.manager.net_position("AAPL") == D(10)
    assert desk.engine.unhandled == [] and desk.handler.refusals == []
    assert desk.manager.command_handler() is desk.handler  # one handler per manager


async def test_a_linked_buy_places_a_bracket_and_refuses_a_second_entry_on_either_side() -> None:
    short = LinkedCreateOrderAction("AAPL", 50, side="SELL")
    desk = await Desk().start(on("BUY", linked_buy()), on("SELL", short))
    await desk.signal("BUY")
    (bracket,) = desk.manager.brackets("AAPL")
    assert bracket.stop_loss.request.stop_price == D("97.00")
    assert bracket.take_profit.request.limit_price == D(108)
    assert desk.manager.net_position("AAPL") == D(100)
    await desk.signal("BUY")
    await desk.signal("SELL")
    reasons = [r.reason for r in desk.handler.refusals]
    assert "scale-in" in reasons[0] and "would mix sides" in reasons[1]
    assert [r.reason for r in desk.rejections] == reasons
    assert desk.manager.net_position("AAPL") == D(100) and len(desk.manager.brackets()) == 1
    state = desk.handler.linked.get("AAPL")
    assert state is not None and state.side is Side.BUY and state.open_quantity == D(100)


async def test_a_scale_in_waits_for_profit_adds_on_the_same_side_and_never_the_other() -> None:
    desk = await Desk().start(
        on("BUY", linked_buy(), confidence=lambda c: c < 0.95),
        on("BUY", LinkedScaleInAction("AAPL", 50, 0.02), "scale", confidence=lambda c: c >= 0.95),
        on("SELL", LinkedScaleInAction("AAPL", 50, 0.0, side="SELL"), "short-scale"),
    )
    await desk.signal("BUY", 0.99)  # nothing open yet
    await desk.signal("BUY", 0.9)  # opens 100 at 100
    await desk.signal("BUY", 0.99)  # 0 % in profit: below the 2 % trigger
    await desk.signal("SELL")  # a short scale-in onto a long
    await desk.price("AAPL", "103")
    await desk.signal("BUY", 0.99)  # 3 % in profit: adds 50
    reasons = [r.reason for r in desk.handler.refusals]
    assert "nothing is open" in reasons[0] and "below the scale-in trigger" in reasons[1]
    assert "never changes sides" in reasons[2] and len(reasons) == 3
    assert desk.manager.net_position("AAPL") == D(150)
    state = desk.handler.linked.get("AAPL")
    assert state is not None and state.scale_ins == 1 and state.open_quantity == D(150)
    second = desk.manager.brackets("AAPL")[1]
    assert second.stop_loss.request.stop_price == D("99.91")  # 3 % under 103


async def test_close_all_cancels_every_linked_order_flattens_and_lets_the_other_side_open() -> None:
    desk = await Desk().start(
        on("BUY", linked_buy()),
        on("HOLD", LinkedCloseAllAction("AAPL", "Sell signal")),
        on("SELL", LinkedCreateOrderAction("AAPL", 20, side="SELL")),
    )
    await desk.signal("BUY")
    assert await desk.working() == [("SELL", "LMT"), ("SELL", "STP")]
    await desk.signal("HOLD")
    assert await desk.working() == [] and desk.manager.net_position("AAPL") == 0
    assert desk.handler.linked.get("AAPL") is None
    await desk.signal("SELL")
    assert desk.manager.net_position("AAPL") == D(-20)
    assert await desk.working() == [("BUY", "LMT"), ("BUY", "STP")]
    assert desk.handler.refusals == []


async def test_the_linked_state_resets_when_the_stop_ends_the_position() -> None:
    desk = await Desk().start(on("BUY", linked_buy()))
    await desk.signal("BUY")
    await desk.price("AAPL", "96")  # through the 97 stop
    assert desk.manager.net_position("AAPL") == 0 and await desk.working() == []
    assert desk.handler.linked.get("AAPL") is None
    await desk.signal("BUY")  # a fresh trade, not a refused scale-in
    assert desk.manager.net_position("AAPL") == D(100) and desk.handler.refusals == []


async def test_a_risk_refusal_is_published_and_leaves_no_linked_state() -> None:
    gate = RiskGate(RiskLimits(max_order_quantity=D(50)))
    desk = await Desk({"risk_gate": gate}).start(on("BUY", linked_buy()))
    await desk.signal("BUY")
    (refusal,) = desk.handler.refusals
    assert "max_order_quantity 50" in refusal.reason and refusal.rule_id == "BUY-LinkedCreateOrderAction"
    assert desk.rejections[0].reason == refusal.reason
    assert desk.handler.linked.get("AAPL") is None and desk.manager.orders() == []


async def test_an_entry_the_broker_rejects_clears_the_linked_state() -> None:
    desk = await Desk().start(on("BUY", linked_buy()))
    desk.broker.faults.reject_next(reason="no trading permissions")
    await desk.signal("BUY")
    assert [o.status for o in desk.manager.orders()] == [OrderStatus.REJECTED] + [OrderStatus.CANCELLED] * 2
    assert desk.handler.linked.get("AAPL") is None
    assert any("no trading permissions" in r.reason for r in desk.rejections)
    await desk.signal("BUY")
    assert desk.manager.net_position("AAPL") == D(100)


async def test_a_linked_order_without_automatic_stops_still_keeps_sides_apart() -> None:
    desk = await Desk().start(
        on("BUY", linked_buy(auto_create_stops=False)),
        on("SELL", LinkedCreateOrderAction("AAPL", 10, side="SELL", auto_create_stops=False)),
        on("HOLD", LinkedCloseAllAction("AAPL")),
    )
    await desk.signal("BUY")
    await desk.signal("SELL")
    assert desk.manager.net_position("AAPL") == D(100) and "mix sides" in desk.handler.refusals[0].reason
    await desk.signal("HOLD")
    assert desk.manager.net_position("AAPL") == 0 and desk.handler.linked.get("AAPL") is None


async def test_a_daily_loss_beyond_the_limit_leaves_only_reducing_orders() -> None:
    """Stopped out for a 300 loss (plus commissions) against a 250 limit: the next entry is
    refused as new risk while the gate is REDUCING."""
    gate = RiskGate(RiskLimits(max_daily_loss=D(250)))
    desk = await Desk({"risk_gate": gate}).start(on("BUY", linked_buy()))
    await desk.signal("BUY")
    await desk.price("AAPL", "96")  # through the 97 stop: 100 shares lose about 300
    assert desk.manager.net_position("AAPL") == 0
    assert desk.manager.net_pnl() < D(-250)
    await desk.signal("BUY")
    assert desk.manager.net_position("AAPL") == 0, "no new entry after the daily loss limit"
    (refusal,) = desk.handler.refusals
    assert "REDUCING" in refusal.reason or "daily loss" in refusal.reason
