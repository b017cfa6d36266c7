"""`ExecutorRun`: one run of the local executor, wiring journal + broker + `ExecutorService` +
`CloudLink`, plus the order-file downloads, the kill switch and the simulated market.

Order of work for a batch: the link hands it over -> `service.receive_and_prepare` journals it
(when it can be placed at once, with its brackets gated and `sending`, in the same transaction)
-> the `ack` goes out -> the worker places it (`place_pending`: the broker calls) -> the status
reports go out as they are journaled. The order file is downloaded once batches stop coming for a
moment. The broker may be away (TWS not started): batches are still journaled and acknowledged,
and placed once the broker is connected and reconciled.

The kill switch: `tradebridge executor halt` writes HALTED into the journal file; this run polls the
journal's persisted state twice a second and calls `service.halt` (cancel working entries, keep
stops). SIGUSR1 halts too. `resume-trading` writes ACTIVE; this run then resumes and places what
waited.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import time
from collections.abc import Sequence
from dataclasses import replace

from adapters.journal import SqliteJournal
from adapters.system import RandomIds, SystemClock
from adapters.wire import messages
from core.journal import LegRecord, Placement, StatusReport, TradingStateRecord
from core.orders import BracketRequest
from core.ports import Broker, BrokerError
from core.service_layer.executor.intake import IntakeOutcome
from core.service_layer.executor.service import ExecutorService
from core.service_layer.executor.settings import ExecutorSettings
from core.values import TradingState
from entrypoints.executor.crash import CrashHook
from entrypoints.executor.downloads import OrderFiles
from entrypoints.executor.limits import describe
from entrypoints.executor.link import Backoff, CloudLink, TokenRefused
from entrypoints.executor.options import (
    EXIT_OK,
    EXIT_TOKEN_REFUSED,
    ExecutorOptions,
    default_sim_state,
)
from entrypoints.executor.progress import ProgressLog, StoredLog
from entrypoints.executor.sim import DurableSimulatedBroker, RandomWalkMarket

logger = logging.getLogger("tradebridge.executor")

HALT_POLL_SECONDS = 0.5
DOWNLOAD_QUIET_SECONDS = 0.5  # order files are fetched once no batch came or was placed for this long,
DOWNLOAD_LATEST_SECONDS = 5.0  # or this long after their batch came, whatever comes first
PLACED_LINE_SECONDS = 0.5  # at most one "batch X: k/n placed" line this often, besides the last one


EXIT_CLIENT_ID_IN_USE = 4
CLIENT_ID_IN_USE = 326  # TWS: another API connection holds this client id
# Container objects allocated (net) between two collections of the youngest generation; Python's
# default is 700. A 20-order batch keeps a few thousand objects alive for a while (its events,
# records and reports): at 700 each was walked by two or three young collections, then again in the
# middle generation (~4% of the executor's instructions per batch); at 20000 a young collection
# walks a few batches' survivors once (-1.5% instructions; a pass takes ~1 ms every few batches).
# The older generations keep Python's defaults, so cyclic garbage is still collected as before.
YOUNG_GC_THRESHOLD = 20_000


def _freeze_startup_objects() -> None:
    """What was built so far (modules, the journal's and the simulated broker's records) lives as
    long as the process: kept out of the collector's full passes, which walked it all again in the
    middle of placing a batch (~30 ms each). Young collections come less often from then on
    (`YOUNG_GC_THRESHOLD`)."""
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_GC_THRESHOLD, middle, oldest)


class IbkrUnavailable(RuntimeError):
    """The IBKR adapter cannot be imported."""


class ClientIdInUse(RuntimeError):
    """TWS refused the connection: another program is connected with this TWS_CLIENT_ID. Not retried:
    two executors on one client id would see (and reconcile against) each other's orders."""


