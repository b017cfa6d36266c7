"""The order manager: places orders and brackets at a Broker and follows their life.

    order_manager = OrderManager(event_bus, broker)
    await order_manager.initialize()          # subscribes to the broker's reports
    bracket = await order_manager.place_bracket("AAPL", Side.BUY, Decimal(10),
                                                stop_loss_price=Decimal("180"),
                                                take_profit_price=Decimal("200"))

Every broker report (submitted, held, working, partial fill, fill, cancel, reject, expiry) moves
the core `Order` (or the bracket's `Bracket` aggregate) through the transition table and is
published on the event bus as order events (`core.events`). What a bracket asks for afterwards
(cancel what is left of it; flatten shares whose stop was lost) is carried out in order by a
follow-up task: broker reports arrive in synchronous callbacks, which cannot await the broker.

This is the effect layer: it does not check risk. Rules reach it through the trading command
handler (`core.service_layer.trading`), which checks linked-order state and risk first.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol, cast, runtime_checkable

from core.bracket import Bracket, BracketIntention, CancelLegs, FlattenPosition
from core.broker_events import BrokerEvent, ConnectionEvent, Fill, OrderStatusUpdate
from core.bus import EventBus, Subscription
from core.clock import SequentialIds
from core.events import Event, PriceEvent
from core.order_status import OrderStatus, OrderTrigger
from core.orders import BracketRequest, Order, OrderRequest, OrderType, OverFill
from core.ports import Broker, BrokerError, Clock, IdGenerator, Unsubscribe
from core.position import Position
from core.service_layer.order_book import OrderBook, Recorded
from core.service_layer.order_records import CANCEL_RANK, OrderChange, OrderRole, events_for, submitted_event
from core.service_layer.order_requests import OrderRequests
from core.values import ZERO, OrderRef, Side

if TYPE_CHECKING:
    from core.rules.actions import RuleContext
    from core.service_layer.trading import TradingCommandHandler

__all__ = ["CloseAllIncomplete", "OrderChange", "OrderManager", "OrderObserver", "OrderRole"]

logger = logging.getLogger(__name__)

OrderObserver = Callable[[OrderChange], None]
"""Called synchronously with every change the manager records, right after it is recorded."""

DEFAULT_CANCEL_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class _Cancel:
    order_ref: OrderRef
    reason: str


class CloseAllIncomplete(Exception):
    """Some orders of a symbol did not confirm their cancellation in time, so the position was not
    flattened (a late fill of one of them could otherwise flip it). The message names them."""


@runtime_checkable
class BrokerSource(Protocol):
    """Something that hands out a Broker, like the IBKR adapter's `TWSConnection`."""

    def as_broker(self) -> Broker:
        """The Broker port for this connection."""
        ...


def _resolve_broker(broker: Broker | BrokerSource) -> Broker:
    """The broker itself, or the one a connection hands out: the seed passes its connection
    object (`OrderManager(event_bus, tws_connection)`)."""
    if not hasattr(broker, "place_bracket") and isinstance(broker, BrokerSource):
        return broker.as_broker()
    return cast(Broker, broker)


