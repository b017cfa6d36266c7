"""Placement: send approved brackets to the broker, and journal what the broker says about them.

Sending is journaled around the broker calls, in this order:
1. the approved brackets of a batch (with the batch's rejections) become `sending` in one
   transaction, BEFORE the first broker call: after a crash, reconciliation knows the broker
   may or may not have them and asks it;
2. `Broker.place_bracket` for each, in journal order, with the legs' deterministic refs;
3. each becomes `sent` / `submitted` when its call returned (gathered with the events that
   follow and committed with them: a crash before that leaves `sending`, which reconciliation
   confirms from the broker).
A broker refusal journals the bracket's legs as `rejected` with the broker's words; a lost
connection leaves the rest `sending` for reconciliation.

Broker events (`OrderStatusUpdate`, `Fill`) go through the bracket's core `Bracket` aggregate,
which decides each leg's status; each event makes one journal step holding the new leg records,
the execution (de-duplicated by exec id), and the `local_trading_status` reports, and a burst
of events is committed as one transaction (`flush`). The
aggregate's intentions become follow-ups: `CancelLegs` -> cancel at the broker; `FlattenPosition`
-> a market order for the unprotected shares, journaled before it is sent, and an `error`
report with the alarm. `ActivateExits` / `ResizeExits` need nothing: the broker works bracket
children for the entry's fill itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from core.bracket import Bracket, BracketIntention, CancelLegs, FlattenPosition
from core.broker_events import Fill, OrderStatusUpdate
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
    make_leg,
)
from core.order_status import InvalidTransition, OrderStatus
from core.orders import OrderRequest, OverFill
from core.ports import Broker, BrokerError
from core.service_layer.executor.records import LEG_STATUS, Reporter, derived_ref, is_ours
from core.values import BatchId, OrderRef, OrderType, TimeInForce

BRACKET_ROLES = (LegRole.ENTRY, LegRole.TAKE_PROFIT, LegRole.STOP_LOSS)
NOTHING = JournalStep()
_SENDING, _SENT = Placement.SENDING, Placement.SENT  # read for every leg of every event
DUPLICATE_ORDER_CODE = 103  # IB: "Duplicate order id"; the broker already holds this order


@dataclass(frozen=True, slots=True)
class CancelOrder:
    """Cancel this order at the broker (harmless if it has ended meanwhile)."""

    order_ref: OrderRef
    reason: str


@dataclass(frozen=True, slots=True)
class PlaceProtective:
    """Send this journaled order (a flattening market order) to the broker."""

    leg: LegRecord


FollowUp = CancelOrder | PlaceProtective
BrokerReport = OrderStatusUpdate | Fill


class _Gathered:
    """Event steps gathered in memory until `BracketPlacement.flush` commits them as one."""

    __slots__ = ("batch_states", "exec_ids", "fills", "legs", "reports")

    def __init__(self) -> None:
        self.batch_states: list[tuple[BatchId, BatchState, str]] = []
        self.legs: dict[OrderRef, LegRecord] = {}
        self.fills: list[Fill] = []
        self.exec_ids: set[str] = set()
        self.reports: list[StatusReport] = []

    def add(self, step: JournalStep) -> None:
        self.batch_states += step.batch_states
        self.add_parts(step.legs, step.fills, step.reports)

    def add_parts(
        self, legs: Sequence[LegRecord], fills: Sequence[Fill], reports: Sequence[StatusReport]
    ) -> None:
        """`add` of a step with these legs, fills and reports, without making the step (one per event)."""
        gathered = self.legs
        for leg in legs:
            gathered[leg.order_ref] = leg
        if fills:
            self.fills += fills
            self.exec_ids.update(fill.exec_id for fill in fills)
        self.reports += reports

    def step(self) -> JournalStep | None:
        if not (self.batch_states or self.legs or self.fills or self.reports):
            return None
        return JournalStep(batch_states=tuple(self.batch_states), legs=tuple(self.legs.values()),
                           fills=tuple(self.fills), reports=tuple(self.reports))


class BracketPlacement:
    """Places brackets and tracks them; one per executor run (see the module docstring).
    `notices` collects what a person should read (the entrypoint logs them).

    Broker events are journaled in groups: `apply` gathers each event's step in memory and
    `flush` (called by the coordinator after each burst of events, and before anything is sent
    to the broker) commits the group as one transaction. A crash before the flush loses only
    the journaling of reports the broker still holds; reconciliation adopts them again.
    """

    __slots__ = ("_brackets", "_broker", "_gathered", "_journal", "_reporter", "needs_reconcile", "notices")

    def __init__(self, journal: Journal, broker: Broker, reporter: Reporter) -> None:
        self._journal = journal
        self._broker = broker
        self._reporter = reporter
        self._brackets: dict[OrderRef, Bracket] = {}
        self._gathered = _Gathered()
        self.notices: list[str] = []
        # Set when the broker said something the bracket rules cannot take: the coordinator then
        # reconciles, so protection is rebuilt from what the broker holds, not from our guess.
        self.needs_reconcile = False

    def flush(self) -> None:
        """Commit the gathered event steps as one transaction."""
        gathered, self._gathered = self._gathered, _Gathered()
        step = gathered.step()
        if step is not None:
            self._journal.commit(step)

    def _leg(self, order_ref: OrderRef) -> LegRecord | None:
        return self._gathered.legs.get(order_ref) or self._journal.leg(order_ref)

    def leg(self, order_ref: OrderRef) -> LegRecord | None:
        """The leg record as it is now: gathered (not committed yet) or journaled."""
        return self._leg(order_ref)

    def gather(self, step: JournalStep) -> None:
        """Add a step to the gathered group (committed by the next `flush`, before anything else
        is sent to the broker)."""
        self._gathered.add(step)

    def _has_execution(self, exec_id: str) -> bool:
        return exec_id in self._gathered.exec_ids or self._journal.has_execution(exec_id)

    def _commit(self, step: JournalStep) -> None:
        """Write a placement step now, after what was gathered (so the journal keeps the order)."""
        self.flush()
        self._journal.commit(step)

    def bracket(self, entry_ref: OrderRef) -> Bracket | None:
        """The tracked bracket of this entry, if it was sent."""
        return self._brackets.get(entry_ref)

    # -- sending --------------------------------------------------------------------------------

    async def place(
        self, batch: JournaledBatch, orders: Sequence[BatchOrder], decided: JournalStep = NOTHING
    ) -> bool:
        """Send approved brackets of one batch, in order: all of them are journaled `sending`
        in one transaction (with `decided`, the batch's rejections) before the first broker
        call; each becomes `sent` when its call returns. Returns False if the broker went away
        midway: what was not sent stays `sending`, for reconciliation to settle."""
        self.prepare(batch, orders, decided)
        return await self.send(orders)

    def prepare(
        self, batch: JournaledBatch, orders: Sequence[BatchOrder], decided: JournalStep = NOTHING
    ) -> None:
        """The first half of `place`: journal the approved brackets `sending` (with `decided`) in
        one transaction, durable when this returns. `send` must follow before anything else is
        sent to the broker for this batch (or the legs be put back with `unprepare`)."""
        if not orders and not decided.legs:
            return
        legs = [self._legs(order) for order in orders]
        placing = batch.state is BatchState.RECEIVED and orders
        states = ((batch.batch_id, BatchState.PLACING, ""),) if placing else ()
        sending = tuple(with_placement(leg, Placement.SENDING) for bracket in legs for leg in bracket)
        self._commit(JournalStep(batch_states=states, legs=decided.legs + sending, reports=decided.reports))

    def unprepare(self, orders: Sequence[BatchOrder]) -> None:
        """Put brackets `prepare` journaled `sending`, and that were never sent, back to `pending`:
        nothing was asked of the broker for them (one process, and `send` never ran), so they
        are gated again like any bracket not placed yet."""
        legs = tuple(with_placement(leg, Placement.PENDING)
                     for order in orders for leg in self._legs(order) if leg.placement is Placement.SENDING)
        if legs:
            self._commit(JournalStep(legs=legs))

    async def send(self, orders: Sequence[BatchOrder]) -> bool:
        """The second half of `place`: the broker calls, in order, for brackets journaled
        `sending`. Returns False if the broker went away midway."""
        for order in orders:
            bracket_legs = self._legs(order)
            try:
                await self._broker.place_bracket(order.bracket)
            except BrokerError as error:
                if not self._broker.is_connected():
                    self.notices.append(f"bracket {order.bracket.entry.order_ref}: the broker went away "
                                        f"({error}); it is settled by reconciliation after reconnecting")
                    return False
                if error.code != DUPLICATE_ORDER_CODE:
                    self._refused(bracket_legs, error)
                    continue
                self.notices.append(f"bracket {order.bracket.entry.order_ref}: the broker already holds it "
                                    f"({error}); not sent again")
            self.mark_sent(tuple(leg.order_ref for leg in bracket_legs))
            self.track(order.bracket.entry.order_ref, order)
        return True

    async def place_extra(self, leg: LegRecord) -> None:
        """Send an order the executor added (a rebuilt stop, a flattening order) the same way."""
        self._commit(JournalStep(legs=(replace(leg, placement=Placement.SENDING),)))
        try:
            await self._broker.place_order(leg.request)
        except BrokerError as error:
            if not self._broker.is_connected():
                self.notices.append(f"{leg.order_ref}: the broker went away ({error}); reconciliation "
                                    "settles it after reconnecting")
                return
            self._refused((leg,), error)
            return
        self.mark_sent((leg.order_ref,))

    def mark_sent(self, refs: Sequence[OrderRef]) -> None:
        """The broker holds these orders: journal them `sent` (and `submitted` if nothing newer
        was heard), re-reading the records so that no newer status is overwritten. Gathered with
        the events that follow: a crash before the flush leaves them `sending`, which
        reconciliation confirms from the broker."""
        legs: list[LegRecord] = []
        reports: list[StatusReport] = []
        reporter, at = self._reporter, None
        for ref in refs:
            leg = self._leg(ref)
            if leg is None or leg.placement is Placement.SENT:
                continue
            status = LegStatus.SUBMITTED if leg.status is LegStatus.RECEIVED else leg.status
            new = with_placement(leg, Placement.SENT, status)
            legs.append(new)
            if status is not leg.status:
                if at is None:
                    at = reporter.now()  # one time for the call's reports (see `Reporter.report`)
                reports.append(reporter.report(new, at=at))
        self._gathered.add_parts(legs, (), reports)

    def track(self, entry_ref: OrderRef, order: BatchOrder) -> Bracket:
        """Start following a bracket the broker holds."""
        bracket = Bracket(order.bracket)
        bracket.mark_submitted()
        self._brackets[entry_ref] = bracket
        return bracket

    def forget(self, entry_ref: OrderRef) -> None:
        """Stop following a bracket as a whole (its orders are then followed one by one)."""
        self._brackets.pop(entry_ref, None)

    def _refused(self, legs: Sequence[LegRecord], error: BrokerError) -> None:
        """The broker refused the call: nothing of it was placed."""
        message = (f"the broker refused {legs[0].request.symbol} {legs[0].role.value}: {error}; nothing "
                   "of it was placed: fix the cause and approve it again")
        failed = tuple(replace(leg, placement=Placement.FAILED, status=LegStatus.REJECTED, message=message)
                       for leg in legs)
        reports = tuple(self._reporter.report(leg) for leg in failed)
        self._commit(JournalStep(legs=failed, reports=reports))
        self.notices.append(message)

    def _legs(self, order: BatchOrder) -> tuple[LegRecord, ...]:
        found = [self._leg(leg.order_ref) for leg in order.bracket.legs]
        legs = tuple(leg for leg in found if leg is not None)
        if len(legs) != 3:
            raise LookupError(f"bracket {order.bracket.entry.order_ref} has no leg records in the journal; "
                              "journal batches through intake.receive")
        return legs

    # -- what the broker says -------------------------------------------------------------------

    def apply(self, event: BrokerReport, *, act: bool = True) -> list[FollowUp]:
        """Journal one broker report (one step) and return what must follow at the broker.
        With `act=False` (reconciliation adopting what it missed, or the broker away) a
        `FlattenPosition` is not acted on: the reconciliation plan rebuilds the stop instead,
        and two protections for the same shares would open a reverse position."""
        leg = self._leg(event.order_ref)
        if leg is None:
            if is_ours(event.order_ref):
                self.notices.append(f"{type(event).__name__} for {event.order_ref}, which is not in this "
                                    "executor's journal: left alone; check the order in TWS")
            return []
        fills: tuple[Fill, ...] = ()
        if isinstance(event, Fill):
            if self._has_execution(event.exec_id):
                return []  # a fill heard twice (a replay, or reconciliation adopting it) counts once
            fills, message = (event,), ""
        else:
            message = event.message
        bracket = self._brackets.get(leg.bracket_ref)
        if bracket is None or leg.role not in BRACKET_ROLES:
            self._apply_direct(leg, event)
            return []
        try:
            intentions = bracket.apply_fill(event) if isinstance(event, Fill) else bracket.apply_status(event)
        except (ValueError, InvalidTransition, OverFill) as error:
            self._inconsistent(leg, event, str(error))
            return []
        legs, reports = self._diff(bracket, leg.order_ref, message)
        follow: list[FollowUp] = []
        for intention in intentions:
            if isinstance(intention, FlattenPosition) and not act:
                continue  # reconciliation rebuilds the stop for these shares instead
            extra_legs, extra_reports, actions = self._intention(leg, intention)
            legs += extra_legs
            reports = alarms_win(reports, extra_reports)
            follow += actions
        if legs or reports or fills:  # most status reports repeat what is known: nothing to gather
            self._gathered.add_parts(legs, fills, reports)
        return follow

    async def follow_up(self, actions: Sequence[FollowUp]) -> None:
        """Carry out what `apply` asked for (what was gathered is journaled first)."""
        self.flush()
        for action in actions:
            if isinstance(action, CancelOrder):
                await self.cancel(action.order_ref, action.reason)
            else:
                await self.place_extra(action.leg)

    async def cancel(self, order_ref: OrderRef, reason: str) -> None:
        """Ask the broker to cancel; a refusal (it has ended already) is noted, not raised.
        An order the journal already knows as ended is left alone (the broker ended it itself,
        e.g. the OCA sibling of a filled exit)."""
        leg = self._leg(order_ref)
        if leg is not None and leg.status.is_final:
            return
        try:
            await self._broker.cancel_order(order_ref)
        except BrokerError as error:
            self.notices.append(f"cancel {order_ref} ({reason}): the broker said {error}")

    def _diff(
        self, bracket: Bracket, changed_ref: OrderRef, message: str
    ) -> tuple[list[LegRecord], list[StatusReport]]:
        legs: list[LegRecord] = []
        reports: list[StatusReport] = []
        gathered, journaled = self._gathered.legs, self._journal.leg  # `_leg`, inlined: 3 per event
        at = None  # one time for the event's reports (see `Reporter.report`)
        for order in (bracket.entry, bracket.take_profit, bracket.stop_loss):  # `bracket.legs`
            ref = order.request.order_ref  # `order.order_ref`, without the property's call
            old = gathered.get(ref) or journaled(ref)
            if old is None:
                continue
            text = message if message and ref == changed_ref else old.message
            placement = old.placement
            if placement is _SENDING:
                placement = _SENT
            status, filled, avg_price = LEG_STATUS[order.status], order.filled, order.avg_fill_price
            # Most events change one leg of the three: the others are compared field by field
            # rather than rebuilt (building a record costs more than the event's other work).
            # (`is` first: an unchanged leg mostly holds the very Decimals of its order.)
            if (placement is old.placement and status is old.status
                    and (filled is old.filled or filled == old.filled)
                    and (avg_price is old.avg_price or avg_price == old.avg_price) and text == old.message):
                continue
            new = make_leg(ref, old.batch_id, old.bracket_ref, old.role, old.request, placement, status,
                           filled, avg_price, text)
            legs.append(new)
            if status is not old.status or filled != old.filled:
                if at is None:
                    at = self._reporter.now()
                reports.append(self._reporter.report(new, at=at))
        return legs, reports

    def _intention(
        self, leg: LegRecord, intention: BracketIntention
    ) -> tuple[list[LegRecord], list[StatusReport], list[FollowUp]]:
        if isinstance(intention, CancelLegs):
            return [], [], [CancelOrder(ref, intention.reason) for ref in intention.order_refs]
        if not isinstance(intention, FlattenPosition):
            return [], [], []  # the broker works bracket children for the entry's fill itself
        records = {**{r.order_ref: r for r in self._journal.legs()}, **self._gathered.legs}.values()
        ref = derived_ref(leg.bracket_ref, "FL", {record.order_ref for record in records})
        request = OrderRequest(ref, intention.symbol, intention.side, intention.quantity, OrderType.MARKET,
                               tif=TimeInForce.DAY)
        flatten = LegRecord(ref, leg.batch_id, leg.bracket_ref, LegRole.FLATTEN, request)
        stops = [r for r in records if r.bracket_ref == leg.bracket_ref and r.role is LegRole.STOP_LOSS]
        stop = stops[0] if stops else leg
        alarm = self._reporter.report(stop, LegStatus.ERROR, f"{intention.reason}; flattening with {ref}")
        self.notices.append(alarm.message)
        return [flatten], [alarm], [PlaceProtective(flatten)]

    def _apply_direct(self, leg: LegRecord, event: BrokerReport) -> None:
        """An order outside a tracked bracket (a rebuilt stop, a flattening order)."""
        if isinstance(event, Fill):
            if leg.filled + event.quantity > leg.request.quantity:
                self._inconsistent(leg, event, f"fill of {event.quantity} exceeds the order's remaining "
                                   f"{leg.request.quantity - leg.filled}")
                return
            total = leg.filled + event.quantity
            avg = (leg.avg_price * leg.filled + event.price * event.quantity) / total
            status = LegStatus.FILLED if total == leg.request.quantity else LegStatus.PARTIALLY_FILLED
            new = replace(leg, placement=Placement.SENT, status=status, filled=total, avg_price=avg)
            report = self._reporter.report(new)
            self._gathered.add(JournalStep(legs=(new,), fills=(event,), reports=(report,)))
            return
        if leg.status.is_final or event.status in (OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED):
            return  # fills drive fill statuses; an ended order stays ended
        status = LEG_STATUS[event.status]
        if status is LegStatus.RECEIVED:
            return
        new = replace(leg, placement=Placement.SENT, status=status, message=event.message or leg.message)
        if new != leg:
            reports = (self._reporter.report(new),) if status is not leg.status else ()
            self._gathered.add(JournalStep(legs=(new,), reports=reports))

    def _inconsistent(self, leg: LegRecord, event: BrokerReport, problem: str) -> None:
        """A report the bracket rules cannot take: journal it (a fill is still counted once) and
        raise the alarm, rather than stop the executor."""
        message = (f"{type(event).__name__} for {leg.order_ref} does not fit what the journal knows: "
                   f"{problem}; check the order in TWS")
        new = replace(leg, message=message)
        fills: tuple[Fill, ...] = ()
        if isinstance(event, Fill):
            fills = (event,)
            total = leg.filled + event.quantity
            new = replace(new, filled=total,
                          avg_price=(leg.avg_price * leg.filled + event.price * event.quantity) / total)
        report = self._reporter.report(new, LegStatus.ERROR, message)
        self._gathered.add(JournalStep(legs=(new,), fills=fills, reports=(report,)))
        self.notices.append(message)
        self.needs_reconcile = True


def with_placement(leg: LegRecord, placement: Placement, status: LegStatus | None = None) -> LegRecord:
    """`leg` with another placement (and status): `dataclasses.replace` costs 5x more, 60 a batch."""
    return make_leg(leg.order_ref, leg.batch_id, leg.bracket_ref, leg.role, leg.request, placement,
                    leg.status if status is None else status, leg.filled, leg.avg_price, leg.message)


def alarms_win(reports: Sequence[StatusReport], alarms: Sequence[StatusReport]) -> list[StatusReport]:
    """The step's reports with each alarm replacing the plain report of the same leg (keeping the
    broker's words in the alarm). The cloud keeps a leg's final status over any later one, so a
    stop's `rejected` sent with its `error` alarm would hide the alarm a person must see."""
    alarmed = {alarm.order_ref for alarm in alarms}
    said = {report.order_ref: report.message for report in reports if report.message}
    kept = [report for report in reports if report.order_ref not in alarmed]
    for alarm in alarms:
        words = said.get(alarm.order_ref)
        kept.append(replace(alarm, message=f"{alarm.message} (the broker said: {words})") if words else alarm)
    return kept
