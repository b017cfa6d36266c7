"""The rule engine: conditions, rules, indexed dispatch, and actions that return intentions.

    from core.rules import Rule, RuleEngine, EventCondition, CreateOrderAction

Modules: `condition` (EventCondition, AllOf, AnyOf, Not), `rule` (Rule), `index` (dispatch by
event class and symbol), `engine` (RuleEngine), `actions` and `linked_actions` (what rules do),
`intentions` (the commands actions return, and the CommandHandler that carries them out).
"""

from core.rules.actions import Action, ActionFailed, CreateOrderAction, RuleContext, reference_price
from core.rules.condition import ANY_SYMBOL, AllOf, AnyOf, Condition, EventCondition, Not
from core.rules.engine import RuleEngine, RuleFailure
from core.rules.intentions import (
    CloseAll,
    CommandHandler,
    Intention,
    PlaceBracket,
    PlaceOrder,
    RuleFiring,
    ScaleIn,
)
from core.rules.linked_actions import LinkedCloseAllAction, LinkedCreateOrderAction, LinkedScaleInAction
from core.rules.rule import Rule

__all__ = [
    "ANY_SYMBOL",
    "Action",
    "ActionFailed",
    "AllOf",
    "AnyOf",
    "CloseAll",
    "CommandHandler",
    "Condition",
    "CreateOrderAction",
    "EventCondition",
    "Intention",
    "LinkedCloseAllAction",
    "LinkedCreateOrderAction",
    "LinkedScaleInAction",
    "Not",
    "PlaceBracket",
    "PlaceOrder",
    "Rule",
    "RuleContext",
    "RuleEngine",
    "RuleFailure",
    "RuleFiring",
    "ScaleIn",
    "reference_price",
]
