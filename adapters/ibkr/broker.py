"""`IbkrBroker`: the Broker port on ib_async (async API only), talking to TWS / IB Gateway.

Orders are found by their `order_ref` (IB `orderRef`). Reports flow from ib_async's events:
order statuses (translated in context, see translate.py), executions (held until their commission
report, see sequencer.py), errors (errors.py) and connectivity (1100 -> LOST, 1101/1102 ->
RESTORED, a dropped socket -> DISCONNECTED, then reconnect with backoff -> RESTORED). After
RESTORED the executor reconciles through the query methods (queries.py).

Every message to TWS first takes a token from the connection's pacing budget (pacing.py):
protective orders and cancels go ahead of queries, queries ahead of new entries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal

from ib_async import Fill as IbFill
from ib_async import Trade
from ib_async.objects import CommissionReport

from adapters.ibkr import queries
from adapters.ibkr.config import TWSConfig
from adapters.ibkr.connection import TWSConnection
from adapters.ibkr.errors import CONNECTIVITY_CODES, ProblemKind, broker_error, describe
from adapters.ibkr.market_data import IbkrMarketData
from adapters.ibkr.pacing import Priority, priority_of
from adapters.ibkr.reconnect import Backoff, reconnect
from adapters.ibkr.sequencer import DEFAULT_COMMISSION_WAIT, EventSequencer
from adapters.ibkr.translate import decimal_of, fill_from_ib, status_update, to_ib_order, to_ib_orders
from adapters.system import SystemClock
from core.broker_events import (
    AccountSnapshot,
    BrokerEvent,
    BrokerOrder,
    BrokerPosition,
    ConnectionEvent,
    ConnectionState,
    Fill,
)
from core.order_status import OrderStatus
from core.orders import BracketRequest, OrderRequest
from core.ports import BrokerListener, Clock, Unsubscribe
from core.values import ZERO, OrderRef

log = logging.getLogger(__name__)
DUPLICATE = 103
NOT_FOUND = 10147
NOT_CANCELLABLE = 10148
PACING_VIOLATION = 100
DEFAULT_BACKOFF = Backoff()
_DONE_IB = frozenset({"Filled", "Cancelled", "ApiCancelled", "Inactive"})


class IbkrBroker:
    """An IB account through TWS, as the core's Broker port."""

    def __init__(
        self,
        config: TWSConfig | None = None,
        *,
        connection: TWSConnection | None = None,
        backoff: Backoff | None = DEFAULT_BACKOFF,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        commission_wait: float = DEFAULT_COMMISSION_WAIT,
        clock: Clock | None = None,
    ) -> None:
        self.connection = connection or TWSConnection(config)
        self.clock: Clock = clock or SystemClock()
        self._market_data: IbkrMarketData | None = None
        """What stamps events made from this broker's reports (the OrderManager reads it)."""
        self._ib = self.connection.ib
        self._backoff = backoff
        self._sleep = sleep
        self._commission_wait = commission_wait
        self._listeners: list[BrokerListener] = []
        self._sequencer = EventSequencer(self._deliver, commission_wait)
        self._reported: dict[str, tuple[OrderStatus, Decimal]] = {}
        self._placed: set[str] = set()
        self._closing = True
        self._reconnecting: asyncio.Task[None] | None = None
        self.pacing_errors = 0
        self.problems: list[str] = []  # every IB error explained, newest last (for logs and tests)
        ib = self._ib
        ib.orderStatusEvent += self._on_order_status
        ib.execDetailsEvent += self._on_execution
        ib.commissionReportEvent += self._on_commission
        ib.errorEvent += self._on_error
        ib.disconnectedEvent += self._on_disconnected

    # -- connection ----------------------------------------------------------------------------

    @property
    def account(self) -> str:
        return self.connection.account

    async def connect(self) -> None:
        """Connect, or raise BrokerError saying why (326: pick another TWS_CLIENT_ID; refused:
        start TWS/Gateway and enable the API on that port)."""
        await self.connection.open()
        self._closing = False  # from now on a dropped connection is unexpected: reconnect
        connected = f"connected to TWS as {self.account}"
        self._sequencer.push(ConnectionEvent(ConnectionState.CONNECTED, connected))

    async def disconnect(self) -> None:
        """Disconnect (no reconnect follows); safe when not connected."""
        self._closing = True
        if self._reconnecting is not None:
            self._reconnecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reconnecting
            self._reconnecting = None
        self.connection.disconnect()

    def is_connected(self) -> bool:
        return self.connection.is_connected()

    def market_data(self) -> IbkrMarketData:
        """Prices and bars over this broker's connection (one per broker)."""
        if self._market_data is None:
            self._market_data = IbkrMarketData(self.connection)
        return self._market_data

    def subscribe(self, listener: BrokerListener) -> Unsubscribe:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    async def sync(self) -> None:
        """Return once everything TWS sent before now has been processed and delivered (a time
        request as a barrier, then any fill still waiting for its commission report)."""
        if not self.is_connected():
            return
        await self.connection.current_time()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._commission_wait + 1.0
        while self._sequencer.pending and loop.time() < deadline:
            await asyncio.sleep(0.002)

    # -- orders ----------------------------------------------------------------------------------

    async def place_bracket(self, bracket: BracketRequest) -> None:
        """Entry + take profit + stop as one transmitted family (3 messages, entry priority)."""
        refs = [leg.order_ref for leg in bracket.legs]
        self.connection.require_connection("place a bracket", refs[0])
        self._reserve(refs)
        try:
            contract = await self.connection.contract(bracket.symbol)
            await self.connection.budget.acquire(3, Priority.ENTRY)
            self.connection.require_connection("place a bracket", refs[0])
        except BaseException:
            self._placed.difference_update(refs)
            raise
        ids = [self._ib.client.getReqId() for _ in refs]
        for ib_order in to_ib_orders(bracket, ids, self.connection.config.account):
            self._ib.placeOrder(contract, ib_order)

    async def place_order(self, order: OrderRequest) -> None:
        """One order; a child of an existing parent (a rebuilt exit) is linked by parentId."""
        self.connection.require_connection("place an order", order.order_ref)
        self._reserve([order.order_ref])
        try:
            contract = await self.connection.contract(order.symbol)
            parent_id = self._parent_id(order)
            await self.connection.budget.acquire(1, priority_of(order, self._position(order.symbol)))
            self.connection.require_connection("place an order", order.order_ref)
        except BaseException:
            self._placed.discard(order.order_ref)
            raise
        order_id = self._ib.client.getReqId()
        ib_order = to_ib_order(order, order_id, parent_id=parent_id, account=self.connection.config.account)
        self._ib.placeOrder(contract, ib_order)

    async def cancel_order(self, order_ref: OrderRef) -> None:
        """Ask TWS to cancel; the outcome arrives as a status update (protective priority)."""
        self.connection.require_connection("cancel", order_ref)
        trades = self._trades(order_ref)
        if not trades:
            raise broker_error(NOT_FOUND, "no order with this order_ref is known to TWS in this session",
                               order_ref)
        live = [t for t in trades if t.orderStatus.status not in _DONE_IB]
        if not live:
            ended = trades[-1].orderStatus.status
            raise broker_error(NOT_CANCELLABLE, f"the order is already {ended}", order_ref)
        await self.connection.budget.acquire(1, Priority.PROTECTIVE)
        self.connection.require_connection("cancel", order_ref)
        self._ib.cancelOrder(live[-1].order)

    def _reserve(self, refs: Sequence[str]) -> None:
        known = self._placed | {t.order.orderRef for t in self._ib.trades() if t.order.orderRef}
        clash = [ref for ref in refs if ref in known] or [r for r in refs if refs.count(r) > 1]
        if clash:
            raise broker_error(DUPLICATE, f"order_ref {clash[0]} is already used at TWS; nothing was placed",
                               clash[0])
        self._placed.update(refs)

    def _trades(self, order_ref: str) -> list[Trade]:
        return [t for t in self._ib.trades() if t.order.orderRef == order_ref]

    def _parent_id(self, order: OrderRequest) -> int:
        if order.parent_ref is None:
            return 0
        mine = [t for t in self._trades(order.parent_ref)
                if t.order.clientId == self.connection.config.client_id and t.order.orderId > 0]
        if not mine:
            log.warning("order %s: parent %s was not placed by this client id; placing it unlinked (its OCA "
                        "group still ties it to its sibling)", order.order_ref, order.parent_ref)
            return 0
        return int(mine[-1].order.orderId)

    def _position(self, symbol: str) -> Decimal:
        return sum((decimal_of(p.position, "position") for p in self._ib.positions()
                    if p.contract.symbol == symbol), ZERO)

    # -- queries ---------------------------------------------------------------------------------

    async def open_orders(self) -> Sequence[BrokerOrder]:
        return await queries.open_orders(self.connection)

    async def completed_orders(self) -> Sequence[BrokerOrder]:
        last = {ref: status for ref, (status, _) in self._reported.items()}
        return await queries.completed_orders(self.connection, last)

    async def executions(self) -> Sequence[Fill]:
        return await queries.executions(self.connection)

    async def positions(self) -> Sequence[BrokerPosition]:
        return queries.positions(self.connection)

    async def account_summary(self) -> AccountSnapshot:
        return queries.account_summary(self.connection)

    # -- ib_async events -------------------------------------------------------------------------

    def _deliver(self, event: BrokerEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # one faulty listener must not starve the others of reports
                log.exception("broker listener %r failed on %r", listener, event)

    def _report(self, trade: Trade) -> None:
        update = status_update(trade, queries.parent_is_open(trade, self._ib.trades()))
        if update is None:
            return
        key = (update.status, update.filled)
        previous = self._reported.get(update.order_ref)
        if previous == key or (previous is not None and previous[0].is_terminal):
            return  # a repeat, or a late report about an order that has ended
        self._reported[update.order_ref] = key
        self._sequencer.push(update)

    def _on_order_status(self, trade: Trade) -> None:
        self._report(trade)
        if trade.orderStatus.status == "Filled":
            # Children held for this parent are live now, though IB sends nothing for an
            # untriggered stop: say so.
            parent = trade.order
            for child in self._ib.trades():
                if child.order.parentId == parent.orderId and child.order.clientId == parent.clientId:
                    self._report(child)

    def _on_execution(self, trade: Trade, fill: IbFill) -> None:
        if fill.execution.orderRef:
            self._sequencer.fill_arrived(fill_from_ib(fill, commission=0.0))

    def _on_commission(self, trade: Trade, fill: IbFill, report: CommissionReport) -> None:
        self._sequencer.commission_arrived(report.execId, decimal_of(report.commission, "commission"))

    def _on_error(self, req_id: int, code: int, text: str, contract: object) -> None:
        client_id = self.connection.config.client_id
        trades = [t for t in self._ib.trades()
                  if req_id > 0 and t.order.orderId == req_id and t.order.clientId == client_id]
        ref = trades[0].order.orderRef if trades else None
        problem = describe(code, text, ref or None)
        if problem.kind is ProblemKind.INFO:
            log.info("%s", problem.message)
            return
        self.problems.append(problem.message)
        if code == PACING_VIOLATION:
            self.pacing_errors += 1
            log.error("%s", problem.message)
        elif code in CONNECTIVITY_CODES:
            state = ConnectionState.LOST if code == 1100 else ConnectionState.RESTORED
            self._sequencer.push(ConnectionEvent(state, problem.message))
        else:
            log.warning("%s", problem.message)

    def _on_disconnected(self) -> None:
        self._sequencer.release_all()
        planned = self._closing
        why = "disconnected from TWS" if planned else "TWS dropped the connection"
        self._sequencer.push(ConnectionEvent(ConnectionState.DISCONNECTED, why))
        if not planned and self._backoff is not None and self._reconnecting is None:
            self._reconnecting = asyncio.ensure_future(self._reconnect(self._backoff))

    async def _reconnect(self, backoff: Backoff) -> None:
        try:
            attempts = await reconnect(self.connection.open, backoff, self._sleep, lambda: self._closing)
        finally:
            self._reconnecting = None
        if attempts is None:
            if not self._closing:
                self._sequencer.push(ConnectionEvent(
                    ConnectionState.DISCONNECTED, "gave up reconnecting to TWS; restart the executor"))
            return
        back = f"reconnected to TWS after {attempts} attempt(s); reconcile before trading"
        self._sequencer.push(ConnectionEvent(ConnectionState.RESTORED, back))

