"""The simulated broker for `--simulate`: its state outlives the executor process, and a
simulated market moves its prices.

`DurableSimulatedBroker` is the Broker port over `adapters.simulated.SimulatedBroker`, saving
the broker's whole state to a JSON file after every change (write a temporary file, fsync, rename,
fsync the directory) BEFORE the call returns. So a kill -9 of the executor cannot lose what the
"broker" accepted: like a real broker, it still holds every order when the executor restarts,
which is what reconciliation and the crash tests rely on.

`RandomWalkMarket` moves the price of every symbol the account trades: a seeded random walk from
the first price (each order's entry price), one step per tick, so brackets reach their target or
their stop. With the same seed, each symbol walks the same path.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
from collections.abc import Callable, Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import msgspec

from adapters.simulated import SimulatedBroker, SimulationConfig
from core.broker_events import AccountSnapshot, BrokerOrder, BrokerPosition, Fill
from core.orders import BracketRequest, OrderRequest
from core.ports import BrokerListener, Clock, Unsubscribe
from core.values import OrderRef
from entrypoints.executor.crash import CrashHook

logger = logging.getLogger(__name__)
_encoder = msgspec.json.Encoder()  # several times faster than json.dumps on a large state
CENT = Decimal("0.01")


def write_atomically(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that a crash leaves either the old or the new file, whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself must survive a power loss too
    finally:
        os.close(directory)


def load_state_file(path: Path) -> dict[str, Any] | None:
    """The saved broker state, or None when there is none yet."""
    try:
        state: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    return state


class DurableSimulatedBroker:
    """The Broker port over a SimulatedBroker whose state is saved to `path` after every change
    (see the module docstring). `path` None keeps it in memory only."""

    def __init__(
        self,
        clock: Clock,
        path: Path | None,
        account: str | None = None,
        crash: CrashHook | None = None,
        on_placed: Callable[[BracketRequest], None] | None = None,
    ) -> None:
        self.path = path
        self._crash = crash or CrashHook()
        self._on_placed = on_placed
        state = load_state_file(path) if path is not None else None
        if state is not None:
            self.inner = SimulatedBroker.from_state(state, clock)
            logger.info(
                "simulated broker %s restored from %s: %d orders, %d executions",
                self.inner.account,
                path,
                len(self.inner.exchange.orders),
                len(self.inner.exchange.fills),
            )
        else:
            config = SimulationConfig(account=account) if account else SimulationConfig()
            self.inner = SimulatedBroker(clock, config)
            self.save()

    def save(self) -> None:
        """Persist what the broker holds now (atomically, durably)."""
        if self.path is not None:
            write_atomically(self.path, _encoder.encode(self.inner.state_dict()))

    # -- the market ----------------------------------------------------------------------------

    def price(self, symbol: str) -> Decimal | None:
        return self.inner.exchange.prices.get(symbol) or self.inner.feed.prices.get(symbol)

    def set_price(self, symbol: str, price: Decimal) -> None:
        """Move the market (fills happen now); saved before the fills' events are acted on."""
        self.inner.set_price(symbol, price)
        self.save()

    def active_symbols(self) -> set[str]:
        """Symbols with working orders or an open position: the ones worth moving."""
        symbols = {order.request.symbol for order in self.inner.exchange.open.values()}
        symbols.update(position.symbol for position in self.inner.ledger.positions())
        return symbols

    # -- the Broker port -----------------------------------------------------------------------

    @property
    def account(self) -> str:
        return self.inner.account

    async def connect(self) -> None:
        await self.inner.connect()

    async def disconnect(self) -> None:
        await self.inner.disconnect()

    def is_connected(self) -> bool:
        return self.inner.is_connected()

    def subscribe(self, listener: BrokerListener) -> Unsubscribe:
        return self.inner.subscribe(listener)

    async def place_bracket(self, bracket: BracketRequest) -> None:
        self._crash.reached("before_broker")
        try:
            await self.inner.place_bracket(bracket)
        finally:
            self.save()  # a refusal may have changed nothing, but a partial change must be kept
        self._crash.reached("after_broker")
        if self._on_placed is not None:
            self._on_placed(bracket)

    async def place_order(self, order: OrderRequest) -> None:
        try:
            await self.inner.place_order(order)
        finally:
            self.save()

    async def cancel_order(self, order_ref: OrderRef) -> None:
        try:
            await self.inner.cancel_order(order_ref)
        finally:
            self.save()

    async def open_orders(self) -> Sequence[BrokerOrder]:
        return await self.inner.open_orders()

    async def completed_orders(self) -> Sequence[BrokerOrder]:
        return await self.inner.completed_orders()

    async def executions(self) -> Sequence[Fill]:
        return await self.inner.executions()

    async def positions(self) -> Sequence[BrokerPosition]:
        return await self.inner.positions()

    async def account_summary(self) -> AccountSnapshot:
        return await self.inner.account_summary()


class RandomWalkMarket:
    """Moves the prices of the broker's active symbols every `tick_seconds`, each by a random
    step of up to `step_pct` (a fraction: 0.004 is 0.4 %) of its price, rounded to the cent.
    `step_pct` 0 keeps prices still (orders fill at the first price only)."""

    def __init__(
        self,
        broker: DurableSimulatedBroker,
        seed: int,
        tick_seconds: float,
        step_pct: Decimal,
        on_tick: Callable[[], None] | None = None,
    ) -> None:
        if tick_seconds <= 0 or step_pct < 0:
            raise ValueError(
                f"the simulated market needs tick_seconds > 0 and step_pct >= 0, got "
                f"{tick_seconds} and {step_pct}"
            )
        self._broker = broker
        self._seed = seed
        self._tick = tick_seconds
        self._step = step_pct
        self._on_tick = on_tick
        self._walks: dict[str, random.Random] = {}

    def open_prices(self, prices: Mapping[str, Decimal]) -> None:
        """Start each symbol at its price unless the market already has a price for it (saved once)."""
        opened = False
        for symbol, price in prices.items():
            if self._broker.price(symbol) is None:
                self._broker.inner.set_price(symbol, price.quantize(CENT, ROUND_HALF_UP))
                opened = True
        if opened:
            self._broker.save()

    def tick(self) -> None:
        """One step of every active symbol, in a fixed order."""
        if self._step == 0 or not self._broker.is_connected():
            return
        for symbol in sorted(self._broker.active_symbols()):
            price = self._broker.price(symbol)
            if price is None:
                continue
            walk = self._walks.get(symbol)
            if walk is None:
                walk = self._walks[symbol] = random.Random(f"{self._seed}:{symbol}")
            move = Decimal(str(round(walk.uniform(-1.0, 1.0), 6))) * self._step * price
            new = max(CENT, (price + move).quantize(CENT, ROUND_HALF_UP))
            if new != price:
                self._broker.set_price(symbol, new)
        if self._on_tick is not None:
            self._on_tick()

    async def run(self) -> None:
        """Tick until cancelled."""
        while True:
            await asyncio.sleep(self._tick)
            try:
                self.tick()
            except Exception:  # a bad tick must not stop the market; say so and go on
                logger.exception("the simulated market could not move prices")
