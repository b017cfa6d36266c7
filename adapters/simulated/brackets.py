"""The bracket rules (shared with core/bracket.py), as the simulated broker applies them.

- Exits are HELD until the entry fills anything; then both work for exactly the bracket's open
  quantity (entry filled - exits filled), growing with each entry fill ("never naked").
- An exit fill shrinks the other exit to the new open quantity (OCA reduce). When the open quantity
  reaches 0 the bracket is closed: the other exit and any entry remainder are cancelled.
- An entry that ends (cancelled, rejected, expired) without a fill takes its exits with it; after
  a partial fill, the exits stay working for what it filled.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from adapters.simulated.book import SimBracket, SimOrder
from core.order_status import OrderTrigger
from core.orders import OrderRequest
from core.ports import BrokerError
from core.values import ZERO, OrderType

if TYPE_CHECKING:
    from adapters.simulated.exchange import Exchange

_CANCEL = OrderTrigger.CANCEL


def on_entry_fill(exchange: Exchange, bracket: SimBracket) -> None:
    """The entry filled (partly or fully): activate or grow the exits to the open quantity."""
    # Sums and differences with a 0 are skipped (a Decimal is false exactly when it is 0): this
    # runs on every entry fill, and each would make a new Decimal of the same value. The two
    # exits are written out, take profit first, rather than looped over.
    exit_filled = bracket.exit_filled
    open_quantity = bracket.entry.filled - exit_filled if exit_filled else bracket.entry.filled
    still_open = exchange.open
    take_profit = bracket.take_profit
    if take_profit is not None and take_profit.ref in still_open:
        filled = take_profit.filled
        exchange.activate(take_profit, filled + open_quantity if filled else open_quantity)
    stop_loss = bracket.stop_loss
    if stop_loss is not None and stop_loss.ref in still_open:
        filled = stop_loss.filled
        exchange.activate(stop_loss, filled + open_quantity if filled else open_quantity)


def on_exit_fill(exchange: Exchange, bracket: SimBracket, exit_order: SimOrder, quantity: Decimal) -> None:
    """An exit filled `quantity`: shrink the other exit, or close the bracket at zero."""
    exit_filled = bracket.exit_filled
    bracket.exit_filled = exit_filled = exit_filled + quantity if exit_filled else quantity
    entry_filled = bracket.entry.filled
    # `bracket.other_exit(exit_order)`, inlined: every exit fill passes here.
    other = bracket.stop_loss if exit_order is bracket.take_profit else bracket.take_profit
    still_open = exchange.open
    # Shares remain open (compared, not subtracted: no new Decimal). An exit that closed all of
    # it has often filled the very Decimal the entry filled: the identity test spares the comparison.
    if exit_filled is not entry_filled and exit_filled < entry_filled:
        if other is not None and other.ref in still_open:
            exchange.resize(other, other.filled + (entry_filled - exit_filled))
        return
    if other is not None and other.ref in still_open:
        exchange.finish(other, _CANCEL, f"cancelled: {exit_order.ref} closed the bracket (OCA)")
    entry = bracket.entry
    if entry.ref in still_open:
        # The trade idea is over: never re-open a position after its stop or target.
        exchange.finish(entry, _CANCEL, f"cancelled: {exit_order.ref} closed the bracket")


def on_entry_ended(exchange: Exchange, bracket: SimBracket, how: str) -> None:
    """The entry was cancelled, rejected or expired: without a fill, its exits go too."""
    if bracket.entry.filled > ZERO:
        return
    for exit_order in bracket.exits():
        if not exit_order.status.is_terminal:
            exchange.finish(
                exit_order, _CANCEL, f"cancelled: its entry {bracket.entry.ref} was {how}"
            )


def attach_exit(exchange: Exchange, request: OrderRequest) -> SimBracket:
    """Validate an exit placed on its own with `parent_ref` (a missing or rebuilt leg) and return
    the bracket it joins. Raises BrokerError, changing nothing, if it cannot join."""
    ref, parent_ref = request.order_ref, request.parent_ref
    where = f"order {ref} (child of {parent_ref})"
    parent = exchange.orders.get(parent_ref) if parent_ref is not None else None
    if parent is None:
        raise BrokerError(
            f"{where}: the parent is not at the broker; place the parent first or drop parent_ref",
            order_ref=ref,
        )
    bracket = parent.bracket
    if bracket is not None and bracket.entry is not parent:
        raise BrokerError(f"{where}: the parent is itself an exit; name the entry as parent", order_ref=ref)
    if request.symbol != parent.symbol or request.side is parent.request.side:
        raise BrokerError(
            f"{where}: an exit must be for {parent.symbol} on the side opposite to its parent "
            f"({parent.request.side.opposite.value})", order_ref=ref,
        )
    if request.order_type is OrderType.MARKET:
        raise BrokerError(
            f"{where}: an exit must be a LMT (take profit) or STP/STP LMT (stop loss); to close a "
            f"position at market, place a market order without parent_ref", order_ref=ref,
        )
    if bracket is None:
        bracket = SimBracket(parent)
    current = bracket.stop_loss if request.order_type.needs_stop_price else bracket.take_profit
    if current is not None and not current.status.is_terminal:
        raise BrokerError(
            f"{where}: the bracket already has {current.ref} ({current.status.value}) in that role; "
            f"cancel it before placing another", order_ref=ref,
        )
    if parent.status.is_terminal and bracket.open_quantity == ZERO:
        raise BrokerError(
            f"{where}: nothing to protect: the parent is {parent.status.value} and the bracket has no "
            f"open quantity", order_ref=ref,
        )
    parent.bracket = bracket
    return bracket

