"""Message sequences shared by request replies and live pushes: account data, orders, ticks."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from tests.fake_tws.connection import Session
from tests.fake_tws.faults import Faults
from tests.fake_tws.instruments import InstrumentBook
from tests.fake_tws.ledger import Ledger
from tests.fake_tws.messages import account as acct
from tests.fake_tws.messages import market
from tests.fake_tws.messages.orders import order_status
from tests.fake_tws.model import Instrument, OrderRecord, PositionRecord

log = logging.getLogger("tests.fake_tws")
TICK_SIZE = Decimal(100)


class AccountFeed:
    """Positions, portfolio and account values, marked to the current prices."""

    def __init__(self, ledger: Ledger, instruments: InstrumentBook, clock: Callable[[], datetime]) -> None:
        self._ledger = ledger
        self._instruments = instruments
        self._clock = clock

    def _values(self, account: str) -> list[tuple[str, str, str]]:
        return self._ledger.account_values(account, lambda i: self._instruments.price(i.symbol))

    def send_position(self, session: Session, position: PositionRecord) -> None:
        """One POSITION_DATA."""
        session.send(
            acct.position_data(position.account, position.instrument, position.quantity, position.avg_cost)
        )

    def send_positions(self, session: Session) -> None:
        """reqPositions: every open position of every account, then POSITION_END."""
        for position in self._ledger.positions():
            self.send_position(session, position)
        session.send(acct.position_end())

    def send_portfolio_item(self, session: Session, position: PositionRecord) -> None:
        """One PORTFOLIO_VALUE, marked at the last price (or at cost when there is none)."""
        price = self._instruments.price(position.symbol) or position.avg_cost
        session.send(
            acct.portfolio_value(
                position.account,
                position.instrument,
                position.quantity,
                price,
                position.avg_cost,
                position.realized_pnl,
            )
        )

    def send_account_download(self, session: Session, account: str) -> None:
        """reqAccountUpdates: values, every portfolio item, time, then ACCT_DOWNLOAD_END."""
        self._send_values(session, account)
        for position in self._ledger.positions(account):
            self.send_portfolio_item(session, position)
        session.send(acct.account_update_time(self._clock().strftime("%H:%M")))
        session.send(acct.account_download_end(account))

    def _send_values(self, session: Session, account: str) -> None:
        for key, value, currency in self._values(account):
            session.send(acct.account_value(key, value, currency, account))

    def send_account_multi(self, session: Session, req_id: int, account: str, download: bool) -> None:
        """reqAccountUpdatesMulti: values with the request's reqId (and on download, the END)."""
        for key, value, currency in self._values(account):
            session.send(acct.account_update_multi(req_id, account, key, value, currency))
        if download:
            session.send(acct.account_update_multi_end(req_id))

    def send_summary(self, session: Session, req_id: int, tags: set[str], accounts: list[str]) -> None:
        """reqAccountSummary: the requested tags the fake knows, per account, then the END."""
        for account in accounts:
            for key, value, currency in self._values(account):
                if key in tags:
                    session.send(acct.account_summary(req_id, account, key, value, currency))
        session.send(acct.account_summary_end(req_id))

    def push_change(self, sessions: list[Session], account: str, instrument: Instrument) -> None:
        """After a fill or a price move: positions, portfolio and values to every subscriber."""
        position = self._ledger.position(account, instrument)
        for session in sessions:
            subs = session.subscriptions
            if subs.positions:
                self.send_position(session, position)
            if subs.account_updates == account:
                # The changed item even when flat (quantity 0 removes it in ib_async), then values.
                self.send_portfolio_item(session, position)
                self._send_values(session, account)
                session.send(acct.account_update_time(self._clock().strftime("%H:%M")))
            for req_id, multi_account in subs.account_multi.items():
                if multi_account == account:
                    self.send_account_multi(session, req_id, account, download=False)


def send_order_status(session: Session, order: OrderRecord, faults: Faults) -> None:
    """One ORDER_STATUS, unless a skip fault swallows it."""
    if faults.take_skip():
        log.info("fault: skipped ORDER_STATUS %s for order %s", order.status, order.order_id)
        return
    session.send(order_status(order))


def send_ticks(session: Session, req_id: int, instrument: Instrument, price: Decimal) -> None:
    """Bid, ask and last around `price` (delayed tick types when the client asked for delayed)."""
    delayed = session.market_data_type in (3, 4)
    tick = instrument.min_tick
    for tick_type, value in ((market.BID, price - tick), (market.ASK, price + tick), (market.LAST, price)):
        wire_type = market.DELAYED[tick_type] if delayed else tick_type
        session.send(market.tick_price(req_id, wire_type, value, TICK_SIZE))
