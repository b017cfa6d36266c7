"""The simulated broker for `--simulate`: its state outlives the executor process, and a
simulated market moves its prices.

`DurableSimulatedBroker` is the Broker port over `adapters.simulated.SimulatedBroker`, saving
what each call changed BEFORE the call returns: one line written (to the kernel) to a journal next
to the state file, with periodic compaction into the state file (see `entrypoints.executor.sim_journal`:
the cost of a call no longer grows with the history). What a call changed is found from the
broker's own reports during the call (see `DurableSimulatedBroker._end`), so that cost does not
grow with the orders working either. So a kill -9 of the executor cannot lose what the "broker"
accepted: like a real broker, it still holds every order when the executor restarts, which is
what reconciliation and the crash tests rely on. Surviving a power loss is not required of the
simulated broker, so it does not fsync unless asked (`fsync=True`; see
`entrypoints.executor.sim_journal` for why; the executor's own journal always fsyncs). The state
file stays `SimulatedBroker.state_dict()` as JSON, rewritten about every second while the market
moves (between batches of orders: at most every 10 s while they never pause) and at a clean stop.

`RandomWalkMarket` moves the price of every symbol the account trades: a seeded random walk from
the first price (each order's entry price), one step per tick, so brackets reach their target or
their stop. With the same seed, each symbol walks the same path.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from adapters.simulated import SimulatedBroker, SimulationConfig
from adapters.simulated.book import SimOrder
from core.broker_events import AccountSnapshot, BrokerEvent, BrokerOrder, BrokerPosition, Fill
from core.orders import BracketRequest, OrderRequest
from core.ports import BrokerListener, Clock, Unsubscribe
from core.values import OrderRef
from entrypoints.executor.crash import CrashHook
from entrypoints.executor.sim_journal import COMPACT_BYTES, StateJournal

logger = logging.getLogger(__name__)
CENT = Decimal("0.01")
# The state file is rewritten (from the market's loop, off the broker calls) once the broker has
# been quiet this long after a change, and at least this often while it stays busy, but then at a
# moment the executor's orders leave free: rewriting it takes milliseconds (more as the history
# grows), during which a batch that arrives waits. Only people and tools read the file while the
# executor runs; what the broker holds is the file plus its journal, written by every call.
REFRESH_QUIET_SECONDS = 0.2
REFRESH_SECONDS = 1.0
# No order placed or cancelled for this long: the executor is between batches (a batch's calls,
# and batches sent back to back, come closer than this).
ORDERS_QUIET_SECONDS = 0.05
# While orders never stop for that long, the file is rewritten anyway once it lags this much.
REFRESH_MAX_LAG_SECONDS = 10.0


class DurableSimulatedBroker:
    """The Broker port over a SimulatedBroker whose changes are saved by every call, to outlive the
    process (and a power loss with `fsync`; see the module docstring). `path` None keeps it in
    memory only."""

    def __init__(
        self,
        clock: Clock,
        path: Path | None,
        account: str | None = None,
        crash: CrashHook | None = None,
        on_placed: Callable[[BracketRequest], None] | None = None,
        fsync: bool = False,
        compact_bytes: int = COMPACT_BYTES,
    ) -> None:
        self.path = path
        self._crash = crash or CrashHook()
        self._on_placed = on_placed
        self._journal = StateJournal(path, compact_bytes, fsync) if path is not None else None
        self._refreshed = self._changed = self._ordered = time.monotonic()
        self._unrefreshed = False  # changes journaled since the state file was last rewritten
        state = self._journal.load() if self._journal is not None else None
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
        # What each call changed is found from the broker's own reports (see `_end`).
        self._heard: set[OrderRef] = set()  # the orders reported on since the last save
        self._calls = 0  # broker calls under way: a subscriber may call again from a delivery
        if self._journal is not None:
            self._journal.start(self.inner)  # a fresh snapshot, an empty journal
            self.inner.observe_deliveries(self._hear)

    def save(self, symbols: Iterable[str] | None = None) -> None:
        """Persist durably what changed (for calls on `symbols`; None: look at everything)."""
        if self._journal is not None:
            orders = self.inner.exchange.orders
            heard, self._heard = self._heard, set()
            if symbols is not None:
                symbols = {*symbols, *(orders[ref].symbol for ref in heard if ref in orders)}
            self._journal.record(self.inner, symbols)
            self._changed, self._unrefreshed = time.monotonic(), True

    def _hear(self, events: Sequence[BrokerEvent]) -> None:
        """The broker is about to deliver these events (`observe_deliveries`)."""
        heard = self._heard
        for event in events:
            ref = getattr(event, "order_ref", None)  # status reports and fills; not connection events
            if ref is not None:
                heard.add(ref)

    def _begin(self) -> bool:
        """A broker call starts: whether its reports will name every order it changes (see `_end`)."""
        self._calls += 1
        inner = self.inner
        return self._calls == 1 and inner.is_connected() and not inner.faults.armed

    def _end(self, reported: bool, symbols: Iterable[str], triggered: Iterable[OrderRef] = ()) -> None:
        """A broker call ended: journal what it changed, durably, before the call returns.

        The simulated broker reports every change of an order to its subscribers, naming the order
        (a status report or a fill), before the call returns, except a stop that triggers without
        filling (only a price move does that: `set_prices` passes those as `triggered`). So when it
        was connected with no fault armed (faults hold, drop or lose reports) and no other call was
        under way (reports of a call made from a delivery are delivered after it returns), the
        orders heard of are all that may have changed besides new and completed ones, and the
        journal compares only those: the cost of a call does not grow with the open orders of its
        symbol. Otherwise it compares every open order of the symbols concerned."""
        self._calls -= 1
        if self._journal is None:
            return
        inner = self.inner
        if reported and inner.is_connected() and not inner.faults.armed:
            heard, self._heard = self._heard, set()
            heard.update(triggered)
            for event in inner.exchange.events:  # reports not delivered yet: the call raised midway
                ref = getattr(event, "order_ref", None)
                if ref is not None:
                    heard.add(ref)
            self._journal.record(inner, symbols, heard)
            self._changed, self._unrefreshed = time.monotonic(), True
        else:
            self.save(symbols)

    def refresh_state_file(self) -> None:
        """Rewrite the state file as of now (for people and tools reading it while it runs)."""
        if self._journal is not None:
            self._journal.refresh(self.inner)
        self._refreshed, self._unrefreshed = time.monotonic(), False

    def refresh_due(self) -> bool:
        """Whether the state file lags behind: quiet for a moment after a change; or long enough
        behind while no order was placed or cancelled for a moment (the market may still move);
        or far behind."""
        if not self._unrefreshed:
            return False
        now = time.monotonic()
        behind = now - self._refreshed
        return (
            now - self._changed >= REFRESH_QUIET_SECONDS
            or (behind >= REFRESH_SECONDS and now - self._ordered >= ORDERS_QUIET_SECONDS)
            or behind >= REFRESH_MAX_LAG_SECONDS
        )

    # -- the market ----------------------------------------------------------------------------

    def price(self, symbol: str) -> Decimal | None:
        return self.inner.exchange.prices.get(symbol) or self.inner.feed.prices.get(symbol)

    def set_price(self, symbol: str, price: Decimal) -> None:
        """Move the market (fills happen now); saved before the fills' events are acted on."""
        self.set_prices({symbol: price})

    def set_prices(self, prices: Mapping[str, Decimal]) -> None:
        """Move the market of each symbol, in order; saved once, before the fills' events are acted on."""
        quiet: list[SimOrder] = []  # stops not triggered yet: one may trigger without a report
        if self._journal is not None:
            working = self.inner.exchange.working
            for symbol in prices:
                quiet.extend(order for order in working.get(symbol, {}).values() if not order.triggered)
        reported = self._begin()
        try:
            for symbol, price in prices.items():
                self.inner.set_price(symbol, price)
        finally:
            self._end(reported, prices, [order.ref for order in quiet if order.triggered])

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
        if self._journal is not None:
            self._journal.close(self.inner)  # compacted: the state file holds everything

    def is_connected(self) -> bool:
        return self.inner.is_connected()

    def subscribe(self, listener: BrokerListener) -> Unsubscribe:
        return self.inner.subscribe(listener)

    async def place_bracket(self, bracket: BracketRequest) -> None:
        self._crash.reached("before_broker")
        self._ordered = time.monotonic()
        reported = self._begin()
        try:
            await self.inner.place_bracket(bracket)
        finally:
            # A refusal may have changed nothing; a partial change is kept.
            self._end(reported, (bracket.symbol,))
        self._crash.reached("after_broker")
        if self._on_placed is not None:
            self._on_placed(bracket)

    async def place_order(self, order: OrderRequest) -> None:
        self._ordered = time.monotonic()
        reported = self._begin()
        try:
            await self.inner.place_order(order)
        finally:
            self._end(reported, (order.symbol,))

    async def cancel_order(self, order_ref: OrderRef) -> None:
        known = self.inner.exchange.orders.get(order_ref)
        self._ordered = time.monotonic()
        reported = self._begin()
        try:
            await self.inner.cancel_order(order_ref)
        finally:
            self._end(reported, () if known is None else (known.symbol,))

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
        opened = {
            symbol: price.quantize(CENT, ROUND_HALF_UP)
            for symbol, price in prices.items()
            if self._broker.price(symbol) is None
        }
        if opened:
            self._broker.set_prices(opened)

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
                if self._broker.refresh_due():
                    self._broker.refresh_state_file()
            except Exception:  # a bad tick must not stop the market; say so and go on
                logger.exception("the simulated market could not move prices")
