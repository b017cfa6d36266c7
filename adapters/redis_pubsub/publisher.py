"""The EventPublisher port (core.publisher) on Redis pub/sub (redis.asyncio).

One connection publishes; one pub/sub connection and one reader task per instance receive and hand
each message to the channel's handlers, in arrival order. Redis pub/sub is fire-and-forget: a
message published while an instance is disconnected is lost to it, which is acceptable because a
message only says "look at the outbox" and executors resume from the outbox on reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import redis.asyncio as redis

from core.publisher import MessageHandler, Unsubscribe

logger = logging.getLogger(__name__)


class RedisPublisher:
    """EventPublisher on a Redis server at `url` (redis://host:port/db)."""

    def __init__(self, url: str) -> None:
        self._client: Any = redis.from_url(url)
        self._pubsub: Any = self._client.pubsub(ignore_subscribe_messages=True)
        self._handlers: dict[str, list[MessageHandler]] = {}
        self._reader: asyncio.Task[None] | None = None

    async def publish(self, channel: str, payload: bytes) -> None:
        await self._client.publish(channel, payload)

    async def subscribe(self, channel: str, handler: MessageHandler) -> Unsubscribe:
        first = channel not in self._handlers
        self._handlers.setdefault(channel, []).append(handler)
        if first:
            await self._pubsub.subscribe(channel)
        if self._reader is None:
            self._reader = asyncio.create_task(self._read(), name="tradebridge-redis-reader")

        async def unsubscribe() -> None:
            handlers = self._handlers.get(channel, [])
            if handler in handlers:
                handlers.remove(handler)
            if not handlers and channel in self._handlers:
                del self._handlers[channel]
                with contextlib.suppress(Exception):
                    await self._pubsub.unsubscribe(channel)

        return unsubscribe

    async def _read(self) -> None:
        while True:
            try:
                message = await self._pubsub.get_message(timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                logger.error("redis pub/sub read failed (%s); retrying in 1 s", error)
                await asyncio.sleep(1.0)
                continue
            if message is None or message.get("type") != "message":
                continue
            channel = (
                message["channel"].decode() if isinstance(message["channel"], bytes) else message["channel"]
            )
            for handler in list(self._handlers.get(channel, ())):
                try:
                    await handler(message["data"])
                except Exception:
                    logger.exception("a subscriber of channel %s failed on a message", channel)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
            self._reader = None
        self._handlers.clear()
        with contextlib.suppress(Exception):
            await self._pubsub.aclose()
        with contextlib.suppress(Exception):
            await self._client.aclose()
