"""New order requests with new refs: plain orders, brackets, flattening orders.

Refs read `tb<run>-<symbol>-<n>-<leg>` (legs E / TP / SL for a bracket, O for a plain order, X for
a flattening one): unique within a run from the IdGenerator, and across runs from `run` (the
manager uses its clock's start time), so a restarted process never reuses a ref at the broker.
"""

from __future__ import annotations

from decimal import Decimal

from core.orders import BracketRequest, OrderRequest, OrderType, TimeInForce
from core.ports import IdGenerator
from core.values import OrderRef, Side, quantize_price

__all__ = ["OrderRequests"]


class OrderRequests:
    """Builds validated requests with new refs; sends nothing."""

    def __init__(self, ids: IdGenerator, run: str = "") -> None:
        self._ids = ids
        self._run = run

    def new_ref(self, symbol: str, leg: str) -> OrderRef:
        return OrderRef(f"tb{self._run}-{symbol}-{self._ids.next_id()}-{leg}")

    def order(
        self, symbol: str, side: Side, quantity: Decimal, order_type: OrderType = OrderType.MARKET,
        limit_price: Decimal | None = None, stop_price: Decimal | None = None,
        tif: TimeInForce = TimeInForce.GTC,
    ) -> OrderRequest:
        """A plain order."""
        return OrderRequest(self.new_ref(symbol, "O"), symbol, side, quantity, order_type, limit_price,
                            stop_price, tif)

    def flatten(self, symbol: str, side: Side, quantity: Decimal) -> OrderRequest:
        """A market order closing `quantity` shares with `side`."""
        return OrderRequest(self.new_ref(symbol, "X"), symbol, side, quantity)

    def bracket(
        self, symbol: str, side: Side, quantity: Decimal, stop_loss_price: Decimal,
        take_profit_price: Decimal, order_type: OrderType = OrderType.MARKET,
        limit_price: Decimal | None = None,
    ) -> BracketRequest:
        """Entry + take profit (limit) + stop loss (stop) in one OCA group; prices to the cent."""
        entry_ref = self.new_ref(symbol, "E")
        stem, exit_side, oca = entry_ref[:-1], side.opposite, f"oca-{entry_ref}"
        entry = OrderRequest(entry_ref, symbol, side, quantity, order_type, limit_price)
        take_profit = OrderRequest(
            OrderRef(f"{stem}TP"), symbol, exit_side, quantity, OrderType.LIMIT,
            limit_price=quantize_price(take_profit_price), parent_ref=entry_ref, oca_group=oca,
        )
        stop_loss = OrderRequest(
            OrderRef(f"{stem}SL"), symbol, exit_side, quantity, OrderType.STOP,
            stop_price=quantize_price(stop_loss_price), parent_ref=entry_ref, oca_group=oca,
        )
        return BracketRequest(entry, take_profit, stop_loss)
