"""The event bus: typed, asynchronous publish/subscribe inside one process.

Each subscription has its own mailbox (a FIFO queue) and one worker task that calls the handler
for one event at a time. That is what keeps delivery ordered: an event reaches a handler only
after the handler has finished with every event published before it, even when the handler
awaits, when a handler publishes more events (re-entrancy), or when a synchronous callback
publishes a burst with `publish_nowait`. A slow handler delays only itself.

Delivery is by type: a subscription to `PriceEvent` receives PriceEvents (and instances of its
subclasses); a subscription to `OrderEvent` receives every order event; a subscription may name
several types at once (a tuple), and still receives each event once, in one ordered stream.

A handler that raises is logged with the event (logger `core.bus`) and the others still get it.
This bus is for domain events; plugin hooks (pluggy) are never called per event.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Final, TypeVar, cast

__all__ = ["EventBus", "Handler", "Subscription"]

logger = logging.getLogger(__name__)

E = TypeVar("E")

Handler = Callable[[E], Awaitable[None] | None]
"""A sync or async callable taking one event."""

_AnyHandler = Callable[[object], Awaitable[None] | None]

# True inside a subscription's worker task. `publish` called from a handler must not wait for
# delivery: the handler's own mailbox (or a cycle of handlers) would wait on itself forever.
_IN_HANDLER: ContextVar[bool] = ContextVar("tradebridge_bus_in_handler", default=False)


class _Delivery:
    """Counts the handlers still to finish one published event; `done` resolves at zero."""

    __slots__ = ("done", "remaining")

    def __init__(self, remaining: int) -> None:
        self.remaining = remaining
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def one_done(self) -> None:
        self.remaining -= 1
        if self.remaining == 0 and not self.done.done():
            self.done.set_result(None)


def _current_task_cancelled() -> bool:
    """Whether the current task itself is being cancelled (as opposed to something it awaited)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


_Envelope = tuple[object, _Delivery | None]
_STOP: Final = None  # sentinel in a mailbox: no more events for this subscription


class Subscription:
    """One handler's subscription: its event types, its mailbox and its worker task.

    `unsubscribe()` stops new events at once; events already published to it are still
    delivered (nothing is dropped), then the worker ends.
    """

    __slots__ = ("_bus", "_mailbox", "_pending", "_worker", "active", "event_types", "handler", "name")

    def __init__(
        self,
        bus: EventBus,
        event_types: tuple[type, ...],
        handler: _AnyHandler,
        name: str,
    ) -> None:
        self._bus = bus
        self.event_types = event_types
        self.handler = handler
        self.name = name
        self.active = True
        self._mailbox: asyncio.Queue[_Envelope | None] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._pending = 0  # events queued or being handled

    def unsubscribe(self) -> None:
        """Stop receiving events (idempotent)."""
        self._bus.unsubscribe(self)

    def __repr__(self) -> str:
        types = ", ".join(t.__name__ for t in self.event_types)
        state = "active" if self.active else "ended"
        return f"<Subscription {self.name} to ({types}) {state}>"


