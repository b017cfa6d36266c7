"""`ExecutorService`: the executor's coordinator, the one object the entrypoints drive.

The WebSocket client calls `receive` (or `receive_and_prepare`) for each batch (then sends the
`ack` it returns), `place_pending` after acknowledging, `pending_reports` /
`acknowledge_report(s)` for the status stream, and `last_seq` for `resume`. The CLI calls
`halt` / `resume_trading`. Broker events are queued by the subscription and handled, in order,
by `pump`; the run loop calls it when `wake` (given to the constructor) says events are waiting.
`place_pending` and `reconcile` pump first. One lock serialises every step, so concurrent callers
never interleave a placement with a reconciliation (which could send a leg twice).

Trading state: HALTED on start and after every broker reconnect until `reconcile` has succeeded;
then ACTIVE, unless the persisted kill switch says HALTED. While reconciliation is pending,
batches are journaled and acknowledged but not placed. While the kill switch is on, the risk gate
rejects new entries (reporting why), working entries have been cancelled, and stops stay.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import replace
from decimal import Decimal

from core.broker_events import BrokerEvent, ConnectionEvent, ConnectionState
from core.journal import (
    BatchOrder,
    BatchState,
    Journal,
    JournaledBatch,
    JournalStep,
    LegRecord,
    LegRole,
    LegStatus,
    Placement,
    StatusReport,
    TradingStateRecord,
)
from core.ports import Broker, BrokerError, Clock, IdGenerator, Unsubscribe
from core.risk import RiskGate
from core.service_layer.executor.gate import check_bracket, expiry_reason, rejection_step
from core.service_layer.executor.intake import (
    EXPIRED,
    Admission,
    IncomingBatch,
    IntakeOutcome,
    IntakeResult,
    admit,
    receive,
    record,
)
from core.service_layer.executor.placement import BracketPlacement, with_placement
from core.service_layer.executor.reconcile import JournalView, ReconciliationPlan, reconcile
from core.service_layer.executor.records import ADDED_ROLES, Reporter, for_the_cloud
from core.service_layer.executor.restore import restore
from core.service_layer.executor.settings import ExecutorSettings
from core.values import BatchId, OrderRef, TradingState

_LOST = (ConnectionState.LOST, ConnectionState.DISCONNECTED)
_BACK = (ConnectionState.CONNECTED, ConnectionState.RESTORED)


class ExecutorService:
    """Intake, risk gate, placement and reconciliation over one journal and one broker account."""

    def __init__(
        self, journal: Journal, broker: Broker, clock: Clock, ids: IdGenerator,
        settings: ExecutorSettings | None = None, wake: Callable[[], None] | None = None,
    ) -> None:
        self._journal = journal
        self._wake = wake
        self._broker = broker
        self._clock = clock
        self._settings = settings or ExecutorSettings()
        self._reporter = Reporter(clock, ids)
        kill_switch = journal.trading_state().state is TradingState.HALTED
        self._gate = RiskGate(
            self._settings.limits, TradingState.HALTED if kill_switch else TradingState.ACTIVE
        )
        self._placement = BracketPlacement(journal, broker, self._reporter)
        self._events: deque[BrokerEvent] = deque()
        self._unsubscribe: Unsubscribe | None = None
        self._reconciled = False
        self._needs_reconcile = False
        # A batch whose brackets `receive_and_prepare` journaled `sending`, with the brackets to
        # send and the gate's state then: `place_pending` sends them first, unless the batch has
        # expired or the gate's state changed meanwhile (then they go back to pending and are
        # gated again). Reconciliation takes them over (they are `sending` in the journal); a
        # halt puts them back to pending.
        self._prepared: tuple[JournaledBatch, tuple[BatchOrder, ...], TradingState] | None = None
        self._lock = asyncio.Lock()  # one step at a time: a placement and a reconciliation never interleave
        self.last_plan: ReconciliationPlan | None = None
        # Pending reports known to be about a leg the cloud delivered (not one the executor added),
        # by status id, until acknowledged: a leg's role never changes, so each report's leg is
        # looked up once, not on every sending of the pending reports (~200 a batch, 2-3 sendings).
        self._as_is: dict[str, StatusReport] = {}

    # -- state ----------------------------------------------------------------------------------

    @property
    def trading_state(self) -> TradingState:
        """HALTED until reconciled; then the risk gate's state (the kill switch, the loss limit)."""
        return self._gate.state if self._reconciled else TradingState.HALTED

    @property
    def reconciled(self) -> bool:
        return self._reconciled

    @property
    def notices(self) -> list[str]:
        """What a person should read (alarms, findings); the entrypoint logs and clears them."""
        return self._placement.notices

    def last_seq(self) -> int:
        """The sequence number to send in `resume`."""
        return self._journal.last_seq()

    def pending_reports(self) -> tuple[StatusReport, ...]:
        """Status reports the cloud has not acknowledged, oldest first: (re)send them all. Those
        about orders the executor added are addressed to their bracket's stop (`for_the_cloud`)."""
        journal, as_is = self._journal, self._as_is
        reports = journal.pending_reports()
        for report in reports:
            if as_is.get(report.status_id) is report:
                continue
            leg = journal.leg(report.order_ref)
            if leg is None:
                continue  # a report about a refused order: no leg, nothing to readdress
            if leg.role in ADDED_ROLES:
                break
            as_is[report.status_id] = report
        else:
            return reports
        legs = journal.legs()
        return tuple(for_the_cloud(report, journal.leg(report.order_ref), legs) for report in reports)

    def acknowledge_report(self, status_id: str) -> bool:
        """The cloud has this report (`status_acknowledged`)."""
        self._as_is.pop(status_id, None)
        return self._journal.acknowledge_report(status_id)

    def acknowledge_reports(self, status_ids: Sequence[str]) -> int:
        """The cloud has these reports (`statuses_acknowledged`): forgotten in one journal
        transaction; how many were still pending."""
        as_is = self._as_is
        for status_id in status_ids:
            as_is.pop(status_id, None)
        return self._journal.acknowledge_reports(status_ids)

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> ReconciliationPlan:
        """Listen to the broker, then reconcile. The broker must be connected."""
        if self._unsubscribe is None:
            self._unsubscribe = self._broker.subscribe(self._queue)
        return await self.reconcile()

    @property
    def events_waiting(self) -> bool:
        """Whether broker events wait for `pump`."""
        return bool(self._events)

    def _queue(self, event: BrokerEvent) -> None:
        self._events.append(event)
        if self._wake is not None:
            self._wake()

    def close(self) -> None:
        """Stop listening to the broker. Nothing else is held: the journal is the memory."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    async def reconcile(self) -> ReconciliationPlan:
        """Match the journal against the broker and repair (see `reconcile.py`); HALTED meanwhile.
        Then place what waited. A BrokerError from the broker's queries propagates and the
        executor stays HALTED."""
        async with self._lock:
            return await self._reconcile()

    # -- intake and placement -------------------------------------------------------------------

    def receive(self, batch: IncomingBatch, seq: int | None) -> IntakeResult:
        """Journal a batch and say what to acknowledge; placing it is `place_pending`'s job."""
        return receive(self._journal, self._reporter, self._settings, batch, seq)

    async def receive_and_prepare(self, batch: IncomingBatch, seq: int | None) -> IntakeResult:
        """`receive`; and when the batch can be placed at once (reconciled, connected, no other
        step running, no other batch waiting), its brackets are gated here and journaled `sending`
        in the same transaction as the batch, as `place_pending` would before its first broker
        call: a placement then costs one transaction (and disk flush) fewer before the broker
        hears of it. The broker calls stay `place_pending`'s (the acknowledgement goes between)."""
        if not self._can_prepare():
            return self.receive(batch, seq)
        async with self._lock:
            if self._journal.batches((BatchState.RECEIVED, BatchState.PLACING)):
                return self.receive(batch, seq)  # they go first, in journal order
            admission = admit(self._journal, self._reporter, self._settings, batch, seq)
            orders: tuple[BatchOrder, ...] | None = None
            if admission.batch is not None and admission.result.outcome is IntakeOutcome.ACCEPTED:
                admission, orders = await self._prepare(admission)
            result = record(self._journal, admission)
            recorded = admission.batch
            if orders is not None and recorded is not None and result.outcome is IntakeOutcome.ACCEPTED:
                self._prepared = (recorded, orders, self._gate.state)
            return result

    def _can_prepare(self) -> bool:
        return (self._reconciled and self._prepared is None and not self._lock.locked()
                and self._broker.is_connected())

    async def _prepare(self, admission: Admission) -> tuple[Admission, tuple[BatchOrder, ...] | None]:
        """The admission with its brackets gated (the approved ones `sending`, the others rejected
        with their reasons), and the approved brackets; None instead when it cannot be gated now
        (it is then journaled as received, for `place_pending`)."""
        await self._pump()  # (a reconciliation it may run does not know this batch yet)
        batch = admission.batch
        if batch is None or not self._reconciled or not self._broker.is_connected():
            return admission, None
        try:
            positions = await self._gate_inputs()
        except BrokerError:
            return admission, None  # `place_pending` asks again (and says what failed)
        admitted = {leg.order_ref: leg for leg in admission.legs}
        approved, rejected = self._gate_batch(batch, positions, admitted.get)
        sending = {leg.order_ref for order in approved for leg in order.bracket.legs}
        decided = {leg.order_ref: leg for leg in rejected.legs}
        legs = tuple(
            decided.get(leg.order_ref)
            or (with_placement(leg, Placement.SENDING) if leg.order_ref in sending else leg)
            for leg in admission.legs
        )
        if approved:
            batch = replace(batch, state=BatchState.PLACING)
        gated = replace(admission, batch=batch, legs=legs, reports=admission.reports + rejected.reports)
        return gated, tuple(approved)

    async def place_pending(self) -> None:
        """Gate and place every bracket not decided yet, in journal order. Does nothing until
        reconciliation has succeeded."""
        async with self._lock:
            await self._place_pending()

    async def pump(self) -> None:
        """Handle every queued broker event, in order; reconcile after a reconnect."""
        async with self._lock:
            await self._pump()

    # -- the kill switch ------------------------------------------------------------------------

    async def halt(self, reason: str = "kill switch") -> None:
        """Persist HALTED, then cancel every working entry. Stops and targets stay: shares
        already open keep their protection."""
        async with self._lock:
            now = self._clock.now()
            self._journal.set_trading_state(TradingStateRecord(TradingState.HALTED, reason, now))
            self._gate.halt()
            if self._prepared is not None:  # not sent yet: gated again (refused while halted)
                self._placement.unprepare(self._prepared[1])
                self._prepared = None
            for leg in self._journal.legs():
                working = leg.placement in (Placement.SENDING, Placement.SENT) and not leg.status.is_final
                if leg.role is LegRole.ENTRY and working:
                    why = f"HALT ({reason}): working entries are cancelled"
                    await self._placement.cancel(leg.order_ref, why)
            await self._pump()

    async def resume_trading(self, reason: str = "resumed by the operator") -> None:
        """Lift the kill switch (persisted), then place what is pending."""
        async with self._lock:
            now = self._clock.now()
            self._journal.set_trading_state(TradingStateRecord(TradingState.ACTIVE, reason, now))
            if self._gate.state is TradingState.HALTED:
                self._gate.resume()
            await self._place_pending()

    # -- internals: each runs under the lock, so no two steps interleave at an await -------------

    async def _reconcile(self) -> ReconciliationPlan:
        self._reconciled = False
        self._prepared = None  # journaled `sending`: reconciliation settles them with the broker
        self._events.clear()  # the broker's answers below are newer than anything queued
        open_orders = await self._broker.open_orders()
        completed = await self._broker.completed_orders()
        executions = await self._broker.executions()
        positions = await self._broker.positions()
        restore(self._journal, self._placement)  # the journal is read after the last await
        plan = reconcile(JournalView.of(self._journal), open_orders, completed, executions, positions,
                         self._clock.now())
        self._placement.notices.extend(plan.findings)
        await self._carry_out(plan)
        self._reconciled = True
        self.last_plan = plan
        await self._place_pending()  # what waited for reconciliation (pumps the broker's events first)
        return plan

    async def _place_pending(self) -> None:
        await self._pump()
        if not self._reconciled:
            return
        if self._prepared is not None:
            prepared, orders, state = self._prepared
            self._prepared = None
            if expiry_reason(prepared, self._clock.now()) is None and self._gate.state is state:
                if not await self._send(prepared, orders):
                    return
            else:  # gated again below, as it is now
                self._placement.unprepare(orders)
        waiting = self._journal.batches((BatchState.RECEIVED, BatchState.PLACING))
        if not waiting:
            return
        positions = await self._gate_inputs()
        for batch in waiting:
            approved, rejected = self._gate_batch(batch, positions)
            self._placement.prepare(batch, approved, rejected)
            if not await self._send(batch, approved):
                return

    async def _gate_inputs(self) -> dict[str, Decimal]:
        """The positions the gate checks entries against; the account's P&L is given to the gate
        on the way (a loss trips REDUCING)."""
        positions = {p.symbol: p.quantity for p in await self._broker.positions()}
        account = await self._broker.account_summary()
        self._gate.record_pnl(account.realized_pnl + account.unrealized_pnl)
        return positions

    def _gate_batch(
        self, batch: JournaledBatch, positions: dict[str, Decimal],
        leg_of: Callable[[OrderRef], LegRecord | None] | None = None,
    ) -> tuple[list[BatchOrder], JournalStep]:
        """The batch's brackets not decided yet (their legs from `leg_of`, else the journal):
        those the gate approves, and one step rejecting the others (expired, or refused by the
        gate) with their reasons."""
        leg_of = leg_of or self._journal.leg
        approved: list[BatchOrder] = []
        decided: list[JournalStep] = []
        for order in batch.orders:
            legs = [leg_of(leg.order_ref) for leg in order.bracket.legs]
            if any(leg is None or leg.placement is not Placement.PENDING for leg in legs):
                continue
            now = self._clock.now()
            expired = expiry_reason(batch, now)
            reasons = (expired,) if expired else check_bracket(self._gate, order, positions, now).reasons
            if reasons:
                decided.append(rejection_step([leg for leg in legs if leg], reasons, self._reporter))
            else:
                approved.append(order)
        rejected = JournalStep(legs=tuple(leg for step in decided for leg in step.legs),
                               reports=tuple(report for step in decided for report in step.reports))
        return approved, rejected

    async def _send(self, batch: JournaledBatch, orders: Sequence[BatchOrder]) -> bool:
        """Send brackets journaled `sending`, then journal the events and close the batch. False
        when the broker went away: reconcile before sending more."""
        completed = await self._placement.send(orders)
        closed = await self._pump(closing=batch if completed else None)  # with the events, if it can be
        if not completed or not self._reconciled:
            return False
        if not closed:
            self._close_batch(self._fresh(batch))
        return True

    async def _pump(self, closing: JournaledBatch | None = None) -> bool:
        """Handle the queued events; `closing`: a batch just placed, whose new state (PLACED, ...)
        is then committed with the events (one transaction fewer per batch) if it is decided.
        Whether it was."""
        closed = False
        while self._events:
            event = self._events.popleft()
            if isinstance(event, ConnectionEvent):
                if event.state in _LOST or event.state in _BACK:
                    self._reconciled = False
                    self._needs_reconcile = event.state in _BACK or self._needs_reconcile
                continue
            actions = self._placement.apply(event, act=self._reconciled)
            if actions:
                await self._placement.follow_up(actions)
        if closing is not None and self._reconciled:
            # `closing` as read before placing: at worst, the state it already has is written again.
            state = self._closing_state(closing, self._placement.leg)
            if state is not None:
                self._placement.gather(JournalStep(batch_states=(state,)))
                closed = True
        self._placement.flush()  # the burst of events, journaled as one step
        if self._placement.needs_reconcile:
            self._placement.needs_reconcile = False
            self._needs_reconcile = True
        if self._needs_reconcile and self._broker.is_connected():
            self._needs_reconcile = False
            await self._reconcile()
        return closed

    async def _carry_out(self, plan: ReconciliationPlan) -> None:
        self._placement.mark_sent(plan.confirm_sent)
        follow = []
        for fill in plan.adopt_fills:
            follow += self._placement.apply(fill, act=False)
        for update in plan.status_updates:
            follow += self._placement.apply(update, act=False)
        self._placement.flush()
        for abandoned in plan.abandon:
            self._abandon(abandoned.order_ref, abandoned.status, abandoned.reason)
        await self._placement.follow_up(follow)
        for cancel in plan.cancel_orders:
            await self._placement.cancel(cancel.order_ref, cancel.reason)
        for bracket in plan.place_brackets:
            leg = self._journal.leg(bracket.entry.order_ref)
            batch = self._journal.batch(leg.batch_id) if leg else None
            order = next((o for o in batch.orders if o.bracket == bracket), None) if batch else None
            if batch is None or order is None:
                raise LookupError(f"bracket {bracket.entry.order_ref} is not in the journal")
            await self._placement.place(batch, [order])
        for extra in plan.place_orders:
            await self._placement.place_extra(extra)

    def _abandon(self, order_ref: OrderRef, status: LegStatus, reason: str) -> None:
        leg = self._journal.leg(order_ref)
        if leg is None:
            return
        new: LegRecord = replace(leg, placement=Placement.SKIPPED, status=status, message=reason)
        self._journal.commit(JournalStep(legs=(new,), reports=(self._reporter.report(new),)))

    def _fresh(self, batch: JournaledBatch) -> JournaledBatch:
        return self._journal.batch(batch.batch_id) or batch

    def _close_batch(self, batch: JournaledBatch) -> None:
        """Every bracket decided: PLACED, or REJECTED / EXPIRED when none was sent."""
        state = self._closing_state(batch, self._journal.leg)
        if state is not None:
            self._journal.commit(JournalStep(batch_states=(state,)))

    @staticmethod
    def _closing_state(
        batch: JournaledBatch, leg_of: Callable[[OrderRef], LegRecord | None]
    ) -> tuple[BatchId, BatchState, str] | None:
        """The batch's new state once every bracket is decided (None: undecided, or unchanged)."""
        legs = [leg_of(leg.order_ref) for order in batch.orders for leg in order.bracket.legs]
        if any(leg is None or leg.placement is Placement.PENDING for leg in legs):
            return None
        sent = [leg for leg in legs if leg and leg.placement in (Placement.SENDING, Placement.SENT)]
        if sent:
            state, reason = BatchState.PLACED, ""
        elif all(leg and leg.message.startswith(EXPIRED) for leg in legs):
            state, reason = BatchState.EXPIRED, f"{EXPIRED}: every bracket expired before it could be placed"
        else:
            state, reason = BatchState.REJECTED, "every bracket was rejected; see each leg's reason"
        return None if batch.state is state else (batch.batch_id, state, reason)
