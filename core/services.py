"""The services of the seed's framework, under the names its users import:

    from core.services import OrderManager, PositionTracker, TradingCommandHandler

They are use cases of `core.service_layer`; this module only gathers them in one place.
"""

from core.service_layer.order_manager import CloseAllIncomplete, OrderChange, OrderManager, OrderRole
from core.service_layer.position_tracker import PositionTracker
from core.service_layer.trading import Refusal, TradingCommandHandler

__all__ = [
    "CloseAllIncomplete",
    "OrderChange",
    "OrderManager",
    "OrderRole",
    "PositionTracker",
    "Refusal",
    "TradingCommandHandler",
]
