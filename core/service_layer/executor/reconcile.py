"""Reconciliation: match the journal against what the broker holds, by order ref, and plan the
repairs. `reconcile` is a pure function; the coordinator (`service.py`) carries the plan out.

What it finds and what it plans, bracket by bracket:
- A bracket journaled `sending` that the broker does not have (the crash came before or during
  the call): placed now, under the same refs, unless its batch expired meanwhile (then it is
  abandoned with the reason `expired`). A bracket journaled `sent` that the broker does not know
  is reported, never placed again: it may have ended and been purged at the broker.
- A `sending` leg the broker has: confirmed as sent.
- A half-sent bracket (the entry reached the broker, an exit did not). Re-placing the whole
  bracket is impossible (refs must stay unique) and attaching the missing exits to a live,
  unfilled entry would leave a window in which it can fill unprotected if the attach fails. So
  the safe option is taken: if the entry has not filled, it is CANCELLED (which takes any
  exit that did arrive with it) and the bracket is reported, to be approved again. If the entry
  has filled, the missing stop is rebuilt for the open quantity (next rule).
- A bracket whose stop is gone: an entry still working is cancelled (it must not open shares
  without a stop); shares already open (entry fills minus every closing fill) get a rebuilt
  stop for exactly the unprotected quantity, at the original stop price, under a new ref
  ("<stop ref>:R<n>"). A take profit still working is cancelled at the same time: outside the
  new stop's OCA group it could close the same shares twice and leave a reverse position. Only
  the stop is rebuilt (the target is reported as gone): a position without a stop is the one
  state that must never last.
- Executions the journal has not applied (by exec id): adopted. Executions and orders with a
  tradebridge ref the journal does not know: reported, never cancelled blindly.
- Positions that differ from what the journal's brackets account for: reported.
Every finding is also a human-readable line in `ReconciliationPlan.findings`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from core.broker_events import BrokerOrder, BrokerPosition, Fill, OrderStatusUpdate
from core.journal import Journal, JournaledBatch, LegRecord, LegRole, LegStatus, Placement
from core.order_status import OrderStatus
from core.orders import BracketRequest, OrderRequest
from core.service_layer.executor.placement import BRACKET_ROLES, CancelOrder
from core.service_layer.executor.records import LEG_STATUS, derived_ref, is_ours
from core.values import ZERO, OrderRef, TimeInForce

_STARTED = (Placement.SENDING, Placement.SENT)


@dataclass(frozen=True, slots=True)
class JournalView:
    """What reconciliation needs from the journal, as plain values."""

    batches: tuple[JournaledBatch, ...]
    legs: tuple[LegRecord, ...]
    applied_exec_ids: frozenset[str]

    @classmethod
    def of(cls, journal: Journal) -> JournalView:
        return cls(journal.batches(), journal.legs(), frozenset(fill.exec_id for fill in journal.fills()))


@dataclass(frozen=True, slots=True)
class Abandon:
    """A journaled order that will never be sent, and why (journaled as `rejected`/`cancelled`)."""

    order_ref: OrderRef
    reason: str
    status: LegStatus = LegStatus.CANCELLED


@dataclass(frozen=True, slots=True)
class ReconciliationPlan:
    """Everything to do, in the order the coordinator does it: confirm what the broker has,
    adopt missed fills and statuses, abandon what will never be sent, cancel, then place."""

    confirm_sent: tuple[OrderRef, ...] = ()
    adopt_fills: tuple[Fill, ...] = ()
    status_updates: tuple[OrderStatusUpdate, ...] = ()
    abandon: tuple[Abandon, ...] = ()
    cancel_orders: tuple[CancelOrder, ...] = ()
    place_brackets: tuple[BracketRequest, ...] = ()
    place_orders: tuple[LegRecord, ...] = ()  # rebuilt stops: journaled, then sent
    findings: tuple[str, ...] = ()

    @property
    def changes_anything(self) -> bool:
        return bool(self.confirm_sent or self.adopt_fills or self.status_updates or self.abandon
                    or self.cancel_orders or self.place_brackets or self.place_orders)


@dataclass(slots=True)
class _Draft:
    confirm_sent: list[OrderRef] = field(default_factory=list)
    adopt_fills: list[Fill] = field(default_factory=list)
    status_updates: list[OrderStatusUpdate] = field(default_factory=list)
    abandon: list[Abandon] = field(default_factory=list)
    cancel_orders: list[CancelOrder] = field(default_factory=list)
    place_brackets: list[BracketRequest] = field(default_factory=list)
    place_orders: list[LegRecord] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)

    def cancel(self, ref: OrderRef, reason: str) -> None:
        if all(c.order_ref != ref for c in self.cancel_orders):
            self.cancel_orders.append(CancelOrder(ref, reason))

    def plan(self) -> ReconciliationPlan:
        return ReconciliationPlan(
            tuple(self.confirm_sent), tuple(self.adopt_fills), tuple(self.status_updates),
            tuple(self.abandon), tuple(self.cancel_orders), tuple(self.place_brackets),
            tuple(self.place_orders), tuple(self.findings),
        )


@dataclass(frozen=True, slots=True)
class _Broker:
    """The broker's answers, indexed by order ref."""

    orders: dict[str, BrokerOrder]
    executions: dict[str, list[Fill]]

    def has(self, ref: str) -> bool:
        return ref in self.orders

    def alive(self, ref: str) -> bool:
        order = self.orders.get(ref)
        return order is not None and not order.status.is_terminal

    def filled(self, leg: LegRecord) -> Decimal:
        """The most the journal, the order, or its executions say it filled."""
        executed = sum((f.quantity for f in self.executions.get(leg.order_ref, [])), ZERO)
        order = self.orders.get(leg.order_ref)
        return max(leg.filled, executed, order.filled if order else ZERO)