class OrderManager:
    """Orders and brackets at one broker, their statuses and fills, published on the event bus.

    `clock` stamps the events (the broker's own `clock` when it has one, like the simulated
    broker); `ids` makes order refs (unique per run: the refs start with the clock's time).
    """

    def __init__(
        self,
        event_bus: EventBus,
        broker: Broker | BrokerSource,
        *,
        clock: Clock | None = None,
        ids: IdGenerator | None = None,
        cancel_timeout: float = DEFAULT_CANCEL_TIMEOUT,
    ) -> None:
        broker = _resolve_broker(broker)
        found = clock if clock is not None else getattr(broker, "clock", None)
        if found is None or not callable(getattr(found, "now", None)):
            raise TypeError(
                f"OrderManager needs a clock to stamp its events and {type(broker).__name__} has none: "
                "pass clock=... (adapters.system.SystemClock() for the wall clock)"
            )
        self._clock: Clock = found
        self._bus = event_bus
        self._broker = broker
        run = f"{self._clock.now():%y%m%d%H%M%S}" if ids is None else ""
        self.requests = OrderRequests(ids if ids is not None else SequentialIds(), run)
        """Builds requests with new refs (what `place_order` / `place_bracket` send)."""
        self._cancel_timeout = cancel_timeout
        self.book = OrderBook()
        """The orders, brackets and positions; the query methods below read it."""
        self._abandoned: set[OrderRef] = set()  # entries of brackets a close-all is taking down
        self._observers: list[OrderObserver] = []
        self._follow_ups: deque[_Cancel | FlattenPosition] = deque()
        self._worker: asyncio.Task[None] | None = None
        self._waiters: dict[OrderRef, list[asyncio.Future[None]]] = {}
        self._unsubscribe: Unsubscribe | None = None
        self._price_subscription: Subscription | None = None
        self._handler: TradingCommandHandler | None = None

    # -- set-up ------------------------------------------------------------------------------

    @property
    def bus(self) -> EventBus:
        return self._bus

    @property
    def broker(self) -> Broker:
        return self._broker

    @property
    def clock(self) -> Clock:
        return self._clock

    async def initialize(self) -> None:
        """Subscribe to the broker's reports (and to PriceEvents on the bus, for reference prices).
        Idempotent."""
        if self._unsubscribe is None:
            self._unsubscribe = self._broker.subscribe(self._on_broker_event)
        if self._price_subscription is None:
            self._price_subscription = self._bus.subscribe(PriceEvent, self._on_price, name="order-manager")

    async def close(self) -> None:
        """Stop following the broker, after the pending follow-ups."""
        await self.drain()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._price_subscription is not None:
            self._price_subscription.unsubscribe()
            self._price_subscription = None

    def observe(self, observer: OrderObserver) -> Unsubscribe:
        """Call `observer` synchronously with every recorded change; returns the unsubscribe."""
        self._observers.append(observer)
        return lambda: self._observers.remove(observer) if observer in self._observers else None

    def command_handler(self, context: RuleContext | None = None) -> TradingCommandHandler:
        """The trading command handler around this manager (one per manager): what a RuleEngine
        uses when its context names this manager as "order_manager" and no handler is set."""
        if self._handler is None:
            # Imported here: the handler's module builds on this one.
            from core.service_layer.trading import TradingCommandHandler

            self._handler = TradingCommandHandler.from_context(self, context or {})
        return self._handler

    # -- commands ----------------------------------------------------------------------------

    async def place_order(
        self, symbol: str, side: Side, quantity: Decimal, order_type: OrderType = OrderType.MARKET,
        limit_price: Decimal | None = None, stop_price: Decimal | None = None,
    ) -> Order:
        """Place one plain order; raises BrokerError if the broker refuses it."""
        request = self.requests.order(symbol, side, quantity, order_type, limit_price, stop_price)
        return await self.submit_order(request)

    async def submit_order(self, request: OrderRequest, role: OrderRole = OrderRole.ORDER) -> Order:
        """Send `request` and follow it. A broker refusal marks it REJECTED, publishes an
        OrderRejectedEvent and raises the BrokerError."""
        order = Order(request)
        self.book.track(order, role)
        order.apply(OrderTrigger.SUBMIT)
        self._publish([submitted_event(order, self._clock.now())])
        try:
            await self._broker.place_order(request)
        except BrokerError as exc:
            self._refused((order,), exc)
            raise
        return order

    async def place_bracket(
        self, symbol: str, side: Side, quantity: Decimal, stop_loss_price: Decimal,
        take_profit_price: Decimal, order_type: OrderType = OrderType.MARKET,
        limit_price: Decimal | None = None,
    ) -> Bracket:
        """Place entry + take profit + stop loss as one bracket; raises BrokerError if refused."""
        return await self.submit_bracket(self.requests.bracket(
            symbol, side, quantity, stop_loss_price, take_profit_price, order_type, limit_price,
        ))

    async def submit_bracket(self, request: BracketRequest) -> Bracket:
        """Send a bracket and follow its three legs (see `place_bracket`)."""
        bracket = Bracket(request)
        for order, role in zip(bracket.legs, (OrderRole.ENTRY, OrderRole.TAKE_PROFIT, OrderRole.STOP_LOSS),
                               strict=True):
            self.book.track(order, role, bracket)
        bracket.mark_submitted()
        now = self._clock.now()
        self._publish([submitted_event(order, now) for order in bracket.legs])
        try:
            await self._broker.place_bracket(request)
        except BrokerError as exc:
            self._refused(bracket.legs, exc)
            raise
        return bracket

    async def cancel_order(self, order_ref: OrderRef) -> None:
        """Ask the broker to cancel; the outcome arrives as a status report. Raises BrokerError."""
        if self.book.get_order(order_ref) is None:
            raise KeyError(f"order {order_ref!r} was not placed by this order manager")
        await self._broker.cancel_order(order_ref)

    async def cancel_all(self, symbol: str, reason: str = "cancel all") -> tuple[OrderRef, ...]:
        """Cancel every unfinished order of `symbol` (entries first, stops last) and wait until the
        broker confirms each one ended. Returns the refs asked to cancel; raises
        CloseAllIncomplete naming the orders still unconfirmed after the timeout."""
        pending = sorted(
            (order for order in self.orders(symbol) if not order.status.is_terminal),
            key=lambda order: CANCEL_RANK[self.book.role_of(order.order_ref) or OrderRole.ORDER],
        )
        for order in pending:
            bracket = self.book.bracket_of(order.order_ref)
            if bracket is not None:
                self._abandoned.add(bracket.entry.order_ref)
        asked: list[OrderRef] = []
        for order in pending:
            if order.status.is_terminal:
                continue  # ended meanwhile (a cancelled entry takes its held exits along)
            asked.append(order.order_ref)
            await self._cancel_quietly(order.order_ref, reason)
        await self._wait_ended(asked, symbol)
        return tuple(asked)

    async def flatten(self, symbol: str, reason: str = "flatten") -> Order | None:
        """Close-all for one symbol: cancel every unfinished order of it (`cancel_all`), then close
        the net position with one market order. Returns that order (None when already flat)."""
        await self.cancel_all(symbol, reason)
        net = self.net_position(symbol)
        if net == ZERO:
            return None
        side = Side.SELL if net > ZERO else Side.BUY
        request = self.requests.flatten(symbol, side, abs(net))
        logger.info("flattening %s %s %s: %s", side.value, abs(net), symbol, reason)
        return await self.submit_order(request, OrderRole.FLATTEN)

    close_all = flatten

    def request_cancel(self, order_refs: Iterable[OrderRef], reason: str) -> None:
        """Cancel these orders soon, from the follow-up task (for synchronous callers)."""
        for ref in order_refs:
            self._follow_up(_Cancel(ref, reason))

    async def drain(self) -> None:
        """Wait until every follow-up (cancels, flattening of naked shares) has been carried out."""
        while self._worker is not None and not self._worker.done():
            await asyncio.shield(self._worker)

    # -- queries (the book's) -----------------------------------------------------------------

    def get_order(self, order_ref: OrderRef) -> Order | None:
        return self.book.get_order(order_ref)

    def orders(self, symbol: str | None = None) -> list[Order]:
        """Every order placed (for `symbol`, or all), oldest first."""
        return self.book.orders(symbol)

    def working_orders(self, symbol: str | None = None) -> list[Order]:
        """Orders not finished yet (pending, submitted, held, working, partly filled)."""
        return self.book.working_orders(symbol)

    def brackets(self, symbol: str | None = None) -> list[Bracket]:
        return self.book.brackets(symbol)

    def position(self, symbol: str) -> Position:
        """The fold of this manager's fills in `symbol` (a copy)."""
        return self.book.position(symbol)

    def net_position(self, symbol: str) -> Decimal:
        """Signed shares filled in `symbol` through this manager (negative is short)."""
        return self.book.net_position(symbol)

    def positions(self) -> Mapping[str, Decimal]:
        """Signed position per symbol (flat symbols included)."""
        return self.book.positions()

    def last_price(self, symbol: str) -> Decimal | None:
        """The latest price seen for `symbol` (PriceEvents on the bus, or fills), if any."""
        return self.book.last_price(symbol)

    def net_pnl(self) -> Decimal:
        """Realized + unrealized P&L less commissions of every position this manager traded,
        marked at the last price seen (at the average price where none is known yet)."""
        total = Decimal(0)
        for symbol in self.positions():
            position = self.book.position(symbol)
            mark = self.book.last_price(symbol)
            total += position.net_pnl(mark if mark is not None else position.avg_price)
        return total

    # -- broker reports ----------------------------------------------------------------------

    def _on_broker_event(self, event: BrokerEvent) -> None:
        try:
            if isinstance(event, Fill):
                self._on_fill(event)
            elif isinstance(event, OrderStatusUpdate):
                self._on_status(event)
            elif isinstance(event, ConnectionEvent):
                logger.info("broker connection %s: %s", event.state.value, event.message)
        except (ValueError, OverFill) as exc:
            # A report our books cannot take (a fill above the ordered quantity, a stranger's
            # execution): say so loudly, keep following the others.
            logger.error("could not record the broker's report %r: %s; reconcile with the broker", event, exc)

    def _on_status(self, update: OrderStatusUpdate) -> None:
        recorded = self.book.take_status(update)
        if recorded is None:
            logger.debug("status report for an order this manager did not place: %r", update)
            return
        self._changed(recorded)

    def _on_fill(self, fill: Fill) -> None:
        recorded = self.book.take_fill(fill)
        if recorded is None:
            logger.debug("execution this manager did not place, or had already: %r", fill)
            return
        self._changed(recorded)

    def _changed(self, recorded: Recorded) -> None:
        """Publish what a report changed, tell the observers, then act on the bracket's intentions."""
        now = self._clock.now()
        book, ref, fill = self.book, recorded.order_ref, recorded.fill
        changes: list[OrderChange] = []
        pairs = zip(recorded.legs, recorded.before, strict=True)
        legs = sorted(pairs, key=lambda pair: pair[0].order_ref != ref)
        for leg, was in legs:  # the reported order first: a fill before the OCA cancel it causes
            mine = leg.order_ref == ref
            if not (mine and fill is not None) and leg.status is was:
                continue
            self._publish(events_for(leg, was, fill if mine else None, recorded.code if mine else None, now))
            symbol = leg.request.symbol
            role = book.role_of(leg.order_ref) or OrderRole.ORDER
            changes.append(OrderChange(leg.order_ref, symbol, role, leg.status, fill if mine else None,
                                       book.net_position(symbol)))
            if leg.status.is_terminal:
                for waiter in self._waiters.pop(leg.order_ref, ()):
                    if not waiter.done():
                        waiter.set_result(None)
        for change in changes:
            for observer in list(self._observers):
                try:
                    observer(change)
                except Exception:
                    logger.exception("order observer %r failed on %r", observer, change)
        if recorded.intentions:
            bracket = book.bracket_of(ref)
            assert bracket is not None  # only a bracket has intentions
            self._carry_out(bracket, recorded.intentions)

    def _refused(self, orders: Iterable[Order], error: BrokerError) -> None:
        message = f"refused by the broker: {error}"
        for order in orders:
            if not order.status.is_terminal:
                self._changed(self.book.reject(order, message, error.code))

    def _carry_out(self, bracket: Bracket, intentions: tuple[BracketIntention, ...]) -> None:
        for intention in intentions:
            if isinstance(intention, CancelLegs):
                for ref in intention.order_refs:
                    self._follow_up(_Cancel(ref, intention.reason))
            elif isinstance(intention, FlattenPosition):
                if bracket.entry.order_ref in self._abandoned:
                    logger.info("%s; the close-all of %s flattens the whole position instead",
                                intention.reason, intention.symbol)
                    continue
                logger.error("%s", intention.reason)
                self._follow_up(intention)
            # ActivateExits / ResizeExits: the broker works and sizes bracket children itself.

    # -- follow-ups --------------------------------------------------------------------------

    def _follow_up(self, what: _Cancel | FlattenPosition) -> None:
        self._follow_ups.append(what)
        if self._worker is None or self._worker.done():
            loop = asyncio.get_running_loop()
            self._worker = loop.create_task(self._run_follow_ups(), name="order-manager")

    async def _run_follow_ups(self) -> None:
        while self._follow_ups:
            what = self._follow_ups.popleft()
            try:
                if isinstance(what, _Cancel):
                    ref = what.order_ref
                    order = self.book.get_order(ref)
                    # A bracket marks an OCA sibling ended itself: make sure the broker agrees.
                    if order is not None and (not order.status.is_terminal or self.book.bracket_of(ref)):
                        await self._cancel_quietly(what.order_ref, what.reason)
                else:
                    request = self.requests.flatten(what.symbol, what.side, what.quantity)
                    await self.submit_order(request, OrderRole.FLATTEN)
            except Exception:
                logger.exception("follow-up %r failed", what)

    async def _cancel_quietly(self, ref: OrderRef, reason: str) -> None:
        try:
            await self._broker.cancel_order(ref)
        except BrokerError as exc:
            # Usually the order ended at the broker meanwhile (filled, or cancelled by OCA).
            logger.info("cancel of %s (%s) not done by the broker: %s", ref, reason, exc)

    async def _wait_ended(self, refs: list[OrderRef], symbol: str) -> None:
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[None]] = []
        for ref in refs:
            if not self._status(ref).is_terminal:
                future: asyncio.Future[None] = loop.create_future()
                self._waiters.setdefault(ref, []).append(future)
                futures.append(future)
        if not futures:
            return
        await asyncio.wait(futures, timeout=self._cancel_timeout)
        unconfirmed = [ref for ref in refs if not self._status(ref).is_terminal]
        if unconfirmed:
            raise CloseAllIncomplete(
                f"{symbol}: the broker has not confirmed the cancellation of {', '.join(unconfirmed)} "
                f"within {self._cancel_timeout:g} s, so the position was not flattened (a late fill "
                "could flip it); check these orders at the broker and close the rest by hand"
            )

    # -- helpers -----------------------------------------------------------------------------

    def _status(self, ref: OrderRef) -> OrderStatus:
        order = self.book.get_order(ref)
        assert order is not None  # only refs of the book are waited for
        return order.status

    def _on_price(self, event: PriceEvent) -> None:
        self.book.set_price(event.symbol, event.price)

    def _publish(self, events: list[Event]) -> None:
        for event in events:
            self._bus.publish_nowait(event)
