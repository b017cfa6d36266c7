"""The cloud service: a Litestar app (HTTP + the `/listen_events` WebSocket) over the core's use cases."""