def reconcile(
    journal: JournalView,
    broker_open: Sequence[BrokerOrder],
    broker_completed: Sequence[BrokerOrder],
    broker_executions: Sequence[Fill],
    broker_positions: Sequence[BrokerPosition],
    now: datetime,
) -> ReconciliationPlan:
    """The repairs that bring the broker and the journal into agreement (module docstring)."""
    orders: dict[str, BrokerOrder] = {o.request.order_ref: o for o in broker_completed}
    orders.update((o.request.order_ref, o) for o in broker_open)  # an open report is the newer word
    executions: dict[str, list[Fill]] = defaultdict(list)
    for fill in broker_executions:
        executions[fill.order_ref].append(fill)
    broker = _Broker(orders, executions)
    draft = _Draft()
    known: set[str] = {leg.order_ref for leg in journal.legs}
    taken = known | set(orders)
    _foreign(draft, broker, known, journal.applied_exec_ids, broker_executions)
    legs_by_bracket: dict[OrderRef, list[LegRecord]] = defaultdict(list)
    for leg in journal.legs:
        legs_by_bracket[leg.bracket_ref].append(leg)
    for batch in journal.batches:
        for order in batch.orders:
            legs = legs_by_bracket.get(order.bracket.entry.order_ref, [])
            if any(leg.placement in _STARTED for leg in legs):
                _bracket(draft, broker, batch, order.bracket, legs, taken, now)
    _positions(draft, broker, journal.legs, broker_positions)
    return draft.plan()


def _foreign(
    draft: _Draft, broker: _Broker, known: set[str], applied: frozenset[str], executions: Sequence[Fill]
) -> None:
    for fill in executions:
        if fill.exec_id in applied:
            continue
        if fill.order_ref in known:
            draft.adopt_fills.append(fill)
            draft.findings.append(f"adopting missed execution {fill.exec_id}: {fill.side.value} "
                                  f"{fill.quantity} {fill.symbol} at {fill.price} on {fill.order_ref}")
        elif is_ours(fill.order_ref):
            draft.findings.append(f"execution {fill.exec_id} on {fill.order_ref} has a tradebridge ref this "
                                  "journal does not know (another executor or journal?): left alone")
    for ref, order in broker.orders.items():
        if is_ours(ref) and ref not in known:
            draft.findings.append(f"order {ref} ({order.request.side.value} {order.request.quantity} "
                                  f"{order.request.symbol}, {order.status.value}) is at the broker with a "
                                  "tradebridge ref but not in this journal: left alone; check it in TWS")


def _bracket(
    draft: _Draft, broker: _Broker, batch: JournaledBatch, request: BracketRequest, legs: list[LegRecord],
    taken: set[str], now: datetime,
) -> None:
    core = {leg.role: leg for leg in legs if leg.role in BRACKET_ROLES}
    entry, take_profit, stop = core[LegRole.ENTRY], core[LegRole.TAKE_PROFIT], core[LegRole.STOP_LOSS]
    name = f"bracket {entry.order_ref} ({request.symbol})"
    _sync(draft, broker, legs)
    present = [leg for leg in core.values() if broker.has(leg.order_ref)]
    stop_gone = not broker.alive(stop.order_ref)
    if not present:
        if any(leg.placement is Placement.SENDING for leg in core.values()):
            if batch.is_expired(now):
                reason = (f"expired: {name} was being sent when the executor stopped and batch "
                          f"{batch.batch_id} expired before it could be sent again; never placed")
                draft.abandon += [Abandon(leg.order_ref, reason, LegStatus.REJECTED) for leg in core.values()]
                draft.findings.append(reason)
            else:
                draft.place_brackets.append(request)
                draft.findings.append(f"{name} was being sent when the executor stopped and the broker "
                                      "does not have it: placing it now, under the same refs")
            return
        if not entry.status.is_final:
            draft.findings.append(f"{name} was sent but the broker no longer knows it: not placed again; "
                                  "check TWS")
        return
    if not broker.has(entry.order_ref):
        for leg in present:
            draft.cancel(leg.order_ref, f"{name}: exit without its entry at the broker")
        draft.findings.append(f"{name}: exits are at the broker without their entry: cancelling them")
        return
    missing = [leg for leg in (take_profit, stop) if not broker.has(leg.order_ref)]
    for leg in missing:
        reason = f"{name} was half-sent: {leg.role.value} {leg.order_ref} never reached the broker"
        draft.abandon.append(Abandon(leg.order_ref, reason))
    if stop_gone and broker.alive(entry.order_ref):
        reason = f"{name} has no working stop loss: its entry must not open (more) shares unprotected"
        if missing:
            reason += "; the half-sent bracket is cancelled: approve the order again to trade it"
        draft.cancel(entry.order_ref, reason)
        draft.findings.append(f"{reason}: cancelling entry {entry.order_ref}")
    _protect(draft, broker, name, entry, take_profit, stop, legs, taken)


