"""The trading command handler: where the rule engine's intentions become orders.

Each intention goes through three doors, in order:
1. the linked-order state of its symbol (`core.linked`): an entry on the other side of an open
   position is refused, a scale-in must match the open side and needs a filled position, a
   close-all cancels every linked order and flattens;
2. the risk gate (`core.risk.RiskGate`), with the manager's positions and a reference price;
3. the order manager, which talks to the broker.
A refusal at any door is logged with its reason, kept in `refusals`, and published on the bus as
an OrderRejectedEvent. The handler follows the manager's changes synchronously, so the linked
state counts every fill and resets when a position ends through its stop or target.

    handler = TradingCommandHandler(order_manager)      # or order_manager.command_handler()
    engine = RuleEngine(event_bus, command_handler=handler)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import cast

from core.events import OrderRejectedEvent
from core.linked import LinkApproved, LinkedOrders, LinkRejected
from core.orders import BracketRequest, OrderRequest
from core.ports import BrokerError, MarketData
from core.risk import RiskGate, RiskLimits
from core.rules.actions import ActionFailed, RuleContext, reference_price
from core.rules.intentions import CloseAll, Intention, PlaceBracket, PlaceOrder, RuleFiring, ScaleIn
from core.service_layer.order_manager import CloseAllIncomplete, OrderChange, OrderManager
from core.values import ZERO, OrderRef, Side

__all__ = ["Refusal", "TradingCommandHandler"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Refusal:
    """An intention that was not carried out: which rule, which symbol, and why."""

    rule_id: str
    intention: Intention
    reason: str


def _market_data_of(order_manager: OrderManager) -> MarketData | None:
    """The broker's own market data, where the broker offers it (`market_data()`)."""
    offer = getattr(order_manager.broker, "market_data", None)
    return cast(MarketData, offer()) if callable(offer) else None


