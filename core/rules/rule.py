"""A trading rule: when `condition` holds for an event, `action` says what to do.

Rules are immutable values; the engine keeps their firing state (last firing time, one-shot
spent) and replaces a rule with `enabled=False` when it is disabled or its one shot is used.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.rules.actions import Action
from core.rules.condition import Condition

__all__ = ["Rule"]


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule of the engine.

    `priority`: higher fires first among the rules matching one event (ties: registration order).
    `cooldown_seconds`: after a firing, the rule does not fire again for events stamped less than
    this many seconds later (event time, never the wall clock). `one_shot`: the rule fires once,
    then the engine disables it.
    """

    rule_id: str
    name: str
    condition: Condition
    action: Action
    priority: int = 0
    cooldown_seconds: float = 0
    one_shot: bool = False
    enabled: bool = True
    description: str = ""

    def __post_init__(self) -> None:
        where = f"Rule {self.rule_id!r}"
        if not isinstance(self.rule_id, str) or not self.rule_id:
            raise ValueError(f"a rule needs a non-empty string rule_id, got {self.rule_id!r}")
        if not isinstance(self.condition, Condition):
            raise TypeError(
                f"{where}: condition must be a Condition (EventCondition, AllOf, ...), got {self.condition!r}"
            )
        if not callable(getattr(self.action, "intentions", None)):
            raise TypeError(
                f"{where}: action must have an intentions(event, context) method returning intentions "
                f"(CreateOrderAction, LinkedCreateOrderAction, ...); got {self.action!r}"
            )
        if isinstance(self.priority, bool) or not isinstance(self.priority, int):
            raise TypeError(f"{where}: priority must be an int, got {self.priority!r}")
        if not self.cooldown_seconds >= 0:
            raise ValueError(f"{where}: cooldown_seconds cannot be negative, got {self.cooldown_seconds}")
