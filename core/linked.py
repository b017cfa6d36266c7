"""Linked orders per symbol: the seed's "automatic order linking with BUY/SELL support".

Every order opened for a symbol (entry, its stop and its target, and those of each scale-in) is
linked to that symbol's state, which remembers the side: BUY is a long, SELL a short. The state
keeps sides apart: an entry on the other side is refused until `close_all` has flattened the
symbol, and a scale-in must match the open side. `close_all` names every linked order still
working, to cancel, and the quantity to flatten. The state resets when the position concludes (a
stop or target brings it to flat), so the next trade on the symbol starts clean.

`LinkedOrders` is pure bookkeeping: it decides and remembers, the owner talks to the broker.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum

from core.broker_events import Fill
from core.values import ZERO, OrderRef, Side


class LinkRole(StrEnum):
    """What a linked order is for."""

    ENTRY = "entry"
    STOP = "stop"
    TARGET = "target"


@dataclass(frozen=True, slots=True)
class LinkedLeg:
    """One linked order: its ref, role, ordered and filled quantity, and whether it has ended."""

    order_ref: OrderRef
    role: LinkRole
    quantity: Decimal
    filled: Decimal = ZERO
    ended: bool = False  # cancelled, rejected, expired, or filled in full

    @property
    def is_working(self) -> bool:
        return not self.ended and self.filled < self.quantity


@dataclass(frozen=True, slots=True)
class LinkedState:
    """The linked orders of one symbol, all on one side. `open_quantity` is the filled position
    (shares, in the direction of `side`); `closing` is the reason of a close-all in progress."""

    symbol: str
    side: Side
    legs: tuple[LinkedLeg, ...]
    open_quantity: Decimal = ZERO
    closing: str | None = None
    flatten_requested: Decimal = ZERO

    def refs(self, role: LinkRole) -> tuple[OrderRef, ...]:
        return tuple(leg.order_ref for leg in self.legs if leg.role is role)

    @property
    def entry_refs(self) -> tuple[OrderRef, ...]:
        """The first entry, then one per scale-in."""
        return self.refs(LinkRole.ENTRY)

    @property
    def stop_refs(self) -> tuple[OrderRef, ...]:
        return self.refs(LinkRole.STOP)

    @property
    def target_refs(self) -> tuple[OrderRef, ...]:
        return self.refs(LinkRole.TARGET)

    @property
    def scale_ins(self) -> int:
        return len(self.entry_refs) - 1

    @property
    def ordered_quantity(self) -> Decimal:
        """What the entries ask for in total."""
        return sum((leg.quantity for leg in self.legs if leg.role is LinkRole.ENTRY), ZERO)

    @property
    def net_quantity(self) -> Decimal:
        """The filled position, signed: negative for a short."""
        return self.side.sign * self.open_quantity

    @property
    def working_refs(self) -> tuple[OrderRef, ...]:
        """Linked orders that may still be live: entries first, then targets, stops last (so that
        cancelling in this order keeps the protection longest)."""
        order = {LinkRole.ENTRY: 0, LinkRole.TARGET: 1, LinkRole.STOP: 2}
        working = sorted((leg for leg in self.legs if leg.is_working), key=lambda leg: order[leg.role])
        return tuple(leg.order_ref for leg in working)


@dataclass(frozen=True, slots=True)
class LinkApproved:
    """The operation was applied. `state` is the symbol's state now (None: nothing is linked);
    `cancel_refs` are linked orders left working by a reset, which the owner must cancel."""

    state: LinkedState | None
    cancel_refs: tuple[OrderRef, ...] = ()
    message: str = ""


@dataclass(frozen=True, slots=True)
class LinkRejected:
    """The operation was refused and nothing changed; `reason` says why and what to do."""

    reason: str


LinkDecision = LinkApproved | LinkRejected


@dataclass(frozen=True, slots=True)
class ClosePlan:
    """What closing a symbol takes: cancel `cancel_refs` (in this order), then flatten with a
    market order of `flatten_side` for `flatten_quantity` (none when nothing is filled)."""

    symbol: str
    cancel_refs: tuple[OrderRef, ...]
    flatten_side: Side | None
    flatten_quantity: Decimal
    reason: str


def _holding(side: Side) -> str:
    return "long (BUY)" if side is Side.BUY else "short (SELL)"


class LinkedOrders:
    """The linked state of every symbol. Each operation returns a decision and, if approved,
    records the new state."""

    __slots__ = ("_states",)

    def __init__(self) -> None:
        self._states: dict[str, LinkedState] = {}

    def get(self, symbol: str) -> LinkedState | None:
        return self._states.get(symbol)

    def symbols(self) -> tuple[str, ...]:
        return tuple(sorted(self._states))

    def open(
        self, symbol: str, side: Side, entry_ref: OrderRef, stop_ref: OrderRef, target_ref: OrderRef,
        quantity: Decimal,
    ) -> LinkDecision:
        """Link a new position's entry, stop and target. Refused while anything is linked for the
        symbol: the other side needs close_all first, the same side is a scale-in."""
        current = self._states.get(symbol)
        if current is not None:
            if current.closing is not None:
                return LinkRejected(self._closing_reason(current, f"open a {side.value}"))
            if current.side is not side:
                return LinkRejected(
                    f"{symbol} has an open {_holding(current.side)} position; opening a "
                    f"{_holding(side)} would mix sides: close_all {symbol} first"
                )
            return LinkRejected(
                f"{symbol} already has an open {_holding(side)} position; adding to it on the same "
                "side is a scale-in: use scale_in"
            )
        problem = _check_new_legs(symbol, quantity, (entry_ref, stop_ref, target_ref), ())
        if problem:
            return LinkRejected(problem)
        state = LinkedState(symbol, side, _bracket_legs(entry_ref, stop_ref, target_ref, quantity))
        self._states[symbol] = state
        return LinkApproved(state)

    def scale_in(
        self, symbol: str, side: Side, quantity: Decimal, entry_ref: OrderRef, stop_ref: OrderRef,
        target_ref: OrderRef,
    ) -> LinkDecision:
        """Add to the open position on its own side, with its own stop and target."""
        current = self._states.get(symbol)
        if current is None:
            return LinkRejected(f"nothing is open for {symbol} to scale into; open a position first")
        if current.closing is not None:
            return LinkRejected(self._closing_reason(current, "scale in"))
        if current.side is not side:
            return LinkRejected(
                f"{symbol} is {_holding(current.side)}; a {side.value} scale-in would mix sides. "
                f"Scale in with {current.side.value}, or close_all {symbol} before trading the other side"
            )
        problem = _check_new_legs(symbol, quantity, (entry_ref, stop_ref, target_ref), current.legs)
        if problem:
            return LinkRejected(problem)
        legs = current.legs + _bracket_legs(entry_ref, stop_ref, target_ref, quantity)
        state = replace(current, legs=legs)
        self._states[symbol] = state
        return LinkApproved(state)

    def close_all(self, symbol: str, reason: str) -> ClosePlan:
        """Every linked order still working, to cancel, and the open quantity to flatten. The state
        stays (closing, refusing new entries) until the position is flat; with nothing filled it
        resets at once."""
        current = self._states.get(symbol)
        if current is None:
            return ClosePlan(symbol, (), None, ZERO, f"{reason}: nothing is linked for {symbol}")
        flatten = max(ZERO, current.open_quantity - current.flatten_requested)
        if current.open_quantity == ZERO:
            del self._states[symbol]
        else:
            self._states[symbol] = replace(
                current, closing=reason, flatten_requested=current.flatten_requested + flatten
            )
        side = current.side.opposite if flatten > ZERO else None
        return ClosePlan(symbol, current.working_refs, side, flatten, reason)

    def on_fill(self, fill: Fill) -> LinkDecision:
        """Count an execution: entries add to the position, stops, targets and flattening orders
        take from it. When they bring it to flat the state resets."""
        current = self._states.get(fill.symbol)
        what = f"fill {fill.exec_id} ({fill.side.value} {fill.quantity} {fill.symbol})"
        if current is None:
            return LinkRejected(f"{what} is not linked: nothing is open for {fill.symbol}")
        leg = next((leg for leg in current.legs if leg.order_ref == fill.order_ref), None)
        adds = fill.side is current.side
        if leg is not None and adds != (leg.role is LinkRole.ENTRY):
            return LinkRejected(
                f"{what} is on the wrong side for linked {leg.role.value} {leg.order_ref} of a "
                f"{_holding(current.side)}; check the broker adapter's translation of executions"
            )
        change = fill.quantity if adds else -fill.quantity
        open_quantity = current.open_quantity + change
        if open_quantity < ZERO:
            return LinkRejected(
                f"{what} closes more than the linked {current.open_quantity} {_holding(current.side)}: "
                f"the position would flip outside the linked orders; reconcile {fill.symbol} with the broker"
            )
        legs = current.legs
        if leg is not None:
            filled = leg.filled + fill.quantity
            done = replace(leg, filled=filled, ended=leg.ended or filled >= leg.quantity)
            legs = tuple(done if other is leg else other for other in legs)
        state = replace(current, legs=legs, open_quantity=open_quantity)
        if not adds and open_quantity == ZERO:
            return self._reset(state, f"{fill.symbol} is flat after {what}")
        self._states[fill.symbol] = state
        return LinkApproved(state)

    def on_order_ended(self, symbol: str, order_ref: OrderRef) -> LinkDecision:
        """A linked order was cancelled, rejected, expired or filled: it no longer needs cancelling."""
        current = self._states.get(symbol)
        if current is None or all(leg.order_ref != order_ref for leg in current.legs):
            return LinkRejected(f"order {order_ref!r} is not linked to {symbol}; nothing to update")
        legs = tuple(replace(leg, ended=True) if leg.order_ref == order_ref else leg for leg in current.legs)
        state = replace(current, legs=legs)
        self._states[symbol] = state
        return LinkApproved(state)

    def on_flat(self, symbol: str) -> LinkDecision:
        """The broker's position in `symbol` is flat. If anything had filled (or a close-all was
        under way) the trade is over: reset, handing back any linked order still working to cancel.
        If nothing has filled yet, flat is expected and the state stays."""
        current = self._states.get(symbol)
        if current is None:
            return LinkApproved(None, message=f"nothing is linked for {symbol}")
        if current.closing is None and all(leg.filled == ZERO for leg in current.legs):
            return LinkApproved(current, message=f"{symbol}: no linked order has filled yet")
        return self._reset(current, f"{symbol} is flat")

    def _reset(self, state: LinkedState, why: str) -> LinkApproved:
        self._states.pop(state.symbol, None)
        left = state.working_refs
        message = f"{why}: linked orders reset"
        if left:
            message += f"; cancel the linked orders still working: {', '.join(left)}"
        return LinkApproved(None, left, message)

    @staticmethod
    def _closing_reason(state: LinkedState, action: str) -> str:
        return (
            f"cannot {action} on {state.symbol}: close-all is in progress ({state.closing}); "
            "wait until the position is flat"
        )


def _bracket_legs(
    entry_ref: OrderRef, stop_ref: OrderRef, target_ref: OrderRef, quantity: Decimal
) -> tuple[LinkedLeg, ...]:
    return (
        LinkedLeg(entry_ref, LinkRole.ENTRY, quantity),
        LinkedLeg(stop_ref, LinkRole.STOP, quantity),
        LinkedLeg(target_ref, LinkRole.TARGET, quantity),
    )


def _check_new_legs(
    symbol: str, quantity: Decimal, refs: tuple[OrderRef, ...], existing: tuple[LinkedLeg, ...]
) -> str | None:
    if not symbol:
        return "the symbol is empty; name the stock to link orders for"
    if quantity <= ZERO or quantity != quantity.to_integral_value():
        return f"{symbol}: quantity must be a whole number above 0, got {quantity}"
    if any(not ref for ref in refs):
        return f"{symbol}: every linked order needs an order ref (entry, stop and target)"
    if len(set(refs)) != len(refs):
        return f"{symbol}: entry, stop and target must have different order refs, got {', '.join(refs)}"
    taken = {leg.order_ref for leg in existing} & set(refs)
    if taken:
        return f"{symbol}: order ref {', '.join(sorted(taken))} is already linked; use a new ref per order"
    return None
