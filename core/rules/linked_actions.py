"""Linked-order actions of the seed: open a position with its stop and target, scale in, close all.

They only express intentions (PlaceBracket / PlaceOrder(linked=True), ScaleIn, CloseAll). The
per-symbol linked state that gives them meaning (the recorded side, the rule that a scale-in must
match it, cancelling every linked order on close, the reset when the position goes flat) is
applied by the CommandHandler the engine hands them to, not here.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from core.rules.actions import (
    Number,
    RuleContext,
    assign_fields,
    decimal_or_none,
    parse_side,
    reference_price,
)
from core.rules.intentions import (
    CloseAll,
    PlaceBracket,
    PlaceOrder,
    ScaleIn,
    check_fraction,
    check_price,
    check_quantity,
    check_symbol,
)
from core.values import ZERO, OrderType, Side, to_decimal

__all__ = ["LinkedCloseAllAction", "LinkedCreateOrderAction", "LinkedScaleInAction"]


@dataclass(frozen=True, slots=True, init=False)
class LinkedCreateOrderAction:
    """Open (or add to) the linked position of `symbol` on `side`.

    With `auto_create_stops` (the default: a filled position should never be without its stop)
    it returns a PlaceBracket whose stop and target sit `stop_loss_pct` and `take_profit_pct`
    away from the reference price: the limit price of a limit entry, else the triggering
    event's price or `context["prices"][symbol]`. Without, it returns PlaceOrder(linked=True).
    """

    symbol: str
    quantity: Decimal
    side: Side
    order_type: OrderType
    limit_price: Decimal | None
    stop_price: Decimal | None
    auto_create_stops: bool
    stop_loss_pct: Decimal | None
    take_profit_pct: Decimal | None

    def __init__(
        self,
        symbol: str,
        quantity: Number,
        side: Side | str,
        order_type: OrderType = OrderType.MARKET,
        limit_price: Number | None = None,
        stop_price: Number | None = None,
        auto_create_stops: bool = True,
        stop_loss_pct: Number | None = Decimal("0.03"),
        take_profit_pct: Number | None = Decimal("0.08"),
    ) -> None:
        where = f"LinkedCreateOrderAction({symbol!r})"
        check_symbol(symbol, where)
        assign_fields(
            self,
            symbol=symbol,
            quantity=to_decimal(quantity, f"{where} quantity"),
            side=parse_side(side, where),
            order_type=OrderType(order_type),
            limit_price=decimal_or_none(limit_price, f"{where} limit_price"),
            stop_price=decimal_or_none(stop_price, f"{where} stop_price"),
            auto_create_stops=bool(auto_create_stops),
            stop_loss_pct=decimal_or_none(stop_loss_pct, f"{where} stop_loss_pct"),
            take_profit_pct=decimal_or_none(take_profit_pct, f"{where} take_profit_pct"),
        )
        check_quantity(self.quantity, where)
        check_price(self.limit_price, "limit_price", where, required=self.order_type.needs_limit_price)
        check_price(self.stop_price, "stop_price", where, required=self.order_type.needs_stop_price)
        if self.auto_create_stops:
            if self.stop_loss_pct is None or self.take_profit_pct is None:
                raise ValueError(
                    f"{where}: auto_create_stops needs both stop_loss_pct and take_profit_pct "
                    "(a bracket has a stop and a target), or pass auto_create_stops=False"
                )
            check_fraction(self.stop_loss_pct, "stop_loss_pct", where)
            check_fraction(self.take_profit_pct, "take_profit_pct", where)
            if self.order_type not in (OrderType.MARKET, OrderType.LIMIT):
                raise ValueError(
                    f"{where}: a bracket entry is a market or limit order, not {self.order_type}"
                )

    def intentions(self, event: object, context: RuleContext) -> tuple[PlaceBracket] | tuple[PlaceOrder]:
        if not self.auto_create_stops:
            return (
                PlaceOrder(
                    self.symbol, self.side, self.quantity, self.order_type, self.limit_price,
                    self.stop_price, linked=True,
                ),
            )
        assert self.stop_loss_pct is not None and self.take_profit_pct is not None  # checked in __init__
        reference = (
            self.limit_price if self.limit_price is not None else reference_price(self.symbol, event, context)
        )
        return (
            PlaceBracket(
                self.symbol, self.side, self.quantity, self.stop_loss_pct, self.take_profit_pct,
                reference, self.order_type, self.limit_price,
            ),
        )


@dataclass(frozen=True, slots=True, init=False)
class LinkedScaleInAction:
    """Add `scale_quantity` (or `quantity`) shares to the open linked position of `symbol` when it
    is at least `trigger_profit_pct` in profit. `side`, if given, is the side the position must be
    on. The reference price is the triggering event's or `context["prices"][symbol]`."""

    symbol: str
    scale_quantity: Decimal
    trigger_profit_pct: Decimal
    side: Side | None

    def __init__(
        self,
        symbol: str,
        scale_quantity: Number | None = None,
        trigger_profit_pct: Number = Decimal("0.02"),
        *,
        quantity: Number | None = None,
        side: Side | str | None = None,
    ) -> None:
        where = f"LinkedScaleInAction({symbol!r})"
        check_symbol(symbol, where)
        if (scale_quantity is None) == (quantity is None):
            raise ValueError(f"{where}: give the quantity to add once, as scale_quantity or quantity")
        amount = scale_quantity if scale_quantity is not None else quantity
        assign_fields(
            self,
            symbol=symbol,
            scale_quantity=to_decimal(amount, f"{where} scale_quantity"),
            trigger_profit_pct=to_decimal(trigger_profit_pct, f"{where} trigger_profit_pct"),
            side=None if side is None else parse_side(side, where),
        )
        check_quantity(self.scale_quantity, where)
        if self.trigger_profit_pct < ZERO:
            raise ValueError(f"{where}: trigger_profit_pct cannot be negative, got {self.trigger_profit_pct}")

    @property
    def quantity(self) -> Decimal:
        """The same as `scale_quantity`."""
        return self.scale_quantity

    def intentions(self, event: object, context: RuleContext) -> tuple[ScaleIn]:
        price = reference_price(self.symbol, event, context)
        return (ScaleIn(self.symbol, self.scale_quantity, self.trigger_profit_pct, price, self.side),)


@dataclass(frozen=True, slots=True)
class LinkedCloseAllAction:
    """Cancel every linked order of `symbol` and flatten its position, giving `reason`."""

    symbol: str
    reason: str = "Manual close"

    def __post_init__(self) -> None:
        check_symbol(self.symbol, f"LinkedCloseAllAction({self.symbol!r})")

    def intentions(self, event: object, context: RuleContext) -> tuple[CloseAll]:
        return (CloseAll(self.symbol, self.reason),)