class EventBus:
    """Typed async publish/subscribe with ordered, per-handler delivery (see the module doc)."""

    def __init__(self) -> None:
        self._subscriptions: list[Subscription] = []
        self._routes: dict[type, tuple[Subscription, ...]] = {}
        self._running: set[Subscription] = set()  # worker alive, possibly after unsubscribe
        self._closed = False

    def subscribe(
        self,
        event_type: type[E] | tuple[type[E], ...],
        handler: Handler[E],
        *,
        name: str | None = None,
    ) -> Subscription:
        """Call `handler` with every event that is an instance of `event_type` (a class or a tuple
        of classes). Returns the Subscription; call its `unsubscribe()` to stop."""
        if self._closed:
            raise RuntimeError("this EventBus is closed; create a new one to subscribe")
        types = event_type if isinstance(event_type, tuple) else (event_type,)
        if not types or not all(isinstance(t, type) for t in types):
            raise TypeError(f"subscribe needs an event class or a tuple of classes, got {event_type!r}")
        if not callable(handler):
            raise TypeError(f"subscribe needs a callable handler, got {handler!r}")
        label = name or getattr(handler, "__qualname__", None) or repr(handler)
        subscription = Subscription(self, types, cast(_AnyHandler, handler), label)
        self._subscriptions.append(subscription)
        self._routes.clear()
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Remove a subscription (idempotent). Events it already holds are still delivered."""
        if not subscription.active:
            return
        subscription.active = False
        self._subscriptions.remove(subscription)
        self._routes.clear()
        if subscription._worker is not None:
            subscription._mailbox.put_nowait(_STOP)

    def subscriptions(self) -> tuple[Subscription, ...]:
        """The active subscriptions, in subscription order."""
        return tuple(self._subscriptions)

    def publish_nowait(self, event: object) -> None:
        """Hand `event` to every matching subscription without waiting for the handlers.

        For synchronous callers (a broker callback) inside the running event loop. The order of
        calls is the order every handler sees.
        """
        self._enqueue(event, wait=False)

    async def publish(self, event: object) -> None:
        """Publish `event` and wait until every handler it reached has finished with it.

        Called from inside a handler it does not wait (that could deadlock on the handler's own
        mailbox); the event is still queued behind everything published before it.
        """
        delivery = self._enqueue(event, wait=not _IN_HANDLER.get())
        if delivery is not None:
            await delivery.done

    async def drain(self) -> None:
        """Wait until every mailbox is empty and every handler idle (including events that
        handlers publish meanwhile)."""
        while True:
            busy = [s for s in self._running if s._pending]
            if not busy:
                return
            for subscription in busy:
                await subscription._mailbox.join()

    async def close(self) -> None:
        """Deliver what is already queued, then end every worker. Publishing afterwards raises."""
        for subscription in list(self._subscriptions):
            self.unsubscribe(subscription)
        self._closed = True
        workers = [s._worker for s in self._running if s._worker is not None]
        if workers:
            await asyncio.gather(*workers, return_exceptions=True)

    async def __aenter__(self) -> EventBus:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _targets(self, event_class: type) -> tuple[Subscription, ...]:
        targets = self._routes.get(event_class)
        if targets is None:
            targets = tuple(s for s in self._subscriptions if issubclass(event_class, s.event_types))
            self._routes[event_class] = targets
        return targets

    def _enqueue(self, event: object, *, wait: bool) -> _Delivery | None:
        if self._closed:
            raise RuntimeError(f"this EventBus is closed; {event!r} was not published")
        targets = self._targets(type(event))
        if not targets:
            logger.debug("no subscriber for %r", event)
            return None
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                f"publish {event!r} from inside the running event loop (no loop is running here)"
            ) from None
        delivery = _Delivery(len(targets)) if wait else None
        for subscription in targets:
            if subscription._worker is None:
                subscription._worker = loop.create_task(
                    self._deliver(subscription), name=f"bus:{subscription.name}"
                )
                self._running.add(subscription)
            subscription._pending += 1
            subscription._mailbox.put_nowait((event, delivery))
        return delivery

    async def _deliver(self, subscription: Subscription) -> None:
        _IN_HANDLER.set(True)
        mailbox = subscription._mailbox
        while True:
            item = await mailbox.get()
            if item is _STOP:
                mailbox.task_done()
                self._running.discard(subscription)
                return
            event, delivery = item
            try:
                result = subscription.handler(event)
                if inspect.isawaitable(result):
                    await result
            except asyncio.CancelledError:
                if _current_task_cancelled():
                    raise
                # The handler's own await was cancelled, not this worker: a failure like any other.
                logger.exception("event handler %s was cancelled on %r", subscription.name, event)
            except Exception:
                logger.exception("event handler %s failed on %r", subscription.name, event)
            finally:
                subscription._pending -= 1
                if delivery is not None:
                    delivery.one_done()
                mailbox.task_done()
