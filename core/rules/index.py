"""The dispatch index: rules filed by event class and symbol, so an event meets only the rules that
could match it and its cost does not grow with the rules that cannot.

A rule is filed under each of its condition's index keys (declared class, symbol or ANY_SYMBOL).
For each concrete event class the index resolves, once, a table: symbol -> rules pinned to it, plus
the rules for any symbol, each in firing order (priority high to low, then registration order).
Each rule comes with its condition's matcher for that class and symbol, which can skip the checks
the lookup already made. The table is cached until the rule set changes, so dispatching an event
is one dict lookup for the class, one for the symbol, and the few matchers found there.
"""

from __future__ import annotations

from core.rules.condition import ANY_SYMBOL, Matcher
from core.rules.rule import Rule

__all__ = ["DispatchEntries", "DispatchTable", "RuleIndex"]

DispatchEntries = tuple[tuple[Rule, Matcher], ...]
"""Rules in firing order, each with its condition's matcher for this class (and symbol)."""

DispatchTable = tuple[dict[str, DispatchEntries], DispatchEntries]
"""(entries pinned to each symbol, entries for any symbol) for one concrete event class."""


class _Bucket:
    """The rules filed under one declared class, by rule id (dicts keep insertion order and remove
    in O(1))."""

    __slots__ = ("any_symbol", "pinned")

    def __init__(self) -> None:
        self.pinned: dict[str, dict[str, Rule]] = {}
        self.any_symbol: dict[str, Rule] = {}

    def __bool__(self) -> bool:
        return bool(self.pinned or self.any_symbol)


class RuleIndex:
    """Enabled rules, filed for dispatch. `tables` is the per-class cache the engine reads."""

    __slots__ = ("_declared", "_rank", "tables")

    def __init__(self) -> None:
        self._declared: dict[type, _Bucket] = {}
        self._rank: dict[str, tuple[int, int]] = {}
        self.tables: dict[type, DispatchTable] = {}

    def add(self, rule: Rule, seq: int) -> None:
        """File `rule`; `seq` is its registration number (ties in priority fire in that order)."""
        self._rank[rule.rule_id] = (-rule.priority, seq)
        for event_class, symbol in rule.condition.index_keys():
            bucket = self._declared.setdefault(event_class, _Bucket())
            if symbol is ANY_SYMBOL:
                bucket.any_symbol[rule.rule_id] = rule
            else:
                bucket.pinned.setdefault(symbol, {})[rule.rule_id] = rule
        self.tables.clear()

    def remove(self, rule: Rule) -> None:
        """Unfile `rule` (as it was filed: its condition's keys)."""
        self._rank.pop(rule.rule_id, None)
        for event_class, symbol in rule.condition.index_keys():
            bucket = self._declared.get(event_class)
            if bucket is None:
                continue
            if symbol is ANY_SYMBOL:
                bucket.any_symbol.pop(rule.rule_id, None)
            else:
                rules = bucket.pinned.get(symbol)
                if rules is not None:
                    rules.pop(rule.rule_id, None)
                    if not rules:
                        del bucket.pinned[symbol]
            if not bucket:
                del self._declared[event_class]
        self.tables.clear()

    def event_classes(self) -> frozenset[type]:
        """The declared classes some rule is filed under."""
        return frozenset(self._declared)

    def rank(self, rule: Rule) -> tuple[int, int]:
        """Sort key of firing order."""
        return self._rank[rule.rule_id]

    def resolve(self, event_class: type) -> DispatchTable:
        """Build (and cache) the table for events of exactly `event_class`."""
        any_symbol: dict[str, Rule] = {}
        pinned: dict[str, dict[str, Rule]] = {}
        for declared, bucket in self._declared.items():
            if not issubclass(event_class, declared):
                continue
            any_symbol.update(bucket.any_symbol)
            for symbol, rules in bucket.pinned.items():
                pinned.setdefault(symbol, {}).update(rules)
        rank = self.rank

        def entries(rules: list[Rule], symbol: str | None) -> DispatchEntries:
            ordered = sorted(rules, key=rank)
            return tuple((rule, rule.condition.matcher_for(event_class, symbol)) for rule in ordered)

        # A rule filed both for a symbol and for any symbol (AnyOf) must be met once, not twice.
        table: DispatchTable = (
            {
                symbol: entries(only, symbol)
                for symbol, rules in pinned.items()
                if (only := [rule for rule_id, rule in rules.items() if rule_id not in any_symbol])
            },
            entries(list(any_symbol.values()), ANY_SYMBOL),
        )
        self.tables[event_class] = table
        return table
