"""The rule engine: events in, intentions out, through an injected CommandHandler.

For each event the engine finds the rules that match (`match`: an index lookup by event class
and symbol, then the conditions of those few rules), fires them in priority order subject to
cooldown and one-shot (judged by the event's own timestamp), and hands each intention to the
command handler. It never places an order itself.

Without a command handler set, the engine uses the default one of the context's "order_manager"
(its `command_handler(context)`, as the seed's examples expect: they only put the order manager in
the context). With neither, the engine does not drop anything: it logs a warning and keeps each
firing in `engine.unhandled`. Those intentions are never replayed automatically when a handler
is set later (a stale order must not be placed); a person can inspect them and decide.
Failures (a condition or action that raised, an action that could not produce its intentions,
a handler that raised) are logged and kept, most recent last, in `engine.failures`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType

from core.bus import EventBus, Subscription
from core.events import PriceEvent
from core.rules.actions import ActionFailed
from core.rules.index import DispatchEntries, RuleIndex
from core.rules.intentions import INTENTION_TYPES, CommandHandler, Intention, RuleFiring
from core.rules.rule import Rule

__all__ = ["RuleEngine", "RuleFailure"]

logger = logging.getLogger(__name__)

FAILURES_KEPT = 1000


@dataclass(frozen=True, slots=True)
class RuleFailure:
    """A rule that could not do its part for one event: at which `stage` and why."""

    rule_id: str
    event: object
    stage: str  # "condition", "action", "cooldown" or "handler"
    reason: str


class RuleEngine:
    """Rules keyed by id, dispatched by event class and symbol (see the module doc)."""

    def __init__(
        self,
        event_bus: EventBus | None = None,
        *,
        command_handler: CommandHandler | None = None,
        context: Mapping[str, object] | None = None,
    ) -> None:
        self._bus = event_bus
        self._handler = command_handler
        self._rules: dict[str, Rule] = {}
        self._seq: dict[str, int] = {}
        self._next_seq = 0
        self._index = RuleIndex()
        self._tables = self._index.tables  # the same dict: cleared in place on every change
        self._last_fired: dict[str, datetime] = {}
        self._context: dict[str, object] = dict(context or {})
        self._context_view: Mapping[str, object] = MappingProxyType(self._context)
        self._subscription: Subscription | None = None
        # One event at a time from the bus, even while a subscription is being replaced and the
        # old one still delivers what it holds: firings (and cooldowns) never interleave.
        self._one_at_a_time = asyncio.Lock()
        self._running = False
        self.unhandled: list[RuleFiring] = []
        self.failures: deque[RuleFailure] = deque(maxlen=FAILURES_KEPT)

    # -- rules -------------------------------------------------------------------------------

    @property
    def rules(self) -> tuple[Rule, ...]:
        """Every registered rule (enabled or not), in registration order."""
        return tuple(self._rules.values())

    def get_rule(self, rule_id: str) -> Rule:
        try:
            return self._rules[rule_id]
        except KeyError:
            raise KeyError(f"no rule {rule_id!r} is registered (registered: {len(self._rules)})") from None

    def register_rule(self, rule: Rule) -> None:
        """Add a rule. Its id must be new: unregister the old rule first to replace it."""
        if not isinstance(rule, Rule):
            raise TypeError(f"register_rule takes a Rule, got {rule!r}")
        if rule.rule_id in self._rules:
            raise ValueError(
                f"a rule with id {rule.rule_id!r} is already registered "
                f"({self._rules[rule.rule_id].name!r}); unregister it first or choose another id"
            )
        self._rules[rule.rule_id] = rule
        self._seq[rule.rule_id] = self._next_seq
        self._next_seq += 1
        if rule.enabled:
            self._index.add(rule, self._seq[rule.rule_id])
        self._follow_event_classes()

    def register_rules(self, rules: Iterable[Rule]) -> None:
        """Register several rules (a strategy), in order."""
        for rule in rules:
            self.register_rule(rule)

    def unregister_rule(self, rule_id: str) -> Rule:
        """Remove a rule and its firing state; returns it."""
        rule = self.get_rule(rule_id)
        if rule.enabled:
            self._index.remove(rule)
        del self._rules[rule_id], self._seq[rule_id]
        self._last_fired.pop(rule_id, None)
        self._follow_event_classes()
        return rule

    def enable_rule(self, rule_id: str) -> None:
        self._set_enabled(self.get_rule(rule_id), True)

    def disable_rule(self, rule_id: str) -> None:
        self._set_enabled(self.get_rule(rule_id), False)

    def _set_enabled(self, rule: Rule, enabled: bool) -> None:
        if rule.enabled == enabled:
            return
        if rule.enabled:
            self._index.remove(rule)
        updated = dataclasses.replace(rule, enabled=enabled)
        self._rules[rule.rule_id] = updated
        if enabled:
            self._index.add(updated, self._seq[rule.rule_id])
        self._follow_event_classes()

    # -- context and handler -----------------------------------------------------------------

    @property
    def context(self) -> Mapping[str, object]:
        """A read-only view of the context actions receive."""
        return self._context_view

    def update_context(self, values: Mapping[str, object]) -> None:
        """Merge `values` into the context (e.g. "account", "prices", "order_manager")."""
        self._context.update(values)

    @property
    def command_handler(self) -> CommandHandler | None:
        return self._handler

    def set_command_handler(self, handler: CommandHandler | None) -> None:
        """Where intentions go from now on. Earlier `unhandled` firings are not replayed."""
        self._handler = handler

    # -- dispatch ----------------------------------------------------------------------------

    def match(self, event: object) -> list[Rule]:
        """The enabled rules whose conditions hold for `event`, in firing order.

        Pure dispatch: cooldown and one-shot are applied when firing (`process`), not here.
        """
        event_class = type(event)
        table = self._tables.get(event_class)
        if table is None:
            table = self._index.resolve(event_class)
        pinned, any_symbol = table
        candidates = pinned.get(getattr(event, "symbol", None))  # type: ignore[arg-type]
        if candidates is None:
            return self._evaluate(any_symbol, event) if any_symbol else []
        matched = self._evaluate(candidates, event)
        if any_symbol:
            more = self._evaluate(any_symbol, event)
            if more:
                matched.extend(more)
                matched.sort(key=self._index.rank)
        return matched

    def _evaluate(self, entries: DispatchEntries, event: object) -> list[Rule]:
        matched = []
        for rule, matches in entries:
            try:
                if matches(event):
                    matched.append(rule)
            except Exception as exc:
                self._fail(rule.rule_id, event, "condition", f"{type(exc).__name__}: {exc}", exc)
        return matched

    async def process(self, event: object) -> list[RuleFiring]:
        """Fire every matching rule for `event` and hand its intentions to the command handler.
        A PriceEvent first updates `context["prices"]`, so actions that size stops and targets from
        a percentage know the latest price even for signals that carry none."""
        if isinstance(event, PriceEvent):
            self._remember_price(event)
        firings: list[RuleFiring] = []
        for rule in self.match(event):
            if self._rules.get(rule.rule_id) is not rule:
                continue  # disabled or replaced by an earlier firing for this same event
            if not self._cooled_down(rule, event):
                continue
            intentions = self._intentions(rule, event)
            if intentions is None:
                continue
            self._record_firing(rule, event)
            firing = RuleFiring(rule.rule_id, rule.name, event, intentions)
            firings.append(firing)
            await self._hand_over(firing)
        return firings

    def _remember_price(self, event: PriceEvent) -> None:
        prices = self._context.get("prices")
        if not isinstance(prices, dict):
            # Replace a read-only mapping (or none) with a dict the engine owns; keep its entries.
            prices = dict(prices) if isinstance(prices, Mapping) else {}
            self._context["prices"] = prices
        prices[event.symbol] = event.price

    def _cooled_down(self, rule: Rule, event: object) -> bool:
        if rule.cooldown_seconds <= 0:
            return True
        now = getattr(event, "timestamp", None)
        if not isinstance(now, datetime):
            self._fail(
                rule.rule_id, event, "cooldown",
                "the event has no timestamp, so the rule's cooldown cannot be kept; it did not fire "
                "(give the event a timestamp, or the rule cooldown_seconds=0)",
            )
            return False
        last = self._last_fired.get(rule.rule_id)
        return last is None or now - last >= timedelta(seconds=rule.cooldown_seconds)

    def _intentions(self, rule: Rule, event: object) -> tuple[Intention, ...] | None:
        try:
            intentions = tuple(rule.action.intentions(event, self._context_view))
        except ActionFailed as exc:
            self._fail(rule.rule_id, event, "action", str(exc))
            return None
        except Exception as exc:
            self._fail(rule.rule_id, event, "action", f"{type(exc).__name__}: {exc}", exc)
            return None
        strays = [item for item in intentions if not isinstance(item, INTENTION_TYPES)]
        if strays:
            names = ", ".join(t.__name__ for t in INTENTION_TYPES)
            reason = f"returned {strays!r}; an action returns intentions ({names})"
            self._fail(rule.rule_id, event, "action", reason)
            return None
        return intentions

    def _record_firing(self, rule: Rule, event: object) -> None:
        timestamp = getattr(event, "timestamp", None)
        if isinstance(timestamp, datetime):
            self._last_fired[rule.rule_id] = timestamp
        if rule.one_shot:
            self._set_enabled(rule, False)

    def _context_handler(self) -> CommandHandler | None:
        """The default handler of the context's "order_manager", if it offers one."""
        make = getattr(self._context.get("order_manager"), "command_handler", None)
        if not callable(make):
            return None
        handler = make(self._context_view)
        return handler if callable(getattr(handler, "handle", None)) else None

    async def _hand_over(self, firing: RuleFiring) -> None:
        if not firing.intentions:
            return
        handler = self._handler if self._handler is not None else self._context_handler()
        if handler is None:
            self.unhandled.append(firing)
            logger.warning(
                "rule %s fired on %r but no command handler is configured; its intentions %r are kept "
                "in engine.unhandled and were not carried out (set one with set_command_handler, or put "
                "an OrderManager in the context as 'order_manager')",
                firing.rule_id, firing.event, firing.intentions,
            )
            return
        for intention in firing.intentions:
            try:
                await handler.handle(intention, firing)
            except Exception as exc:
                reason = f"{intention!r}: {type(exc).__name__}: {exc}"
                self._fail(firing.rule_id, firing.event, "handler", reason, exc)

    def _fail(
        self, rule_id: str, event: object, stage: str, reason: str, exc: Exception | None = None
    ) -> None:
        self.failures.append(RuleFailure(rule_id, event, stage, reason))
        logger.error("rule %s failed at %s on %r: %s", rule_id, stage, event, reason, exc_info=exc)

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._running

    async def start(self) -> None:
        """Subscribe to the event classes the rules need (and follow later rule changes)."""
        if self._bus is None:
            raise RuntimeError(
                "this RuleEngine has no event bus: create it as RuleEngine(event_bus), "
                "or feed events with `await engine.process(event)`"
            )
        self._running = True
        self._follow_event_classes()

    async def stop(self) -> None:
        """Unsubscribe. Events already delivered to the engine are still processed."""
        self._running = False
        if self._subscription is not None:
            self._subscription.unsubscribe()
            self._subscription = None

    def _follow_event_classes(self) -> None:
        """Keep one bus subscription covering exactly the classes the enabled rules are filed under.
        Subclasses of another needed class are left out: the bus delivers them through it, and a
        subscription to both would deliver such events twice. When the set changes, the new
        subscription starts before the old one ends, so no event falls between them."""
        if not self._running or self._bus is None:
            return
        # Prices are always followed: they keep context["prices"] current for the actions.
        classes = set(self._index.event_classes()) | {PriceEvent}
        needed = tuple(
            sorted(
                (c for c in classes if not any(c is not other and issubclass(c, other) for other in classes)),
                key=lambda c: f"{c.__module__}.{c.__qualname__}",
            )
        )
        current = self._subscription
        if current is not None and set(current.event_types) == set(needed):
            return
        self._subscription = (
            self._bus.subscribe(needed, self._on_event, name="rule-engine") if needed else None
        )
        if current is not None:
            current.unsubscribe()

    async def _on_event(self, event: object) -> None:
        async with self._one_at_a_time:
            await self.process(event)
