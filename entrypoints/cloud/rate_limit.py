"""Litestar's rate limiting, with each client's window kept in memory as a list it appends to.

Litestar's own middleware keeps every request time of the window in its store as JSON: each
request decodes the whole list, copies it with one more entry and encodes it again, so a request
costs more the more requests came before it in the window (at a limit of thousands a minute,
most of a request's time). This keeps the same fixed window per client (it starts at the client's
first request and lasts one unit), the same 429 and the same RateLimit-* headers, and takes O(1)
per request. The windows live in the process: like Litestar's default memory store, each
instance counts its own requests.
"""

from __future__ import annotations

import contextlib
from time import time
from typing import Any, ClassVar

import anyio
from litestar.middleware import DefineMiddleware
from litestar.middleware.rate_limit import DURATION_VALUES, CacheObject, RateLimitConfig, RateLimitMiddleware
from litestar.stores.base import Store

MAX_TRACKED_CLIENTS = 10_000  # past this, windows that have ended are forgotten


class InMemoryRateLimitMiddleware(RateLimitMiddleware):
    """RateLimitMiddleware whose windows are a dict shared by every route of one app (`windows`)."""

    windows: ClassVar[dict[str, CacheObject]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The window is read and written without awaiting anything, so the lock is never held
        # across a turn of the event loop; a plain acquire would still yield one turn per request
        # (anyio >= 4.5 can skip it).
        with contextlib.suppress(TypeError):  # an older anyio: Litestar's lock stays
            self._lock = anyio.Lock(fast_acquire=True)

    async def retrieve_cached_history(self, key: str, store: Store) -> CacheObject:
        now = int(time())
        window = self.windows.get(key)
        if window is None or window.reset <= now:
            if len(self.windows) >= MAX_TRACKED_CLIENTS:
                self._forget_ended(now)
            window = CacheObject(history=[], reset=now + DURATION_VALUES[self.unit])
            self.windows[key] = window
        return window

    async def set_cached_history(self, key: str, cache_object: CacheObject, store: Store) -> None:
        # Only the number of entries counts (the window is fixed): append, don't copy.
        cache_object.history.append(int(time()))

    def _forget_ended(self, now: int) -> None:
        for key in [key for key, window in self.windows.items() if window.reset <= now]:
            del self.windows[key]


def rate_limit_middleware(requests_per_minute: int, exclude: list[str]) -> DefineMiddleware:
    """The middleware for one app: `requests_per_minute` per client address, 429 past it."""
    # One windows dict per app, shared by the middleware instance Litestar builds for each route.
    middleware_class: Any = type(
        "ConfiguredRateLimit", (InMemoryRateLimitMiddleware,), {"windows": {}}
    )
    config = RateLimitConfig(
        rate_limit=("minute", requests_per_minute), exclude=exclude, middleware_class=middleware_class
    )
    return config.middleware
