"""The order state machine, as one transition table.

Every status change of every order goes through `next_status`, so tests can enumerate the table
and an impossible report from a broker (a fill after a cancel, say) is caught, not absorbed.
"""

from __future__ import annotations

from enum import StrEnum


class OrderStatus(StrEnum):
    """Where an order is in its life. The last four are terminal."""

    PENDING = "PENDING"  # created locally, not yet sent
    SUBMITTED = "SUBMITTED"  # sent, broker has not confirmed
    HELD = "HELD"  # accepted but inactive: a bracket exit waiting for its entry to fill
    WORKING = "WORKING"  # live at the broker
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL

    @property
    def is_working(self) -> bool:
        """Live at the broker and able to fill now."""
        return self in WORKING


# Module-level sets (not tuples built per call) because hot paths test membership per event.
TERMINAL = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED}
)
WORKING = frozenset({OrderStatus.WORKING, OrderStatus.PARTIALLY_FILLED})
"""The statuses of `OrderStatus.is_working`: live at the broker and able to fill now."""


class OrderTrigger(StrEnum):
    """What can happen to an order."""

    SUBMIT = "submit"
    HOLD = "hold"
    ACCEPT = "accept"
    ACTIVATE = "activate"
    PARTIAL_FILL = "partial_fill"
    FILL = "fill"
    CANCEL = "cancel"
    REJECT = "reject"
    EXPIRE = "expire"


S = OrderStatus
T = OrderTrigger

# (state, trigger) -> next state. Repeated broker reports (an ACCEPT while WORKING) map to the same
# state on purpose: brokers resend statuses, and a repeat is not an error.
TRANSITIONS: dict[tuple[OrderStatus, OrderTrigger], OrderStatus] = {
    (S.PENDING, T.SUBMIT): S.SUBMITTED,
    (S.PENDING, T.CANCEL): S.CANCELLED,
    (S.PENDING, T.REJECT): S.REJECTED,
    (S.SUBMITTED, T.SUBMIT): S.SUBMITTED,
    (S.SUBMITTED, T.HOLD): S.HELD,
    (S.SUBMITTED, T.ACCEPT): S.WORKING,
    # A fill may overtake its acknowledgement (a dropped or late status message).
    (S.SUBMITTED, T.PARTIAL_FILL): S.PARTIALLY_FILLED,
    (S.SUBMITTED, T.FILL): S.FILLED,
    (S.SUBMITTED, T.CANCEL): S.CANCELLED,
    (S.SUBMITTED, T.REJECT): S.REJECTED,
    (S.SUBMITTED, T.EXPIRE): S.EXPIRED,
    (S.HELD, T.HOLD): S.HELD,
    # A fill is stronger evidence than a status: an IB stop entry reported "PreSubmitted" (held)
    # may fill with no status in between.
    (S.HELD, T.PARTIAL_FILL): S.PARTIALLY_FILLED,
    (S.HELD, T.FILL): S.FILLED,
    (S.HELD, T.ACTIVATE): S.WORKING,
    (S.HELD, T.ACCEPT): S.WORKING,
    (S.HELD, T.CANCEL): S.CANCELLED,
    (S.HELD, T.REJECT): S.REJECTED,
    (S.HELD, T.EXPIRE): S.EXPIRED,
    (S.WORKING, T.ACCEPT): S.WORKING,
    (S.WORKING, T.ACTIVATE): S.WORKING,
    (S.WORKING, T.PARTIAL_FILL): S.PARTIALLY_FILLED,
    (S.WORKING, T.FILL): S.FILLED,
    (S.WORKING, T.CANCEL): S.CANCELLED,
    (S.WORKING, T.REJECT): S.REJECTED,
    (S.WORKING, T.EXPIRE): S.EXPIRED,
    (S.PARTIALLY_FILLED, T.ACCEPT): S.PARTIALLY_FILLED,
    (S.PARTIALLY_FILLED, T.ACTIVATE): S.PARTIALLY_FILLED,
    (S.PARTIALLY_FILLED, T.PARTIAL_FILL): S.PARTIALLY_FILLED,
    (S.PARTIALLY_FILLED, T.FILL): S.FILLED,
    (S.PARTIALLY_FILLED, T.CANCEL): S.CANCELLED,
    (S.PARTIALLY_FILLED, T.EXPIRE): S.EXPIRED,
}

# The same edges keyed by trigger first: `Order.apply` runs for most broker reports, and two plain
# lookups cost less than building and hashing a (status, trigger) key. Derived, never edited.
EDGES_BY_TRIGGER: dict[OrderTrigger, dict[OrderStatus, OrderStatus]] = {trigger: {} for trigger in T}
for (_status, _trigger), _after in TRANSITIONS.items():
    EDGES_BY_TRIGGER[_trigger][_status] = _after

del S, T, _status, _trigger, _after


class InvalidTransition(Exception):
    """A status change the order state machine does not allow."""

    def __init__(self, status: OrderStatus, trigger: OrderTrigger, what: str = "order") -> None:
        allowed = sorted(t.value for (s, t) in TRANSITIONS if s is status)
        hint = f"allowed: {', '.join(allowed)}" if allowed else f"{status.value} is final"
        super().__init__(f"{what} is {status.value} and cannot take '{trigger.value}' ({hint})")
        self.status = status
        self.trigger = trigger


def next_status(status: OrderStatus, trigger: OrderTrigger, what: str = "order") -> OrderStatus:
    """The status after `trigger`, or InvalidTransition if the table has no such edge."""
    try:
        return TRANSITIONS[(status, trigger)]
    except KeyError:
        raise InvalidTransition(status, trigger, what) from None
