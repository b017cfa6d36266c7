"""`SimulatedBroker`: the Broker port over the in-process matching engine.

Deterministic and synchronous underneath: `set_price` moves the market and matches orders at
once, and every status report and fill reaches the subscribers, in order, before `set_price` (or
the request that caused it) returns, unless a fault (`broker.faults`) holds it back. The port's
methods are `async` only to honour the port; they never wait.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from adapters.simulated.account import Ledger
from adapters.simulated.config import SimulationConfig
from adapters.simulated.exchange import Exchange, Rejection
from adapters.simulated.faults import FaultInjector
from adapters.simulated.market_data import SimulatedMarketData
from adapters.simulated.prices import PriceFeed
from adapters.simulated.state import dump_state, load_state
from core.broker_events import (
    AccountSnapshot,
    BrokerEvent,
    BrokerOrder,
    BrokerPosition,
    ConnectionEvent,
    ConnectionState,
    Fill,
)
from core.clock import ManualClock
from core.orders import BracketRequest, OrderRequest
from core.ports import BrokerError, BrokerListener, Clock, Unsubscribe
from core.values import OrderRef

NOT_CONNECTED = 504  # IB's "Not connected"


class SimulatedBroker:
    """A broker account simulated in process: orders, brackets, fills, positions, cash, faults.

    `clock` (a `ManualClock` by default) stamps fills and releases delayed reports when it moves;
    `feed` is the price feed to match against (a new one by default; share it with
    `market_data()`). The broker starts disconnected, like any broker: call `connect()`.
    """

    def __init__(
        self,
        clock: Clock | None = None,
        config: SimulationConfig | None = None,
        feed: PriceFeed | None = None,
    ) -> None:
        self.clock: Clock = clock if clock is not None else ManualClock()
        self.config = config if config is not None else SimulationConfig()
        self.feed = feed if feed is not None else PriceFeed(self.clock)
        self.set_price: Callable[[str, Decimal | int | str], None] = self.feed.set_price
        """`set_price(symbol, price)`: move the market of `symbol`; matching runs and events are
        delivered before it returns. The feed's own method, not a method calling it: a call less
        per price."""
        cfg = self.config
        self.ledger = Ledger(cfg.account, cfg.starting_cash, cfg.commission_per_share, cfg.min_commission)
        self.exchange = Exchange(cfg, self.clock, self.ledger)
        self.faults = FaultInjector(self.clock, self._lose_connection, self._deliver)
        self._listeners: list[BrokerListener] = []
        self._only_listener: BrokerListener | None = None  # the listener, while there is exactly one
        self._observer: Callable[[Sequence[BrokerEvent]], None] | None = None  # see `observe_deliveries`
        self._connected = False
        self._lost = False
        self._delivering = False
        self._backlog: list[BrokerEvent] = []
        self.feed.watch(self._on_price)

    # -- the market (not part of the port) -------------------------------------------------------

    def step(self) -> None:
        """One matching step at unchanged prices (continues partial fills; releases held reports
        if the clock moved)."""
        self._poll_faults()
        self.exchange.step()
        self._flush()

    def end_of_day(self) -> None:
        """Expire every open DAY order (status EXPIRED)."""
        self.exchange.expire_day_orders()
        self._flush()

    def market_data(self) -> SimulatedMarketData:
        """The MarketData port over this broker's price feed."""
        return SimulatedMarketData(self.feed)

    # -- connection ------------------------------------------------------------------------------

    @property
    def account(self) -> str:
        return self.config.account

    async def connect(self) -> None:
        if self._connected:
            return
        self._connected = True
        state = ConnectionState.RESTORED if self._lost else ConnectionState.CONNECTED
        self._lost = False
        self._deliver([ConnectionEvent(state, f"simulated broker {self.account} {state.value}")])

    async def disconnect(self) -> None:
        if not self._connected:
            return
        self._deliver([ConnectionEvent(ConnectionState.DISCONNECTED, f"disconnected from {self.account}")])
        self._connected = False

    def is_connected(self) -> bool:
        return self._connected

    def subscribe(self, listener: BrokerListener) -> Unsubscribe:
        # Copy on write: a delivery in progress keeps iterating the list it started with.
        self._set_listeners([*self._listeners, listener])

        def unsubscribe() -> None:
            self._set_listeners([known for known in self._listeners if known is not listener])

        return unsubscribe

    def observe_deliveries(self, observer: Callable[[Sequence[BrokerEvent]], None] | None) -> None:
        """Have `observer` (None: nobody) shown each run of events just before the subscribers get
        them, one call per run rather than one per event (the durable broker notes the orders
        reported on; a subscriber for that cost a call per event and put every delivery on the
        path for several subscribers). It must not raise, nor call the broker."""
        self._observer = observer

    def _set_listeners(self, listeners: list[BrokerListener]) -> None:
        self._listeners = listeners
        self._only_listener = listeners[0] if len(listeners) == 1 else None

    # -- orders ----------------------------------------------------------------------------------

    # The request methods check the connection inline and build the refusal's text only when
    # they refuse: the common case (connected, no fault armed) is two attribute reads.

    async def place_bracket(self, bracket: BracketRequest) -> None:
        if self.faults.armed or not self._connected:
            self._place_bracket_with_faults(bracket)
            return
        exchange = self.exchange
        exchange.place_bracket(bracket)  # refuses duplicate order_refs itself, before placing anything
        events = exchange.events  # `_flush()`, inlined
        if events:
            exchange.events = []
            self._deliver(events)

    def _place_bracket_with_faults(self, bracket: BracketRequest) -> None:
        """`place_bracket` while a fault is armed or the connection is down."""
        faults = self.faults
        self._require_connection(f"place bracket {bracket.entry.order_ref}")
        exchange = self.exchange
        refs = (bracket.entry.order_ref, bracket.take_profit.order_ref, bracket.stop_loss.order_ref)
        exchange.refuse_duplicates(refs)  # before a rejection is taken for any leg
        rejections: dict[OrderRef, Rejection] | None = None
        if faults.armed:
            rejections = {}
            for ref in refs:
                rejection = faults.take_rejection(ref)
                if rejection is not None:
                    rejections[ref] = rejection
        exchange.place_bracket(bracket, rejections)
        self._flush()

    async def place_order(self, order: OrderRequest) -> None:
        if self.faults.armed or not self._connected:
            self._require_connection(f"place order {order.order_ref}")
        self.exchange.refuse_duplicates((order.order_ref,))
        rejection = self.faults.take_rejection(order.order_ref) if self.faults.armed else None
        self.exchange.place_order(order, rejection)
        self._flush()

    async def cancel_order(self, order_ref: OrderRef) -> None:
        if self.faults.armed or not self._connected:
            self._require_connection(f"cancel order {order_ref}")
        self.exchange.cancel(order_ref)
        self._flush()

    # -- queries ---------------------------------------------------------------------------------

    async def open_orders(self) -> Sequence[BrokerOrder]:
        self._require_connection("list open orders")
        return [order.to_broker_order() for order in self.exchange.open.values()]

    async def completed_orders(self) -> Sequence[BrokerOrder]:
        self._require_connection("list completed orders")
        return [order.to_broker_order() for order in self.exchange.completed.values()]

    async def executions(self) -> Sequence[Fill]:
        self._require_connection("list executions")
        return list(self.exchange.fills)

    async def positions(self) -> Sequence[BrokerPosition]:
        self._require_connection("list positions")
        return self.ledger.positions()

    async def account_summary(self) -> AccountSnapshot:
        self._require_connection("read the account summary")
        return self.ledger.snapshot(self.exchange.prices)

    # -- snapshot --------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything the broker holds (orders, brackets, fills, positions, cash, prices) as a
        JSON-able dict. Faults, held reports and subscribers are not part of it."""
        return dump_state(self)

    @classmethod
    def from_state(cls, state: Mapping[str, Any], clock: Clock | None = None) -> SimulatedBroker:
        """A disconnected broker holding exactly what `state_dict()` described."""
        return load_state(cls, state, clock)

    # -- delivery --------------------------------------------------------------------------------

    def _on_price(self, symbol: str, price: Decimal) -> None:
        if self.faults.armed:
            self._poll_faults()
        exchange = self.exchange
        exchange.on_price(symbol, price)
        events = exchange.events
        if events:
            exchange.events = []
            self._deliver(events)

    def _require_connection(self, what: str) -> None:
        if self.faults.armed:
            self._poll_faults()
        if not self._connected:
            raise BrokerError(
                f"cannot {what}: not connected to the simulated broker (account {self.account}); "
                f"call connect() first", code=NOT_CONNECTED,
            )

    def _poll_faults(self) -> None:
        self._deliver([])  # releases held reports whose delay is over

    def _flush(self) -> None:
        events = self.exchange.events
        if events:
            self.exchange.events = []
            self._deliver(events)

    def _deliver(self, events: list[BrokerEvent]) -> None:
        """Hand events to every subscriber, in order. A subscriber that raises does not stop the
        others; the first error is re-raised once everything is delivered."""
        if self.faults.armed:
            events = self.faults.filter(events)
        if not events:
            return
        if not self._connected:
            self.faults.lost.extend(events)
            return
        if self._delivering:  # a subscriber acted on an event: its events queue behind the rest
            self._backlog.extend(events)
            return
        self._delivering = True
        errors: list[Exception] | None = None  # made on the first error: delivery rarely fails
        observer = self._observer
        try:
            while events:
                if observer is not None:
                    observer(events)
                for event in events:
                    # The listeners are read for each event: one may subscribe or unsubscribe
                    # another. A single listener (the usual case) is called without a loop.
                    only = self._only_listener
                    if only is not None:
                        try:
                            only(event)
                        except Exception as error:
                            if errors is None:
                                errors = []
                            errors.append(error)
                        continue
                    for listener in self._listeners:
                        try:
                            listener(event)
                        except Exception as error:
                            if errors is None:
                                errors = []
                            errors.append(error)
                if not self._backlog:
                    break
                events, self._backlog = self._backlog, []
        finally:
            self._delivering = False
        if errors:
            for later in errors[1:]:
                errors[0].add_note(f"another subscriber also failed: {later!r}")
            raise errors[0]

    def _lose_connection(self, message: str) -> None:
        if not self._connected:
            return
        self._deliver([ConnectionEvent(ConnectionState.LOST, message)])
        self._connected = False
        self._lost = True


if TYPE_CHECKING:
    from core.ports import Broker, MarketData

    def _conforms_to_ports(broker: SimulatedBroker, market: SimulatedMarketData) -> tuple[Broker, MarketData]:
        return broker, market  # mypy checks both against their ports here