def _sync(draft: _Draft, broker: _Broker, legs: list[LegRecord]) -> None:
    """Confirm what the broker has, and queue its newer word on each leg."""
    for leg in legs:
        order = broker.orders.get(leg.order_ref)
        if order is None:
            continue
        if leg.placement is not Placement.SENT:
            draft.confirm_sent.append(leg.order_ref)
        fill_status = order.status in (OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED)
        if LEG_STATUS[order.status] is not leg.status and not fill_status:
            draft.status_updates.append(OrderStatusUpdate(
                leg.order_ref, order.status, order.filled, order.request.quantity - order.filled,
                order.avg_fill_price, "reported by the broker during reconciliation",
            ))


def _protect(
    draft: _Draft, broker: _Broker, name: str, entry: LegRecord, take_profit: LegRecord, stop: LegRecord,
    legs: list[LegRecord], taken: set[str],
) -> None:
    """Make the shares this bracket holds open exactly covered by working stops."""
    opened = broker.filled(entry)
    closed = sum((broker.filled(leg) for leg in legs if leg.role is not LegRole.ENTRY), ZERO)
    open_quantity = opened - closed
    if open_quantity < ZERO:
        draft.findings.append(f"{name}: exits filled {closed}, more than the entry's {opened}: check the "
                              "position in TWS")
        return
    # A live bracket stop protects the whole open quantity: the broker sizes bracket children.
    covered = open_quantity if broker.alive(stop.order_ref) else ZERO
    for leg in legs:
        if leg.role not in (LegRole.REBUILT_STOP, LegRole.FLATTEN):
            continue
        order = broker.orders.get(leg.order_ref)
        if order is not None:
            covered += order.request.quantity - order.filled if not order.status.is_terminal else ZERO
        elif leg.placement in (Placement.PENDING, Placement.SENDING) and leg.role is LegRole.REBUILT_STOP:
            draft.place_orders.append(leg)
            draft.findings.append(f"{name}: rebuilt stop {leg.order_ref} was being sent: placing it now")
            covered += leg.request.quantity - leg.filled
        elif leg.placement in (Placement.PENDING, Placement.SENDING):
            reason = (f"{name}: flattening order {leg.order_ref} never reached the broker; "
                      "a stop is rebuilt for the open shares instead")
            draft.abandon.append(Abandon(leg.order_ref, reason))
            draft.findings.append(reason)
    if open_quantity <= covered:
        return
    unprotected = open_quantity - covered
    rebuilt = _rebuilt_stop(stop, unprotected, taken)
    taken.add(rebuilt.order_ref)
    draft.place_orders.append(rebuilt)
    draft.findings.append(
        f"{name}: {unprotected} shares open without a working stop: placing stop {rebuilt.order_ref} "
        f"({rebuilt.request.side.value} {unprotected} at {rebuilt.request.stop_price})"
    )
    if broker.alive(take_profit.order_ref):
        draft.cancel(take_profit.order_ref, f"{name}: its stop is rebuilt outside the bracket")
        draft.findings.append(f"{name}: cancelling take profit {take_profit.order_ref}: outside the "
                              "rebuilt stop's OCA group it could close the same shares twice; set a new "
                              "target by hand")


def _rebuilt_stop(stop: LegRecord, quantity: Decimal, taken: set[str]) -> LegRecord:
    original = stop.request
    ref = derived_ref(stop.order_ref, "R", taken)
    request = OrderRequest(ref, original.symbol, original.side, quantity, original.order_type,
                           original.limit_price, original.stop_price, TimeInForce.GTC)
    return LegRecord(ref, stop.batch_id, stop.bracket_ref, LegRole.REBUILT_STOP, request)


def _positions(
    draft: _Draft, broker: _Broker, legs: Sequence[LegRecord], positions: Sequence[BrokerPosition]
) -> None:
    expected: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for leg in legs:
        expected[leg.request.symbol] += broker.filled(leg) * leg.request.side.sign
    held = {p.symbol: p.quantity for p in positions}
    for symbol in sorted(set(expected) | set(held)):
        ours, theirs = expected.get(symbol, ZERO), held.get(symbol, ZERO)
        if ours != theirs:
            draft.findings.append(f"position {symbol}: the broker holds {theirs}, this journal's orders "
                                  f"account for {ours}; the difference was traded elsewhere: left alone")