class ExecutorRun:
    """One executor process's work (see the module docstring)."""

    def __init__(self, options: ExecutorOptions, crash: CrashHook | None = None) -> None:
        self.options = options
        self._crash = crash or CrashHook.from_env()
        self._wake = asyncio.Event()
        self._place_wanted = False
        self._stop = asyncio.Event()
        self._progress = ProgressLog()
        self._stored = StoredLog()
        # The legs written since the progress lines were last logged, and the orders open at the
        # broker (for `executor_status`): kept up to date from the journal's changed legs, rather
        # than recounted over every leg ever journaled on each step.
        self._unlogged: dict[str, LegRecord] = {}
        self._open_orders: set[str] = set()
        # Order files wait until batches stop coming for a moment (see `_download_files`): fetching
        # one (the cloud builds it, the executor writes it) must not compete with placing and
        # reporting, here and at the cloud, for the CPU.
        self._files_due: list[tuple[float, messages.OrderFile]] = []  # (when it came, the file)
        self._files_waiting = asyncio.Event()
        self._busy_at = float("-inf")  # loop time of the last batch received or placed
        self._placed_count: dict[str, tuple[int, int]] = {}  # batch -> (placed, orders)
        self._placed_logged = float("-inf")  # when the last "k/n placed" line was logged
        self._files = OrderFiles(options.api_url, options.token, options.download_dir, options.ca_file)
        self.journal = SqliteJournal(options.journal)
        self.market: RandomWalkMarket | None = None
        self._configured_account = ""
        self.broker: Broker = self._broker()
        self.service = ExecutorService(
            self.journal,
            self.broker,
            SystemClock(),
            RandomIds(),
            ExecutorSettings(limits=options.limits),
            wake=self._wake.set,
        )
        self.account = options.account or (
            self.broker.account if options.simulate else self._configured_account
        )
        self.link: CloudLink | None = None
        self._halt_record = self.journal.trading_state()

    # -- building -------------------------------------------------------------------------------

    def _broker(self) -> Broker:
        options = self.options
        if options.simulate:
            path = options.sim_state or default_sim_state(options.journal)
            simulated = DurableSimulatedBroker(  # fsync off: it must outlive this process, not a power loss
                SystemClock(), path, options.account, self._crash, on_placed=self._placed, fsync=False
            )
            self.market = RandomWalkMarket(
                simulated,
                options.sim_seed,
                options.sim_tick_seconds,
                options.sim_step_pct,
                on_tick=self._wake.set,
            )
            return simulated
        try:
            from adapters.ibkr import IbkrBroker, TWSConfig
        except ImportError as error:
            raise IbkrUnavailable(
                f"IBKR adapter not available ({error}); run with --simulate, or install "
                "tradebridge with its IBKR adapter"
            ) from None
        config = TWSConfig.from_env()
        if options.account and not config.account:
            config = replace(config, account=options.account)
        self._configured_account = config.account
        crash = self._crash

        class IbkrBrokerWithCrashPoints(IbkrBroker):
            """The crash tests' `before_broker` / `after_broker` points around each bracket."""

            async def place_bracket(self, bracket: BracketRequest) -> None:
                crash.reached("before_broker")
                await super().place_bracket(bracket)
                crash.reached("after_broker")

        return IbkrBrokerWithCrashPoints(config)

    # -- the run --------------------------------------------------------------------------------

    async def run(self) -> int:
        """Run until SIGINT/SIGTERM; the exit status (3: the token was refused)."""
        options = self.options
        logger.info(
            "tradebridge executor starting: cloud %s, %s, journal %s, downloads %s",
            options.api_url,
            "SIMULATED broker" if options.simulate else "IBKR (TWS)",
            options.journal,
            options.download_dir,
        )
        logger.info("local risk limits: %s", describe(options.limits))
        if self._halt_record.state is TradingState.HALTED:
            logger.warning(
                "trading is HALTED (%s): nothing new is placed until `tradebridge executor resume-trading`",
                self._halt_record.reason or "kill switch",
            )
        _freeze_startup_objects()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self._stop.set)
        loop.add_signal_handler(signal.SIGUSR1, lambda: asyncio.ensure_future(self._halt("SIGUSR1")))
        tasks: list[asyncio.Task[object]] = [
            asyncio.create_task(self._connect_broker(), name="broker"),
            asyncio.create_task(self._work(), name="worker"),
            asyncio.create_task(self._watch_kill_switch(), name="kill-switch"),
            asyncio.create_task(self._download_files(), name="downloads"),
        ]
        if self.market is not None:
            tasks.append(asyncio.create_task(self.market.run(), name="market"))
        link_task: asyncio.Task[object] | None = None
        if self.account:
            link_task = self._start_link()
        else:
            logger.info(
                "the account is not known yet: connecting to the cloud once the broker says it "
                "(set TWS_ACCOUNT or --account to connect at once)"
            )
        stop = asyncio.create_task(self._stop.wait(), name="stop")
        try:
            while True:
                watched = [stop, *tasks] + ([link_task] if link_task else [])
                done, _ = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
                if stop in done:
                    logger.info("stopping (signal received)")
                    return EXIT_OK
                for task in done:
                    error = task.exception()
                    if isinstance(error, TokenRefused):
                        logger.error("%s. Stopping: a refused token is not retried.", error)
                        return EXIT_TOKEN_REFUSED
                    if isinstance(error, ClientIdInUse):
                        logger.error("%s", error)
                        return EXIT_CLIENT_ID_IN_USE
                    if error is not None:
                        raise error
                    if task.get_name() == "broker":
                        tasks.remove(task)
                        if link_task is None:
                            self.account = self.account or self.broker.account
                            link_task = self._start_link()
        finally:
            for task in [stop, *tasks] + ([link_task] if link_task else []):
                task.cancel()
            for task in [*tasks] + ([link_task] if link_task else []):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await self._close()

    def _start_link(self) -> asyncio.Task[object]:
        crash = self._crash  # called once per report sent: only when the crash tests armed the point
        before_report = (lambda: crash.reached("before_report")) if crash.armed("before_report") else None
        self.link = CloudLink(
            self.options.api_url,
            self.options.token,
            self.account,
            self,
            ca_file=self.options.ca_file,
            backoff=Backoff(),
            status_every=self.options.status_every,
            before_report=before_report,
        )
        return asyncio.create_task(self.link.run(), name="link")

    async def _close(self) -> None:
        await self._files.cancel()
        self.service.close()
        with contextlib.suppress(Exception):
            await self.broker.disconnect()
        self.journal.close()
        logger.info("executor stopped; the journal keeps everything for the next start")

    async def _connect_broker(self) -> None:
        """Connect and reconcile, retrying with backoff while TWS is away or its answers fail
        (HALTED meanwhile: batches are journaled and acknowledged, not placed); then place."""
        backoff, attempt = Backoff(initial=1.0, maximum=30.0), 0
        while True:
            try:
                if not self.broker.is_connected():
                    await self.broker.connect()
                    logger.info(
                        "broker connected (account %s); reconciling the journal with the broker",
                        self.broker.account,
                    )
                decided = self._decided() if self._crash.armed("after_place") else 0
                plan = await self.service.start()  # also places what waited for reconciliation
                break
            except BrokerError as error:
                if error.code == CLIENT_ID_IN_USE:
                    raise ClientIdInUse(
                        f"{error}. Stopping: a client id in use is not retried (each executor needs "
                        "its own TWS_CLIENT_ID)"
                    ) from None
                delay = backoff.delay(attempt, 0.5)
                attempt += 1
                logger.warning(
                    "broker unreachable or not answering (%s); trading stays HALTED; retrying in %.1fs "
                    "(attempt %d)",
                    error,
                    delay,
                    attempt,
                )
                await asyncio.sleep(delay)
        summary = (
            f"{len(plan.confirm_sent)} confirmed, {len(plan.adopt_fills)} missed fills adopted, "
            f"{len(plan.place_brackets)} brackets and {len(plan.place_orders)} orders placed, "
            f"{len(plan.cancel_orders)} cancelled"
        )
        logger.info(
            "reconciled with the broker: %s; trading state %s", summary, self.service.trading_state.value
        )
        _freeze_startup_objects()  # the journal's records, as loaded to reconcile
        if self._crash.armed("after_place") and self._decided() > decided:
            self._crash.reached("after_place")  # batches that arrived before the broker was ready were placed
        self._after_step()
        self._place_wanted = True
        self._wake.set()

    # -- the worker -----------------------------------------------------------------------------

    async def _work(self) -> None:
        """Place what was received and handle the broker's events, one step at a time."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._place_wanted:
                self._place_wanted = False
                # Counting goes through every leg ever journaled: only for the crash tests.
                watched = self._crash.armed("after_place")
                waiting = self._unsent() if watched else 0
                await self.service.place_pending()
                if watched and self._unsent() < waiting:  # something was placed (or refused) just now
                    self._crash.reached("after_place")
                self._busy_at = asyncio.get_running_loop().time()
            elif self.service.events_waiting:
                await self.service.pump()
            if self.link is not None:
                # The step's reports are journaled: the link sends them (a turn of the event loop)
                # before the progress lines are counted and logged.
                self.link.reports_changed()
                await asyncio.sleep(0)
            self._after_step(reports=False)

    async def _download_files(self) -> None:
        """Start the order files' downloads once no batch has come or been placed for
        DOWNLOAD_QUIET_SECONDS (or DOWNLOAD_LATEST_SECONDS after the file's batch came, under a
        steady stream of batches): the files are for people, placing and reporting go first."""
        loop = asyncio.get_running_loop()
        while True:
            await self._files_waiting.wait()
            self._files_waiting.clear()
            while self._files_due:
                quiet = self._busy_at + DOWNLOAD_QUIET_SECONDS
                start = min(quiet, self._files_due[0][0] + DOWNLOAD_LATEST_SECONDS)
                if start > loop.time():
                    await asyncio.sleep(start - loop.time())
                    continue
                due, self._files_due = self._files_due, []
                for _, file in due:
                    self._files.download(file)

    def _unsent(self) -> int:
        """Legs not sent yet: pending, or journaled `sending` ahead of their broker call."""
        waiting = (Placement.PENDING, Placement.SENDING)
        return sum(1 for leg in self.journal.legs() if leg.placement in waiting)

    def _decided(self) -> int:
        return sum(1 for leg in self.journal.legs() if leg.placement is not Placement.PENDING)

    def _after_step(self, reports: bool = True) -> None:
        """Log the step's notices and progress; tell the link to send the step's reports (unless
        `reports` is False: the caller did) and the executor status."""
        for notice in self.service.notices:
            logger.warning("%s", notice)
        self.service.notices.clear()
        self._sync_legs()
        changed, self._unlogged = self._unlogged, {}
        for line in self._progress.changes(changed.values()):
            logger.info("%s", line)
        if self.link is not None:
            if reports:
                self.link.reports_changed()
            self.link.status_changed()

    def _sync_legs(self) -> None:
        """Take in the legs the journal wrote since the last call (all of them the first time)."""
        sent = (Placement.SENDING, Placement.SENT)
        for leg in self.journal.changed_legs():
            self._unlogged[leg.order_ref] = leg
            if leg.placement in sent and not leg.status.is_final:
                self._open_orders.add(leg.order_ref)
            else:
                self._open_orders.discard(leg.order_ref)

    def _placed(self, bracket: BracketRequest) -> None:
        """Called by the simulated broker as each bracket is accepted: live progress."""
        leg = self.journal.leg(bracket.entry.order_ref)
        if leg is None:
            return
        known = self._placed_count.get(leg.batch_id)
        if known is None:  # the first of this run; after a restart, count what reconciliation confirmed
            batch = self.journal.batch(leg.batch_id)
            if batch is None:
                return
            entries = [self.journal.leg(order.bracket.entry.order_ref) for order in batch.orders]
            sent = sum(1 for entry in entries if entry is not None and entry.placement is Placement.SENT)
            known = (sent, len(batch.orders))
        count, size = known[0] + 1, known[1]
        self._placed_count[leg.batch_id] = (count, size)
        # One line per bracket, as the broker takes it, is a lot of console for a 20-order batch
        # the simulated broker takes in a few milliseconds (and each line costs time while the
        # batch is placed): the last bracket is always logged, others once in a while.
        now = time.monotonic()
        if count < size and now - self._placed_logged < PLACED_LINE_SECONDS:
            return
        self._placed_logged = now
        entry = bracket.entry
        logger.info(
            "batch %s: %d/%d placed (%s %s %s, stop %s, target %s)",
            leg.batch_id,
            count,
            size,
            entry.symbol,
            entry.side.value,
            entry.quantity,
            bracket.stop_loss.stop_price,
            bracket.take_profit.limit_price,
        )

    # -- the kill switch ------------------------------------------------------------------------

    async def _halt(self, reason: str) -> None:
        logger.warning("HALT (%s): cancelling working entries; stops and targets stay", reason)
        await self.service.halt(reason)
        self._halt_record = self.journal.trading_state()
        self._after_step()

    async def _watch_kill_switch(self) -> None:
        while True:
            await asyncio.sleep(HALT_POLL_SECONDS)
            record: TradingStateRecord = self.journal.trading_state()
            if record == self._halt_record:
                continue
            if record.state is TradingState.HALTED:
                await self._halt(record.reason or "tradebridge executor halt")
            else:
                logger.warning("trading RESUMED (%s): placing what waited", record.reason or "resume-trading")
                await self.service.resume_trading(record.reason or "resumed by the operator")
                self._halt_record = self.journal.trading_state()
                self._after_step()

    # -- LinkHandler ----------------------------------------------------------------------------

    def last_seq(self) -> int:
        return self.service.last_seq()

    async def on_batch(self, batch: messages.TradingOrdersGenerated, seq: int | None) -> int | None:
        logger.info(
            "batch %s received (seq %s): %d orders from scan %s",
            batch.batch_id,
            seq,
            len(batch.orders),
            batch.scan_id,
        )
        result = await self.service.receive_and_prepare(batch, seq)
        if self.market is not None:  # the simulated market opens each new symbol at its entry price
            self.market.open_prices({order.symbol: order.entry_price for order in batch.orders})
        if result.outcome is IntakeOutcome.ACCEPTED:
            logger.info("batch %s journaled; acknowledging seq %s", batch.batch_id, result.ack_seq)
        elif result.outcome is IntakeOutcome.DUPLICATE:
            logger.info(
                "batch %s: %s; acknowledging seq %s again", batch.batch_id, result.message, result.ack_seq
            )
        else:
            logger.warning("batch %s %s: %s", batch.batch_id, result.outcome.value, result.message)
        self._crash.reached("before_ack")
        self._busy_at = asyncio.get_running_loop().time()
        if batch.file is not None:
            self._files_due.append((self._busy_at, batch.file))
            self._files_waiting.set()
        self._place_wanted = True
        if self.link is not None:
            # The batch's `received` reports are journaled: the link sends them first (after the
            # `ack`), so that the cloud stores them while this process talks to the broker; then the
            # worker places the batch (tasks woken in this order run in this order).
            self.link.reports_changed()
        self._wake.set()
        return result.ack_seq

    def pending_reports(self) -> Sequence[StatusReport]:
        return self.service.pending_reports()

    def on_status_acknowledged(self, status_id: str) -> None:
        self._log_stored((status_id,))
        self.service.acknowledge_report(status_id)

    def on_statuses_acknowledged(self, status_ids: Sequence[str]) -> None:
        """Forget many acknowledged reports in one journal transaction (see `CloudLink`)."""
        self._log_stored(status_ids)
        self.service.acknowledge_reports(status_ids)

    def _log_stored(self, status_ids: Sequence[str]) -> None:
        """Log "batch X: N statuses stored at the cloud" for each batch whose reports the cloud has
        now all acknowledged: as soon as the acknowledgement is heard (the cloud acknowledges only
        what it has committed), before the journal forgets the reports."""
        journal = self.journal
        heard = journal.pending_batches(status_ids)
        for line in self._stored.acknowledged_counts(heard, journal.pending_count):
            logger.info("%s", line)

    async def executor_status(self) -> messages.ExecutorStatus:
        connected = self.broker.is_connected()
        # Open orders from the journal, not the broker: this runs every second and must not spend
        # TWS's message budget; positions are the broker's local cache (no request).
        self._sync_legs()
        open_orders = len(self._open_orders)
        positions = 0
        if connected:
            with contextlib.suppress(BrokerError):
                positions = sum(1 for position in await self.broker.positions() if position.quantity)
        return messages.ExecutorStatus(
            account=self.account,
            broker_connected=connected,
            trading_state=self.service.trading_state.value,
            open_orders=open_orders,
            positions=positions,
        )
