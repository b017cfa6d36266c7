"""The local executor's use cases: intake, risk gate, placement, reconciliation, and the
coordinator (`service.ExecutorService`) that the WebSocket client and the CLI drive.

Everything here is pure core over ports (Journal, Broker, Clock, IdGenerator): no I/O of its own,
so the entrypoints stay thin and the tests run on fakes.
"""
