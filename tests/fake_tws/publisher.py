"""Turns engine events into wire messages for the clients that should hear them.

Order messages go to the connection bound to the order's client id (nothing is sent while that
client is away; it catches up through reqOpenOrders / reqExecutions / reqCompletedOrders).
Position, portfolio and account messages go to every connection subscribed to them. A fill is sent
in the order of tws_protocol.md §9.4: EXECUTION_DATA (reqId -1), OPEN_ORDER when complete,
ORDER_STATUS, COMMISSION_REPORT, then the subscription pushes.
"""

from __future__ import annotations

from tests.fake_tws.bars import updated_bar
from tests.fake_tws.events import (
    EngineEvent,
    Filled,
    OrderChanged,
    OrderError,
    PortfolioChanged,
    PriceChanged,
    WhatIfAnswered,
)
from tests.fake_tws.faults import Faults
from tests.fake_tws.feeds import AccountFeed, send_order_status, send_ticks
from tests.fake_tws.messages import market, system
from tests.fake_tws.messages import orders as msg
from tests.fake_tws.model import Status
from tests.fake_tws.registry import Registry

LIVE_FILL = -1


class Publisher:
    """The engine's event sink."""

    def __init__(self, registry: Registry, accounts: AccountFeed, faults: Faults) -> None:
        self._registry = registry
        self._accounts = accounts
        self._faults = faults

    def __call__(self, event: EngineEvent) -> None:
        """Send what `event` means on the wire."""
        match event:
            case OrderChanged(order, with_open_order):
                owner = self._registry.holder(order.client_id)
                if owner is not None:
                    if with_open_order:
                        owner.send(msg.open_order(order))
                    send_order_status(owner, order, self._faults)
            case OrderError(client_id, order_id, code, message):
                owner = self._registry.holder(client_id)
                if owner is not None:
                    owner.send(system.error(order_id, code, message))
            case Filled(order, execution):
                owner = self._registry.holder(order.client_id)
                if owner is not None:
                    owner.send(msg.execution_data(LIVE_FILL, execution))
                    if order.status == Status.FILLED:
                        owner.send(msg.open_order(order))
                    send_order_status(owner, order, self._faults)
                    owner.send(msg.commission_report(execution))
            case PortfolioChanged(account, instrument):
                self._accounts.push_change(self._registry.bound(), account, instrument)
            case PriceChanged(instrument, price):
                for session in self._registry.bound():
                    subs = session.subscriptions
                    for req_id, con_id in subs.tickers.items():
                        if con_id == instrument.con_id:
                            send_ticks(session, req_id, instrument, price)
                    for req_id, stream in subs.bars.items():
                        if stream.con_id == instrument.con_id:
                            stream.last_bar = updated_bar(stream.last_bar, price)
                            session.send(market.historical_data_update(req_id, stream.last_bar))
            case WhatIfAnswered(client_id, order, estimate):
                owner = self._registry.holder(client_id)
                if owner is not None:
                    owner.send(msg.open_order(order, estimate))
