"""The EventPublisher port: fan-out of small messages between cloud instances, and its in-memory form.

A batch placed on one cloud instance must reach an executor whose WebSocket is held by another
instance. Every instance subscribes to the same channels; a message published on one is handed to
the handlers of every instance (including the publisher's own). Messages are opaque bytes and carry
no guarantee of delivery: the outbox in the database is the authority, a message only says "look".
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

MessageHandler = Callable[[bytes], Awaitable[None]]
"""Called with each message of a channel the handler subscribed to."""

Unsubscribe = Callable[[], Awaitable[None]]

logger = logging.getLogger(__name__)


class EventPublisher(Protocol):
    """Publish/subscribe between cloud instances (in-memory for one instance, Redis for several)."""

    async def publish(self, channel: str, payload: bytes) -> None:
        """Hand `payload` to every subscriber of `channel`, on every instance."""
        ...

    async def subscribe(self, channel: str, handler: MessageHandler) -> Unsubscribe:
        """Call `handler` with every later message of `channel`; the result stops that."""
        ...

    async def close(self) -> None:
        """Stop every subscription and release connections; safe to call twice."""
        ...


class InMemoryPublisher:
    """EventPublisher for a single instance: handlers are awaited in the publisher's task, in
    subscription order, so a message has been handled when `publish` returns. A failing handler
    is logged and does not keep the message from the others."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[MessageHandler]] = {}

    async def publish(self, channel: str, payload: bytes) -> None:
        for handler in list(self._handlers.get(channel, ())):
            try:
                await handler(payload)
            except Exception:
                logger.exception("a subscriber of channel %s failed on a message", channel)

    async def subscribe(self, channel: str, handler: MessageHandler) -> Unsubscribe:
        self._handlers.setdefault(channel, []).append(handler)

        async def unsubscribe() -> None:
            handlers = self._handlers.get(channel, [])
            if handler in handlers:
                handlers.remove(handler)

        return unsubscribe

    async def close(self) -> None:
        self._handlers.clear()