class TradingCommandHandler:
    """The CommandHandler of `core.rules.intentions`, over an OrderManager (see the module doc).

    `context` is read when an intention needs a reference price and the triggering event has none
    for its symbol (`context["prices"][symbol]`, as the seed's `update_context` sets it).
    """

    def __init__(
        self,
        order_manager: OrderManager,
        *,
        risk_gate: RiskGate | None = None,
        linked: LinkedOrders | None = None,
        context: RuleContext | None = None,
        market_data: MarketData | None = None,
    ) -> None:
        self._manager = order_manager
        self._market_data = market_data if market_data is not None else _market_data_of(order_manager)
        self._risk = risk_gate if risk_gate is not None else RiskGate(RiskLimits())
        self._linked = linked if linked is not None else LinkedOrders()
        self._context: RuleContext = context if context is not None else {}
        # Per linked symbol: the stop and target distances of its opening bracket, which its
        # scale-ins reuse (None: opened without automatic stops).
        self._protection: dict[str, tuple[Decimal, Decimal] | None] = {}
        self._plain: set[OrderRef] = set()  # plain orders: never part of a linked position
        self.refusals: list[Refusal] = []
        order_manager.observe(self._on_change)

    @classmethod
    def from_context(cls, order_manager: OrderManager, context: RuleContext) -> TradingCommandHandler:
        """The default handler of a RuleEngine whose context holds `order_manager`: it uses the
        context's "risk_gate" (a RiskGate) if there is one, else the default limits."""
        gate = context.get("risk_gate")
        return cls(order_manager, risk_gate=gate if isinstance(gate, RiskGate) else None, context=context)

    @property
    def linked(self) -> LinkedOrders:
        """The linked-order state of every symbol."""
        return self._linked

    @property
    def risk_gate(self) -> RiskGate:
        return self._risk

    async def handle(self, intention: Intention, firing: RuleFiring) -> None:
        """Carry out one intention, or refuse it (logged, recorded, published)."""
        if isinstance(intention, PlaceBracket):
            await self._place_bracket(intention, firing)
        elif isinstance(intention, PlaceOrder):
            await self._place_order(intention, firing)
        elif isinstance(intention, ScaleIn):
            await self._scale_in(intention, firing)
        else:
            await self._close_all(intention, firing)

    # -- the intentions ----------------------------------------------------------------------

    async def _place_bracket(self, intention: PlaceBracket, firing: RuleFiring) -> None:
        manager, symbol = self._manager, intention.symbol
        request = manager.requests.bracket(
            symbol, intention.side, intention.quantity, intention.stop_loss_price,
            intention.take_profit_price, intention.order_type, intention.limit_price,
        )
        entry = request.entry
        decision = self._linked.open(symbol, intention.side, entry.order_ref, request.stop_loss.order_ref,
                                     request.take_profit.order_ref, intention.quantity)
        if isinstance(decision, LinkRejected):
            self._refuse(firing, intention, entry.order_ref, decision.reason)
            return
        if not self._approved(firing, intention, entry, intention.reference_price):
            self._linked.close_all(symbol, "refused by risk")  # nothing filled: the state goes
            return
        self._protection[symbol] = (intention.stop_loss_pct, intention.take_profit_pct)
        await self._send(firing, intention, request)

    async def _place_order(self, intention: PlaceOrder, firing: RuleFiring) -> None:
        manager, symbol = self._manager, intention.symbol
        request = manager.requests.order(symbol, intention.side, intention.quantity, intention.order_type,
                                        intention.limit_price, intention.stop_price)
        reference = await self._reference(symbol, firing)
        if not intention.linked:
            if self._approved(firing, intention, request, reference):
                self._plain.add(request.order_ref)
                await self._send(firing, intention, request)
            return
        ref = request.order_ref
        no_stop, no_target = OrderRef(f"{ref}~no-stop"), OrderRef(f"{ref}~no-target")
        decision = self._linked.open(symbol, intention.side, ref, no_stop, no_target, intention.quantity)
        if isinstance(decision, LinkRejected):
            self._refuse(firing, intention, ref, decision.reason)
            return
        for unplaced in (no_stop, no_target):  # linked without automatic stops: nothing to cancel later
            self._linked.on_order_ended(symbol, unplaced)
        if not self._approved(firing, intention, request, reference):
            self._linked.close_all(symbol, "refused by risk")
            return
        self._protection[symbol] = None
        await self._send(firing, intention, request)

    async def _scale_in(self, intention: ScaleIn, firing: RuleFiring) -> None:
        manager, symbol = self._manager, intention.symbol
        state = self._linked.get(symbol)
        side = state.side if state is not None else (intention.side or Side.BUY)
        protection = self._protection.get(symbol)
        request: BracketRequest | OrderRequest
        if protection is not None:
            stop_pct, target_pct = protection
            levels = PlaceBracket(symbol, side, intention.quantity, stop_pct, target_pct,
                                  intention.reference_price)
            request = manager.requests.bracket(symbol, side, intention.quantity, levels.stop_loss_price,
                                              levels.take_profit_price)
            entry = request.entry
            refs = (entry.order_ref, request.stop_loss.order_ref, request.take_profit.order_ref)
        else:
            request = entry = manager.requests.order(symbol, side, intention.quantity)
            refs = (entry.order_ref, OrderRef(f"{entry.order_ref}~no-stop"),
                    OrderRef(f"{entry.order_ref}~no-target"))
        reason = self._scale_in_problem(intention, side)
        if reason is not None:
            self._refuse(firing, intention, entry.order_ref, reason)
            return
        decision = self._linked.scale_in(symbol, side, intention.quantity, *refs)
        if isinstance(decision, LinkRejected):
            self._refuse(firing, intention, entry.order_ref, decision.reason)
            return
        if protection is None:
            for unplaced in refs[1:]:
                self._linked.on_order_ended(symbol, unplaced)
        if not self._approved(firing, intention, entry, intention.reference_price):
            for ref in refs:  # the scale-in's legs never went out
                self._linked.on_order_ended(symbol, ref)
            return
        await self._send(firing, intention, request)

    def _scale_in_problem(self, intention: ScaleIn, side: Side) -> str | None:
        symbol = intention.symbol
        state = self._linked.get(symbol)
        if state is None:
            return f"nothing is open for {symbol} to scale into; open a position first"
        if intention.side is not None and intention.side is not state.side:
            return (f"the rule scales into a {intention.side.value} position but {symbol} is "
                    f"{state.side.value}; a scale-in never changes sides")
        if state.closing is not None:
            return f"a close-all of {symbol} is in progress ({state.closing}); no scale-in until it is flat"
        if state.open_quantity == ZERO:
            return f"the {side.value} entry of {symbol} has not filled yet; scale in once it has"
        average = self._manager.position(symbol).avg_price
        if average <= ZERO:
            return f"{symbol}: no average entry price is known yet; scale in once the entry has filled"
        profit = (intention.reference_price - average) / average * side.sign
        if profit < intention.trigger_profit_pct:
            return (f"{symbol} is {profit:.2%} in profit at {intention.reference_price} (average entry "
                    f"{average:.4f}), below the scale-in trigger of {intention.trigger_profit_pct:.2%}")
        return None

    async def _close_all(self, intention: CloseAll, firing: RuleFiring) -> None:
        symbol = intention.symbol
        plan = self._linked.close_all(symbol, intention.reason)
        logger.info("close-all %s (%s): cancelling %d linked order(s), flattening %s", symbol,
                    intention.reason, len(plan.cancel_refs), plan.flatten_quantity)
        try:
            await self._manager.flatten(symbol, intention.reason)
        except (CloseAllIncomplete, BrokerError) as exc:
            self._refuse(firing, intention, OrderRef(f"close-all-{symbol}"), str(exc))

    # -- the doors ---------------------------------------------------------------------------

    def _approved(
        self, firing: RuleFiring, intention: Intention, order: OrderRequest, reference: Decimal | None
    ) -> bool:
        manager = self._manager
        # The daily-loss limit needs today's P&L: what this manager traded since it started.
        self._risk.record_pnl(manager.net_pnl())
        verdict = self._risk.check(order, reference, manager.positions(), manager.clock.now())
        if verdict.approved:
            return True
        self._refuse(firing, intention, order.order_ref, "refused by risk: " + "; ".join(verdict.reasons))
        return False

    async def _send(
        self, firing: RuleFiring, intention: Intention, request: BracketRequest | OrderRequest
    ) -> None:
        try:
            if isinstance(request, BracketRequest):
                await self._manager.submit_bracket(request)
            else:
                await self._manager.submit_order(request)
        except BrokerError as exc:
            # The manager has published the rejection and the legs ended; linked state follows.
            self.refusals.append(Refusal(firing.rule_id, intention, f"refused by the broker: {exc}"))
            logger.warning("rule %s: %r refused by the broker: %s", firing.rule_id, intention, exc)

    def _refuse(self, firing: RuleFiring, intention: Intention, ref: OrderRef, reason: str) -> None:
        self.refusals.append(Refusal(firing.rule_id, intention, reason))
        logger.warning("rule %s: %r refused: %s", firing.rule_id, intention, reason)
        self._manager.bus.publish_nowait(
            OrderRejectedEvent(intention.symbol, ref, reason, timestamp=self._manager.clock.now())
        )

    async def _reference(self, symbol: str, firing: RuleFiring) -> Decimal | None:
        """The price the rule saw for `symbol`, else the context's, else the manager's last, else
        the market data's (as the seed's examples expect a market order to work with no price)."""
        try:
            return reference_price(symbol, firing.event, self._context)
        except ActionFailed:
            pass
        last = self._manager.last_price(symbol)
        if last is not None or self._market_data is None:
            return last
        try:
            return await self._market_data.last_price(symbol)
        except (LookupError, BrokerError) as error:
            logger.warning("no reference price for %s from market data: %s", symbol, error)
            return None

    # -- following the orders ----------------------------------------------------------------

    def _on_change(self, change: OrderChange) -> None:
        symbol = change.symbol
        linked = self._linked
        if linked.get(symbol) is None or change.order_ref in self._plain:
            return
        if change.fill is not None:
            self._follow(linked.on_fill(change.fill))
            if change.position == ZERO and linked.get(symbol) is not None:
                self._follow(linked.on_flat(symbol))
        elif change.status.is_terminal:
            linked.on_order_ended(symbol, change.order_ref)
        state = linked.get(symbol)
        if state is not None and state.open_quantity == ZERO and not state.working_refs:
            linked.close_all(symbol, "every linked order ended without a position")
        if linked.get(symbol) is None:
            self._protection.pop(symbol, None)

    def _follow(self, decision: LinkApproved | LinkRejected) -> None:
        if isinstance(decision, LinkRejected):
            logger.debug("linked state: %s", decision.reason)
            return
        if decision.message:
            logger.info("%s", decision.message)
        if decision.cancel_refs:
            self._manager.request_cancel(decision.cancel_refs, decision.message or "linked orders reset")
