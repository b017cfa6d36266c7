"""`TWSConnection`: one ib_async `IB` client connected to TWS / IB Gateway, with the pacing budget
every message goes through. The seed's names: `connect()` (-> bool), `disconnect()`,
`request_current_time()`, plus `is_connected()`.

    connection = TWSConnection(TWSConfig.from_env())
    if await connection.connect():
        print(await connection.request_current_time())
        connection.disconnect()

The Broker and MarketData adapters share one connection. `open()` is `connect()` that raises a
`BrokerError` saying why (refused connection, client id in use, wrong account, timeout).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from typing import TYPE_CHECKING

from ib_async import IB, Contract

from adapters.ibkr.config import TWSConfig
from adapters.ibkr.errors import broker_error, client_id_in_use, refused_connection
from adapters.ibkr.pacing import PacingBudget, Priority
from adapters.ibkr.translate import to_ib_contract
from core.ports import BrokerError

if TYPE_CHECKING:
    from adapters.ibkr.broker import IbkrBroker

log = logging.getLogger(__name__)

# What IB.connectAsync sends (spec §4): startApi, reqPositions, reqOpenOrders, reqCompletedOrders,
# reqAccountUpdates, one reqAccountUpdatesMulti per account (one here), reqExecutions; plus the
# handshake frame. Counted up front so the connect burst stays inside the budget.
CONNECT_MESSAGES = 8
CLIENT_ID_IN_USE = 326
UNKNOWN_SYMBOL = 200


class TWSConnection:
    """A connection to TWS: connect, disconnect, current time, contracts, the pacing budget."""

    def __init__(self, config: TWSConfig | None = None, *, budget: PacingBudget | None = None) -> None:
        self.config = config or TWSConfig()
        self.budget = budget or PacingBudget()
        self.ib = IB()
        self.last_error: BrokerError | None = None
        self._contracts: dict[str, Contract] = {}
        self._lookups: dict[str, asyncio.Future[Contract]] = {}
        self._connect_errors: list[tuple[int, str]] = []
        self._refused = asyncio.Event()
        self._broker: IbkrBroker | None = None

    # -- the seed's API --------------------------------------------------------------------------

    async def connect(self) -> bool:
        """Connect; True on success. On failure `last_error` says why (and it is logged)."""
        try:
            await self.open()
        except BrokerError as error:
            self.last_error = error
            log.error("%s", error)
            return False
        return True

    def disconnect(self) -> None:
        """Disconnect; safe when not connected."""
        self.ib.disconnect()

    def is_connected(self) -> bool:
        """Whether the API connection is up (handshake done)."""
        return bool(self.ib.isConnected())

    def as_broker(self) -> IbkrBroker:
        """The Broker port over this connection (one per connection), so the seed's
        `OrderManager(event_bus, tws_connection)` works unchanged."""
        if self._broker is None:
            from adapters.ibkr.broker import IbkrBroker  # the broker module imports this one

            self._broker = IbkrBroker(connection=self)
        return self._broker

    def request_current_time(self) -> asyncio.Task[datetime]:
        """Ask TWS for its time. Returns a task: await it for the (UTC) time, or ignore it (as the
        seed's example does; a failure is then logged, not lost)."""
        task = asyncio.ensure_future(self.current_time())
        task.add_done_callback(_log_failure)
        return task

    # -- for the adapters ------------------------------------------------------------------------

    async def open(self) -> None:
        """Connect, or raise BrokerError saying what was wrong and what to do."""
        if self.is_connected():
            return
        config = self.config
        self._connect_errors = []
        self.ib.errorEvent += self._on_connect_error
        try:
            await self.budget.acquire(CONNECT_MESSAGES, Priority.QUERY, record=False)
            await self._connect_unless_refused()
            self.budget.charge(CONNECT_MESSAGES)  # sent over the handshake: counted as it ends
        except ConnectionRefusedError as error:
            raise refused_connection(config.host, config.port, str(error) or "connection refused") from None
        except (TimeoutError, ConnectionError, OSError) as error:
            if any(code == CLIENT_ID_IN_USE for code, _ in self._connect_errors):
                raise client_id_in_use(config.client_id) from None
            if isinstance(error, OSError) and not isinstance(error, ConnectionError | TimeoutError):
                raise refused_connection(config.host, config.port, str(error)) from None
            raise BrokerError(
                f"TWS at {config.host}:{config.port} did not complete the API handshake within "
                f"{config.timeout:g} s ({type(error).__name__}: {error}); check that the API is enabled in "
                "TWS, that no dialog is waiting in TWS, and that the port is TWS's API port (7497 paper, "
                "4002 Gateway)",
                code=502,
            ) from None
        finally:
            self.ib.errorEvent -= self._on_connect_error
        accounts = self.accounts
        if config.account and config.account not in accounts:
            self.ib.disconnect()
            raise BrokerError(
                f"TWS does not manage account {config.account!r} "
                f"(it manages {', '.join(accounts) or 'none'}); "
                "set TWS_ACCOUNT to one of them, or leave it empty when there is one",
                code=321,
            )
        self.last_error = None

    async def _connect_unless_refused(self) -> None:
        """ib_async's connect, cut short when TWS answers 326 (it would otherwise wait for its
        timeout after TWS has hung up)."""
        config = self.config
        self._refused = asyncio.Event()
        connecting = asyncio.ensure_future(self.ib.connectAsync(
            config.host, config.port, clientId=config.client_id, timeout=config.timeout,
            account=config.account,
        ))
        refused = asyncio.ensure_future(self._refused.wait())
        try:
            await asyncio.wait({connecting, refused}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            refused.cancel()
        if not connecting.done():
            connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError, TimeoutError, OSError):
                await connecting
            self.ib.disconnect()
            raise ConnectionError(f"TWS refused client id {config.client_id}")
        connecting.result()

    def _on_connect_error(self, req_id: int, code: int, text: str, contract: object) -> None:
        self._connect_errors.append((code, text))
        if code == CLIENT_ID_IN_USE:
            self._refused.set()

    @property
    def accounts(self) -> list[str]:
        """The accounts TWS manages (after connect)."""
        return [a for a in self.ib.client.getAccounts() if a]

    @property
    def account(self) -> str:
        """The configured account, or the only managed one."""
        if self.config.account:
            return self.config.account
        accounts = self.accounts
        return accounts[0] if accounts else ""

    def require_connection(self, what: str, order_ref: str | None = None) -> None:
        """BrokerError unless connected."""
        if not self.is_connected():
            where = f"order {order_ref}: " if order_ref else ""
            raise BrokerError(
                f"{where}cannot {what}: not connected to TWS at {self.config.host}:{self.config.port}; "
                "connect first (and check that TWS is running)",
                code=504, order_ref=order_ref,
            )

    async def current_time(self) -> datetime:
        """TWS's current time (one round trip; also a barrier: everything TWS sent before it has
        been processed when this returns)."""
        self.require_connection("ask TWS for its time")
        await self.budget.acquire(1, Priority.QUERY)
        return await self.ib.reqCurrentTimeAsync()

    async def contract(self, symbol: str) -> Contract:
        """The qualified stock contract of `symbol` (cached); BrokerError 200 if IB does not know it."""
        cached = self._contracts.get(symbol)
        if cached is not None:
            return cached
        # Concurrent callers for one symbol share one lookup (one message, not one per order).
        pending = self._lookups.get(symbol)
        if pending is None:
            pending = self._lookups[symbol] = asyncio.ensure_future(self._look_up(symbol))
            pending.add_done_callback(lambda _: self._lookups.pop(symbol, None))
        return await asyncio.shield(pending)

    async def _look_up(self, symbol: str) -> Contract:
        self.require_connection(f"look up {symbol}")
        await self.budget.acquire(1, Priority.QUERY)
        found = await self.ib.qualifyContractsAsync(to_ib_contract(symbol))
        contract = found[0] if found else None
        if not isinstance(contract, Contract) or not contract.conId:
            raise broker_error(UNKNOWN_SYMBOL, f"No security definition has been found for {symbol}")
        self._contracts[symbol] = contract
        return contract


def _log_failure(task: asyncio.Task[datetime]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("current time request failed: %s", task.exception())
