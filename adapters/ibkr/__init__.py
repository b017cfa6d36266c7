"""The IBKR adapter: Broker and MarketData ports on ib_async 2.1.0, talking to TWS / IB Gateway.

    from adapters.ibkr import TWSConfig, TWSConnection, IbkrBroker, IbkrMarketData

    broker = IbkrBroker(TWSConfig.from_env())
    await broker.connect()
    prices = IbkrMarketData(broker.connection)

No ib_async type crosses this package's boundary: translate.py is the one door.
"""

from adapters.ibkr.broker import IbkrBroker
from adapters.ibkr.config import TWSConfig, TWSConfigError
from adapters.ibkr.connection import TWSConnection
from adapters.ibkr.market_data import IbkrMarketData

__all__ = ["IbkrBroker", "IbkrMarketData", "TWSConfig", "TWSConfigError", "TWSConnection"]
