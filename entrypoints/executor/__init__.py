"""The local executor (`tradebridge executor`, alias `local_trading_client`): the WebSocket link
to the cloud, the broker (TWS or the simulated one), the journal, and the logs around the core's
`ExecutorService`."""
