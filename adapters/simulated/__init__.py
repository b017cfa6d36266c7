"""The simulated broker: an in-process, deterministic implementation of the Broker and MarketData
ports, with partial fills, commissions, brackets, fault injection and snapshots.

    clock = ManualClock()
    broker = SimulatedBroker(clock, SimulationConfig(partial_fill_quantity=Decimal(100)))
    await broker.connect()
    broker.set_price("AAPL", Decimal("190.00"))   # matching runs now; events arrive now
"""

from adapters.simulated.broker import SimulatedBroker
from adapters.simulated.config import SimulationConfig
from adapters.simulated.faults import FaultInjector
from adapters.simulated.market_data import SimulatedMarketData
from adapters.simulated.prices import PriceFeed

__all__ = ["FaultInjector", "PriceFeed", "SimulatedBroker", "SimulatedMarketData", "SimulationConfig"]
