"""Random streams of signals and prices through RuleEngine + TradingCommandHandler + OrderManager +
SimulatedBroker (with and without partial fills). After every step:

- linked-order state never mixes sides: the position and every unfinished order of a linked
  symbol agree with its one side (entries on it, exits against it); a symbol with no linked state
  is flat with nothing working;
- close-all leaves no working order for the symbol at the broker but the market order that
  flattens it (filling over a few steps when fills are partial), and then the symbol flat;
- a scale-in never flips a position: no execution (entry, scale-in, exit or flattening) takes a
  position across zero, and the books of the order manager agree with the broker's positions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from adapters.simulated import SimulatedBroker, SimulationConfig
from core.broker_events import BrokerOrder
from core.bus import EventBus
from core.clock import ManualClock
from core.events import PredictionSignalEvent, PriceEvent, Signal
from core.rules import (
    EventCondition,
    LinkedCloseAllAction,
    LinkedCreateOrderAction,
    LinkedScaleInAction,
    Rule,
    RuleEngine,
)
from core.service_layer.order_records import OrderRole
from core.services import OrderChange, OrderManager
from core.values import ZERO, quantize_price

SYMBOLS = ("AAPL", "MSFT")
START_PRICE = Decimal(100)

symbols = st.sampled_from(SYMBOLS)
step = st.one_of(
    st.tuples(st.just("signal"), symbols, st.sampled_from(list(Signal)), st.sampled_from([0.5, 0.8, 0.97])),
    st.tuples(st.just("price"), symbols, st.integers(-6, 6)),
)
steps = st.lists(step, max_size=25)


def rules_for(symbol: str) -> list[Rule]:
    def on(rule_id: str, signal: Signal, low: float, high: float, action: object) -> Rule:
        confidence = {"confidence": lambda c: low <= c < high}
        condition = EventCondition(PredictionSignalEvent, {"signal": signal, "symbol": symbol, **confidence})
        return Rule(f"{symbol}-{rule_id}", rule_id, condition, action)  # type: ignore[arg-type]

    def entry(side: str) -> LinkedCreateOrderAction:
        return LinkedCreateOrderAction(symbol, 10, side=side, stop_loss_pct=0.03, take_profit_pct=0.05)

    return [
        on("buy", Signal.BUY, 0.75, 0.95, entry("BUY")),
        on("sell", Signal.SELL, 0.75, 0.95, entry("SELL")),
        on("scale-any-side", Signal.BUY, 0.95, 1.01, LinkedScaleInAction(symbol, 5, 0)),
        on("scale-short", Signal.SELL, 0.95, 1.01, LinkedScaleInAction(symbol, 5, 0, side="SELL")),
        on("close", Signal.HOLD, 0.75, 1.01, LinkedCloseAllAction(symbol, "hold signal")),
    ]


def sign(quantity: Decimal) -> int:
    return (quantity > ZERO) - (quantity < ZERO)


class Desk:
    def __init__(self, partial: int | None) -> None:
        self.clock = ManualClock()
        cap = None if partial is None else Decimal(partial)
        self.broker = SimulatedBroker(self.clock, SimulationConfig(partial_fill_quantity=cap))
        self.bus = EventBus()
        self.manager = OrderManager(self.bus, self.broker)
        self.engine = RuleEngine(self.bus)
        self.engine.update_context({"order_manager": self.manager, "prices": {}})
        self.prices = dict.fromkeys(SYMBOLS, START_PRICE)
        self.flips: list[str] = []
        self.manager.observe(self.watch_fills)

    def watch_fills(self, change: OrderChange) -> None:
        """Every execution, as it is booked: it must not take the position across zero."""
        fill = change.fill
        if fill is None:
            return
        before = change.position - fill.side.sign * fill.quantity
        if sign(before) * sign(change.position) < 0:
            self.flips.append(f"{change.role} {fill} took {change.symbol} from {before} to {change.position}")

    async def start(self) -> None:
        await self.broker.connect()
        await self.manager.initialize()
        for symbol in SYMBOLS:
            self.engine.register_rules(rules_for(symbol))
            self.broker.set_price(symbol, START_PRICE)
        await self.engine.start()

    async def step(self, step: tuple[object, ...]) -> None:
        self.clock.advance(1)
        kind, symbol = step[0], str(step[1])
        if kind == "price":
            move = Decimal(int(step[2])) / 100  # type: ignore[call-overload]
            price = max(Decimal(1), quantize_price(self.prices[symbol] * (1 + move)))
            self.prices[symbol] = price
            self.broker.set_price(symbol, price)
            event: object = PriceEvent(symbol, price, timestamp=self.clock.now())
        else:
            self.broker.step()  # partial fills continue between signals too
            event = PredictionSignalEvent(symbol, Signal(step[2]), float(step[3]),  # type: ignore[arg-type]
                                          self.prices[symbol], timestamp=self.clock.now())
        await self.bus.publish(event)
        for _ in range(4):
            await self.bus.drain()
            await self.manager.drain()

    async def check(self, step: tuple[object, ...]) -> None:
        assert self.flips == []
        handler = self.manager.command_handler()
        at_broker = {p.symbol: p.quantity for p in await self.broker.positions()}
        open_at_broker = await self.broker.open_orders()
        for symbol in SYMBOLS:
            net = self.manager.net_position(symbol)
            assert net == at_broker.get(symbol, ZERO), f"{symbol}: books {net} vs broker {at_broker}"
            state = handler.linked.get(symbol)
            working = self.manager.working_orders(symbol)
            if state is None:
                assert net == ZERO, f"{symbol}: no linked state but a position of {net}"
                assert working == [], f"{symbol}: no linked state but working orders {working}"
                continue
            assert sign(net) in (0, state.side.sign), f"{symbol}: {state.side} state with position {net}"
            assert state.open_quantity == abs(net)
            for order in working:
                role = self.manager.book.role_of(order.order_ref)
                adds = role in (OrderRole.ENTRY, OrderRole.ORDER)
                expected = state.side if adds else state.side.opposite
                assert order.request.side is expected, f"{symbol}: {role} {order.request} in a {state.side}"
        if step[0] == "signal" and step[2] == Signal.HOLD and float(step[3]) >= 0.75:  # type: ignore[arg-type]
            self.check_closed(str(step[1]), open_at_broker)

    def check_closed(self, symbol: str, open_at_broker: Sequence[BrokerOrder]) -> None:
        """Right after a close-all, the only order of the symbol still working is the market order
        flattening it (with partial fills it takes a few steps); without one, the symbol is flat."""
        left = [o for o in open_at_broker if o.request.symbol == symbol]
        roles = {self.manager.book.role_of(o.request.order_ref) for o in left}
        assert roles <= {OrderRole.FLATTEN}, f"close-all of {symbol} left {left}"
        if not left:
            handler = self.manager.command_handler()
            assert self.manager.net_position(symbol) == ZERO and handler.linked.get(symbol) is None


async def play(history: list[tuple[object, ...]], partial: int | None) -> None:
    desk = Desk(partial)
    await desk.start()
    for step in history:
        await desk.step(step)
        await desk.check(step)
    await desk.bus.close()


@given(history=steps, partial=st.sampled_from([None, 3]))
def test_linked_trading_never_mixes_sides_closes_cleanly_and_never_flips(
    history: list[tuple[object, ...]], partial: int | None
) -> None:
    asyncio.run(play(history, partial))
