"""Restoring the tracked brackets after a start: a fresh core `Bracket` per bracket the journal
says was sent, brought to what the journal knows (acknowledgements, fills, ended legs).

Intentions raised while replaying are dropped: what they asked for was done before the restart,
or reconciliation does it now. The replayed aggregate still remembers them (a flatten handed
over, a cancel asked for), so later events do not raise them a second time.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from core.bracket import Bracket
from core.broker_events import Fill, OrderStatusUpdate
from core.journal import Journal, LegRecord, LegRole, LegStatus, Placement
from core.order_status import InvalidTransition, OrderStatus
from core.orders import OverFill
from core.service_layer.executor.placement import BRACKET_ROLES, BracketPlacement
from core.values import OrderRef


def replay(bracket: Bracket, legs: Sequence[LegRecord], fills: Sequence[Fill]) -> None:
    """Bring a fresh `Bracket` to what the journal knows (after a restart): acknowledgements,
    then fills in journal order, then the legs that ended. Intentions are dropped: what they
    asked for was done before the restart, or reconciliation does it now."""
    by_ref = {leg.order_ref: leg for leg in legs}
    for leg in legs:
        if leg.status is LegStatus.WORKING and leg.role is LegRole.ENTRY:
            bracket.apply_status(OrderStatusUpdate(leg.order_ref, OrderStatus.WORKING))
    for fill in fills:
        if fill.order_ref in by_ref:
            bracket.apply_fill(fill)
    for leg in legs:
        ended = {LegStatus.CANCELLED: OrderStatus.CANCELLED, LegStatus.REJECTED: OrderStatus.REJECTED}
        if leg.status in ended:
            bracket.apply_status(OrderStatusUpdate(leg.order_ref, ended[leg.status]))


def restore(journal: Journal, placement: BracketPlacement) -> None:
    """Track again every bracket the journal says was sent (or being sent), as of the journal."""
    legs_by_bracket: dict[OrderRef, list[LegRecord]] = defaultdict(list)
    for leg in journal.legs():
        if leg.role in BRACKET_ROLES:
            legs_by_bracket[leg.bracket_ref].append(leg)
    fills = journal.fills()
    for batch in journal.batches():
        for order in batch.orders:
            entry_ref = order.bracket.entry.order_ref
            legs = legs_by_bracket.get(entry_ref, [])
            if not any(leg.placement in (Placement.SENDING, Placement.SENT) for leg in legs):
                continue
            bracket = placement.track(entry_ref, order)
            try:
                replay(bracket, legs, fills)
            except (ValueError, InvalidTransition, OverFill) as error:
                placement.notices.append(f"bracket {entry_ref} could not be rebuilt from the journal "
                                         f"({error}); its orders are followed one by one")
                placement.forget(entry_ref)

