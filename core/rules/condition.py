"""Conditions: when a rule applies to an event. They compose with `&`, `|` and `~`.

Besides `matches(event)`, every condition states where the engine must look for it:
`index_keys()` is a set of (event class, symbol or ANY_SYMBOL) under which the rule is filed, so
an event only meets the rules that could match it. The keys must cover every event the condition
can match (an event matches a key when it is an instance of the class and, for a pinned symbol,
has that `symbol`). A custom Condition that does not override `index_keys` is filed under
(object, ANY_SYMBOL): it sees every event, which is always correct, only slower.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Final

__all__ = ["ANY_SYMBOL", "AllOf", "AnyOf", "Condition", "EventCondition", "IndexKey", "Matcher", "Not"]

ANY_SYMBOL: Final = None
"""The symbol part of an index key that matches events of any (or no) symbol."""

IndexKey = tuple[type, str | None]

Matcher = Callable[[object], bool]
"""`matches`, possibly specialised for events already known to be of one class and symbol."""

_MISSING: Final = object()
_EVERY_EVENT: Final[frozenset[IndexKey]] = frozenset({(object, ANY_SYMBOL)})


class Condition(ABC):
    """A test on one event. Subclasses implement `matches` and, to be dispatched cheaply,
    `index_keys`."""

    __slots__ = ()

    @abstractmethod
    def matches(self, event: object) -> bool:
        """Whether the event satisfies this condition. Must not change anything."""

    def index_keys(self) -> frozenset[IndexKey]:
        """Where the engine files a rule with this condition (see the module doc)."""
        return _EVERY_EVENT

    def matcher_for(self, event_class: type, symbol: str | None) -> Matcher:
        """A test equivalent to `matches` for events of exactly `event_class` whose `symbol` is
        `symbol` (or anything, for ANY_SYMBOL). The engine calls it once per dispatch table, so a
        condition may drop the checks the index already made."""
        return self.matches

    def __and__(self, other: Condition) -> AllOf:
        return AllOf(self, other)

    def __or__(self, other: Condition) -> AnyOf:
        return AnyOf(self, other)

    def __invert__(self) -> Not:
        return Not(self)


class EventCondition(Condition):
    """An event of `event_type` (or a subclass) whose fields satisfy `field_conditions`.

    Each value in `field_conditions` is either the exact value the field must equal, or a
    callable predicate taking the field's value (`{"confidence": lambda c: c > 0.75}`). An exact
    string for `symbol` pins the condition to that symbol, which is what makes dispatch cheap.
    An event lacking a named field does not match.
    """

    __slots__ = ("_checks", "event_type", "field_conditions")

    def __init__(self, event_type: type, field_conditions: Mapping[str, object] | None = None) -> None:
        if not isinstance(event_type, type):
            raise TypeError(f"EventCondition needs an event class, got {event_type!r}")
        conditions = dict(field_conditions or {})
        _check_field_names(event_type, conditions)
        self.event_type = event_type
        self.field_conditions: Mapping[str, object] = MappingProxyType(conditions)
        # (field, predicate or None, expected) so `matches` does no type tests on the hot path.
        self._checks: tuple[tuple[str, Callable[[object], object] | None, object], ...] = tuple(
            (name, expected if callable(expected) else None, expected)
            for name, expected in conditions.items()
        )

    def matches(self, event: object) -> bool:
        if not isinstance(event, self.event_type):
            return False
        for name, predicate, expected in self._checks:
            value = getattr(event, name, _MISSING)
            if value is _MISSING:
                return False
            if predicate is not None:
                if not predicate(value):
                    return False
            elif value != expected:
                return False
        return True

    @property
    def symbol(self) -> str | None:
        """The symbol this condition is pinned to, or None."""
        expected = self.field_conditions.get("symbol")
        return expected if isinstance(expected, str) else None

    def index_keys(self) -> frozenset[IndexKey]:
        return frozenset({(self.event_type, self.symbol)})

    def matcher_for(self, event_class: type, symbol: str | None) -> Matcher:
        if not issubclass(event_class, self.event_type):
            return _never
        # The index already matched the class, and the symbol when this condition pins it.
        checks = tuple(
            check for check in self._checks
            if not (symbol is not None and check[0] == "symbol" and check[1] is None and check[2] == symbol)
        )
        if not checks:
            return _always
        if len(checks) == 1 and checks[0][1] is not None:
            name, predicate, _ = checks[0]
            assert predicate is not None

            def one_predicate(event: object) -> bool:
                value = getattr(event, name, _MISSING)
                return value is not _MISSING and bool(predicate(value))

            return one_predicate

        def remaining(event: object) -> bool:
            for name, predicate, expected in checks:
                value = getattr(event, name, _MISSING)
                if value is _MISSING:
                    return False
                if predicate is not None:
                    if not predicate(value):
                        return False
                elif value != expected:
                    return False
            return True

        return remaining

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, EventCondition):
            return NotImplemented
        return self.event_type is other.event_type and dict(self.field_conditions) == dict(
            other.field_conditions
        )

    def __hash__(self) -> int:
        return hash((EventCondition, self.event_type, frozenset(self.field_conditions)))

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{name}={getattr(value, '__name__', 'predicate') if callable(value) else repr(value)}"
            for name, value in self.field_conditions.items()
        )
        return f"EventCondition({self.event_type.__name__}{', ' if fields else ''}{fields})"


def _check_field_names(event_type: type, conditions: Mapping[str, object]) -> None:
    """A misspelt field would never match and never say why; refuse it at construction."""
    for name in conditions:
        if not isinstance(name, str) or not name:
            raise TypeError(f"field names in field_conditions must be strings, got {name!r}")
    if not dataclasses.is_dataclass(event_type):
        return  # plain classes may set attributes in __init__; nothing to check against
    known = {f.name for f in dataclasses.fields(event_type)} | set(dir(event_type))
    unknown = sorted(name for name in conditions if name not in known)
    if unknown:
        fields = ", ".join(f.name for f in dataclasses.fields(event_type))
        raise ValueError(
            f"{event_type.__name__} has no field {', '.join(map(repr, unknown))}; its fields are: {fields}"
        )


def _always(event: object) -> bool:
    return True


def _never(event: object) -> bool:
    return False


class _Combination(Condition):
    """Several conditions joined one way (AllOf, AnyOf): nested combinations of the same kind are
    flattened, and two combinations are equal when their kind and conditions are."""

    __slots__ = ("conditions",)

    def __init__(self, *conditions: Condition) -> None:
        self.conditions = _flatten(type(self), conditions)

    def __eq__(self, other: object) -> bool:
        return self.conditions == other.conditions if type(other) is type(self) else NotImplemented

    def __hash__(self) -> int:
        return hash((type(self), self.conditions))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(map(repr, self.conditions))})"


class AllOf(_Combination):
    """Every one of the conditions holds."""

    __slots__ = ()

    def matches(self, event: object) -> bool:
        return all(condition.matches(event) for condition in self.conditions)

    def index_keys(self) -> frozenset[IndexKey]:
        # An event that matches all of them matches each, so filing under any one child's keys
        # is enough: take the most selective (fewest any-symbol keys, then fewest keys).
        return min(
            (condition.index_keys() for condition in self.conditions),
            key=lambda keys: (sum(symbol is ANY_SYMBOL for _, symbol in keys), len(keys)),
        )


class AnyOf(_Combination):
    """At least one of the conditions holds."""

    __slots__ = ()

    def matches(self, event: object) -> bool:
        return any(condition.matches(event) for condition in self.conditions)

    def index_keys(self) -> frozenset[IndexKey]:
        return frozenset().union(*(condition.index_keys() for condition in self.conditions))


class Not(Condition):
    """The condition does not hold. It can match any event, so alone it is filed under every
    event; inside AllOf the other conditions decide where the rule is filed."""

    __slots__ = ("condition",)

    def __init__(self, condition: Condition) -> None:
        if not isinstance(condition, Condition):
            raise TypeError(f"Not needs a Condition, got {condition!r}")
        self.condition = condition

    def matches(self, event: object) -> bool:
        return not self.condition.matches(event)

    def __eq__(self, other: object) -> bool:
        return self.condition == other.condition if isinstance(other, Not) else NotImplemented

    def __hash__(self) -> int:
        return hash((Not, self.condition))

    def __repr__(self) -> str:
        return f"Not({self.condition!r})"


def _flatten(kind: type[_Combination], conditions: tuple[Condition, ...]) -> tuple[Condition, ...]:
    if not conditions:
        raise ValueError(f"{kind.__name__} needs at least one condition")
    flat: list[Condition] = []
    for condition in conditions:
        if not isinstance(condition, Condition):
            raise TypeError(f"{kind.__name__} takes Conditions, got {condition!r}")
        flat.extend(condition.conditions if isinstance(condition, kind) else (condition,))
    return tuple(flat)
