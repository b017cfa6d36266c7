"""The WebSocket protocol between the cloud service and the local executor (`/listen_events`)."""
