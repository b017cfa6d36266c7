"""The seed's "Simple TWS Connection", on tradebridge.

Connects to TWS (or IB Gateway, or the fake TWS of the tests) at TWS_HOST / TWS_PORT (defaults:
127.0.0.1:7497, the paper-trading port), asks for its time and disconnects. Without a TWS it
prints the seed's "Failed to connect to TWS" and why.

    TWS_PORT=7497 python examples/simple_connection.py
    python -m tests.fake_tws --port 0      # prints {"port": N, ...}; then TWS_PORT=N python ...
"""

import asyncio
import os

from adapters.ibkr import TWSConfig, TWSConnection


async def main():
    # Create configuration
    config = TWSConfig(
        host=os.environ.get("TWS_HOST", "127.0.0.1"),
        port=int(os.environ.get("TWS_PORT", "7497")),  # TWS paper trading port
        client_id=1
    )

    # Create connection
    connection = TWSConnection(config)

    # Connect to TWS
    connected = await connection.connect()

    if connected:
        print("Connected to TWS!")

        # Request current time
        current_time = await connection.request_current_time()
        print(f"TWS time: {current_time:%Y-%m-%d %H:%M:%S %Z}")

        # Disconnect when done
        connection.disconnect()
    else:
        print("Failed to connect to TWS")
        print(f"   {connection.last_error}")


if __name__ == "__main__":
    asyncio.run(main())
