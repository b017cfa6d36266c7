"""What a `Bracket` asks of its owner (core/bracket.py): make the exits work, resize them, cancel
legs, flatten shares left without a stop. Frozen values; the bracket makes the common ones through
their writable twins (see `core.values.writable_twin`), exported here for it alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from core.values import OrderRef, Side, become, writable_twin


@dataclass(frozen=True, slots=True)
class ActivateExits:
    """The entry has filled: both exits must stop being held and work, each for `quantity`."""

    quantity: Decimal

    def __init__(self, quantity: Decimal) -> None:
        # Written by hand, not generated: one is made per entry fill (see `writable_twin`).
        writable: Any = self
        become(writable, _WritableActivateExits)
        writable.quantity = quantity
        writable.__class__ = ActivateExits


@dataclass(frozen=True, slots=True)
class ResizeExits:
    """The open quantity changed: each working exit must work for exactly `quantity` (unfilled)."""

    quantity: Decimal

    def __init__(self, quantity: Decimal) -> None:
        # Written by hand, not generated: one is made per partial fill (see `writable_twin`).
        writable: Any = self
        become(writable, _WritableResizeExits)
        writable.quantity = quantity
        writable.__class__ = ResizeExits


@dataclass(frozen=True, slots=True)
class CancelLegs:
    """These legs must be cancelled at the broker (harmless if the broker already did it)."""

    order_refs: tuple[OrderRef, ...]
    reason: str

    def __init__(self, order_refs: tuple[OrderRef, ...], reason: str) -> None:
        # Written by hand, not generated: one is made per bracket that ends (see `writable_twin`).
        writable: Any = self
        become(writable, _WritableCancelLegs)
        writable.order_refs = order_refs
        writable.reason = reason
        writable.__class__ = CancelLegs


@dataclass(frozen=True, slots=True)
class FlattenPosition:
    """Shares of this bracket have no working stop: send a market order of `side` (the opposite of
    the entry) for `quantity`, after the listed cancels, and raise the alarm with `reason`."""

    symbol: str
    side: Side
    quantity: Decimal
    reason: str


_WritableActivateExits = writable_twin(ActivateExits, "quantity")
_WritableResizeExits = writable_twin(ResizeExits, "quantity")
_WritableCancelLegs = writable_twin(CancelLegs, "order_refs", "reason")

WritableActivateExits = _WritableActivateExits
WritableCancelLegs = _WritableCancelLegs
"""The writable twins of `ActivateExits` and `CancelLegs`, for `Bracket`, which makes one on every
entry's first fill and on every ending: make one blank, assign every field, then set its
`__class__` to the frozen class before it leaves the function (see `writable_twin`)."""


BracketIntention = ActivateExits | ResizeExits | CancelLegs | FlattenPosition
