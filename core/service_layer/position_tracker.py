"""The position tracker: positions and realized / unrealized P&L from the bus's fills and prices.

    position_tracker = PositionTracker(event_bus)
    await position_tracker.initialize()       # follows OrderFilledEvent and PriceEvent

Each position is the core fold of its fills (`core.position.Position`, average cost, exact
Decimal). Every fill, and every price that moves an open position's mark, publishes a
PositionChangedEvent with the quantity before and after, the average price, and the P&L.
Fills are counted once each (by execution id), whatever the bus or the broker repeats.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from core.broker_events import Fill
from core.bus import EventBus, Subscription
from core.events import OrderFilledEvent, PositionChangedEvent, PriceEvent
from core.position import Position
from core.values import ZERO

__all__ = ["PositionTracker"]

logger = logging.getLogger(__name__)


class PositionTracker:
    """Positions per symbol and their P&L, following the event bus (see the module doc)."""

    def __init__(self, event_bus: EventBus) -> None:
        self._bus = event_bus
        self._positions: dict[str, Position] = {}
        self._marks: dict[str, Decimal] = {}
        self._exec_ids: set[str] = set()
        self._subscription: Subscription | None = None

    async def initialize(self) -> None:
        """Start following fills and prices on the bus (idempotent)."""
        if self._subscription is None:
            # One subscription for both, so fills and prices are taken in the order published.
            self._subscription = self._bus.subscribe(
                (OrderFilledEvent, PriceEvent), self._on_event, name="position-tracker"
            )

    async def close(self) -> None:
        """Stop following the bus."""
        if self._subscription is not None:
            self._subscription.unsubscribe()
            self._subscription = None

    # -- queries -----------------------------------------------------------------------------

    def get_position(self, symbol: str) -> Position | None:
        """The position in `symbol` (a copy), or None if nothing has filled in it."""
        held = self._positions.get(symbol)
        if held is None:
            return None
        return Position(symbol, held.quantity, held.cost_basis, held.realized_pnl, held.commissions)

    def get_all_positions(self) -> dict[str, Position]:
        """Every position that has had a fill, flat ones included (copies)."""
        return {symbol: Position(symbol, p.quantity, p.cost_basis, p.realized_pnl, p.commissions)
                for symbol, p in self._positions.items()}

    def open_positions(self) -> dict[str, Position]:
        """The positions that are not flat."""
        return {symbol: p for symbol, p in self.get_all_positions().items() if not p.is_flat}

    def quantity(self, symbol: str) -> Decimal:
        """Signed shares held (negative is short), 0 when flat or unknown."""
        held = self._positions.get(symbol)
        return held.quantity if held is not None else ZERO

    def mark(self, symbol: str) -> Decimal | None:
        """The latest price of `symbol` (a PriceEvent, or the last fill), if any."""
        return self._marks.get(symbol)

    def realized_pnl(self, symbol: str | None = None) -> Decimal:
        """Realized P&L (gross of commissions) of `symbol`, or of every symbol."""
        return sum((p.realized_pnl for p in self._select(symbol)), ZERO)

    def unrealized_pnl(self, symbol: str | None = None) -> Decimal:
        """Unrealized P&L at the latest mark of `symbol`, or of every symbol."""
        return sum((self._unrealized(p) for p in self._select(symbol)), ZERO)

    def commissions(self, symbol: str | None = None) -> Decimal:
        return sum((p.commissions for p in self._select(symbol)), ZERO)

    def total_pnl(self, symbol: str | None = None) -> Decimal:
        """Realized plus unrealized, minus commissions."""
        return self.realized_pnl(symbol) + self.unrealized_pnl(symbol) - self.commissions(symbol)

    # -- events ------------------------------------------------------------------------------

    async def _on_event(self, event: object) -> None:
        if isinstance(event, PriceEvent):
            await self._on_price(event)
        elif isinstance(event, OrderFilledEvent):
            await self._on_fill(event)

    async def _on_fill(self, event: OrderFilledEvent) -> None:
        if event.exec_id in self._exec_ids:
            return
        position = self._positions.setdefault(event.symbol, Position(event.symbol))
        previous = position.quantity
        fill = Fill(event.exec_id, event.order_ref, event.symbol, event.side, event.quantity, event.price,
                    event.timestamp, event.commission)
        try:
            position.apply(fill)
        except ValueError as exc:
            logger.error("position tracker could not take %r: %s", event, exc)
            return
        self._exec_ids.add(event.exec_id)
        self._marks[event.symbol] = event.price
        await self._publish(position, previous, event)

    async def _on_price(self, event: PriceEvent) -> None:
        before = self._marks.get(event.symbol)
        self._marks[event.symbol] = event.price
        position = self._positions.get(event.symbol)
        if position is None or position.is_flat or before == event.price:
            return
        await self._publish(position, position.quantity, event)

    async def _publish(
        self, position: Position, previous: Decimal, cause: OrderFilledEvent | PriceEvent
    ) -> None:
        await self._bus.publish(
            PositionChangedEvent(
                position.symbol, position.quantity, position.avg_price, previous, position.realized_pnl,
                self._unrealized(position), timestamp=cause.timestamp,
            )
        )

    def _unrealized(self, position: Position) -> Decimal:
        mark = self._marks.get(position.symbol)
        return position.unrealized_pnl(mark) if mark is not None else ZERO

    def _select(self, symbol: str | None) -> list[Position]:
        if symbol is None:
            return list(self._positions.values())
        held = self._positions.get(symbol)
        return [held] if held is not None else []
