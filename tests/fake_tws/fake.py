"""`FakeTWS`: the in-process control API of the fake broker (start, stop, prices, faults, records).

    fake = FakeTWS(prices={"AAPL": 150})
    port = await fake.start()                 # 127.0.0.1, a free port
    ib = await IB().connectAsync("127.0.0.1", port, clientId=1)
    fake.set_price("AAPL", 149)               # ticks, fills, positions and account pushes
    fake.reject_next_order(201, "margin")     # the next new order is rejected
    assert fake.orders[0].status == "Filled"
    await fake.stop()

Everything runs on the caller's event loop; the control methods are synchronous and take effect
before they return (messages are queued on the sockets at once, unless a delay fault is set).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal

from tests.fake_tws.context import Context
from tests.fake_tws.control import ControlServer
from tests.fake_tws.engine import Engine
from tests.fake_tws.faults import Faults
from tests.fake_tws.feeds import AccountFeed
from tests.fake_tws.instruments import InstrumentBook, PriceLike, to_price
from tests.fake_tws.ledger import CommissionSchedule, Ledger
from tests.fake_tws.model import ExecutionRecord, OrderRecord, PositionRecord
from tests.fake_tws.pacing import PacingMeter
from tests.fake_tws.publisher import Publisher
from tests.fake_tws.registry import Registry
from tests.fake_tws.server import RecordedRequest, TwsServer

log = logging.getLogger("tests.fake_tws")
DEFAULT_ACCOUNT = "DU123456"
CONNECTIVITY_MESSAGES = {
    1100: "Connectivity between IB and Trader Workstation has been lost.",
    1101: "Connectivity between IB and Trader Workstation has been restored - data lost.",
    1102: "Connectivity between IB and Trader Workstation has been restored - data maintained.",
}


def _utc_now() -> datetime:
    return datetime.now(UTC)


class FakeTWS:
    """A fake TWS / IB Gateway for one or more paper accounts."""

    def __init__(
        self,
        *,
        accounts: list[str] | None = None,
        prices: Mapping[str, PriceLike] | None = None,
        initial_cash: PriceLike = Decimal(1_000_000),
        unknown_symbols_error: bool = False,
        commissions: CommissionSchedule | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.accounts = list(accounts or [DEFAULT_ACCOUNT])
        self.faults = Faults()
        self.instruments = InstrumentBook(prices, unknown_symbols_error)
        self.ledger = Ledger(self.accounts, to_price(initial_cash), commissions)
        self._registry = Registry()
        self._pacing = PacingMeter()
        feed = AccountFeed(self.ledger, self.instruments, clock)
        publisher = Publisher(self._registry, feed, self.faults)
        self.engine = Engine(self.accounts, self.instruments, self.ledger, self.faults, clock, publisher)
        context = Context(self.engine, self.instruments, feed, self.accounts, self.faults, clock)
        self._server = TwsServer(context, self._registry, self._pacing, clock)
        self._control = ControlServer(self)
        self._port: int | None = None
        self.control_port: int | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen for API clients; return the bound port (port 0 picks a free one)."""
        self._port = await self._server.start(host, port)
        log.info("fake TWS listening on %s:%s", host, self._port)
        return self._port

    @property
    def port(self) -> int:
        """The port clients connect to; only valid after `start`."""
        if self._port is None:
            raise RuntimeError("FakeTWS is not started; await fake.start() first")
        return self._port

    async def start_control(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Open the JSON-lines control socket (see control.py); return its port."""
        self.control_port = await self._control.start(host, port)
        return self.control_port

    async def stop(self) -> None:
        """Drop every client and stop listening (the control socket too)."""
        await self._server.stop()
        await self._control.stop()
        self._port = None
        self.control_port = None

    # -- market ----------------------------------------------------------------------------------

    def set_price(self, symbol: str, price: PriceLike) -> None:
        """Set the last price: pushes ticks, fills whatever now matches, re-marks positions."""
        self.engine.set_price(symbol, price)

    def set_unknown_symbols_error(self, enabled: bool = True) -> None:
        """When enabled, symbols not registered (by prices or `set_known_symbols`) get error 200."""
        self.instruments.unknown_symbols_error = enabled

    def set_known_symbols(self, symbols: list[str]) -> None:
        """Exactly these symbols are known (used with `set_unknown_symbols_error`)."""
        self.instruments.set_known_symbols(symbols)

    # -- faults ----------------------------------------------------------------------------------

    def reject_next_order(self, code: int = 201, reason: str = "") -> None:
        """Reject the next new order with 103, 110, 200, 201 or 202 (201 also reports Inactive)."""
        self.faults.reject_next_order(code, reason)

    def reject_order(self, order_ref: str, code: int = 201, reason: str = "") -> None:
        """Reject an order already at the fake (e.g. a live stop failing a margin check)."""
        self.engine.reject_live(order_ref, code, reason)

    def skip_next_order_status(self, count: int = 1) -> None:
        """Do not send the next `count` ORDER_STATUS messages (executions still arrive)."""
        self.faults.skip_next_order_status(count)

    def set_delay(self, seconds: float) -> None:
        """Delay every message sent to clients by `seconds` (0 turns the delay off)."""
        self.faults.set_delay(seconds)

    def set_partial_fill(self, quantity: PriceLike | None) -> None:
        """Fill at most `quantity` shares per order per matching pass (None: fill completely)."""
        self.faults.set_partial_fill(None if quantity is None else to_price(quantity))

    def drop_connections(self, client_id: int | None = None) -> int:
        """Cut one client's connection (or all), keeping all broker state; return how many."""
        return self._server.drop(client_id)

    def send_error(self, code: int, message: str = "") -> None:
        """Send an error with reqId -1 to every client, e.g. 1100 / 1101 / 1102."""
        self._server.broadcast_error(code, message or CONNECTIVITY_MESSAGES.get(code, f"error {code}"))

    # -- records ---------------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request that reached the broker: (client_id, msg_id, fields incl. the id)."""
        return list(self._server.requests)

    def requests_of(self, msg_id: int) -> list[RecordedRequest]:
        """The recorded requests with one message id (e.g. 3 for placeOrder)."""
        return [r for r in self._server.requests if r.msg_id == msg_id]

    @property
    def orders(self) -> list[OrderRecord]:
        """Every order ever placed (staged, live and done), in placement order."""
        return list(self.engine.book)

    def order(self, client_id: int, order_id: int) -> OrderRecord:
        """One order by the ids its client used; KeyError names the ids when it is unknown."""
        found = self.engine.book.get(client_id, order_id)
        if found is None:
            raise KeyError(f"no order {order_id} of client {client_id}")
        return found

    @property
    def executions(self) -> list[ExecutionRecord]:
        """Every execution, oldest first."""
        return list(self.engine.executions)

    @property
    def positions(self) -> list[PositionRecord]:
        """Every non-flat position of every account."""
        return self.ledger.positions()

    @property
    def messages_per_second_max(self) -> int:
        """The highest number of messages one client sent within one second."""
        return self._pacing.peak

    @property
    def connected_client_ids(self) -> list[int]:
        """Client ids with a live connection."""
        return sorted(s.client_id for s in self._registry.bound() if s.client_id is not None)
