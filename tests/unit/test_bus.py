"""EventBus: typed delivery, isolation of failing handlers, and ordered delivery per handler."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.bus import EventBus
from core.clock import EPOCH
from core.events import (
    Event,
    OrderCancelledEvent,
    OrderEvent,
    OrderFilledEvent,
    PriceEvent,
)
from core.values import ExecId, OrderRef, Side


def price(n: int, symbol: str = "AAPL") -> PriceEvent:
    return PriceEvent(symbol, Decimal(100 + n), timestamp=EPOCH)


def fill(ref: str = "o1") -> OrderFilledEvent:
    return OrderFilledEvent(
        "AAPL", OrderRef(ref), ExecId("e1"), Side.BUY, Decimal(10), Decimal(100), Decimal(10), Decimal(0),
        timestamp=EPOCH,
    )


async def test_sync_and_async_handlers_receive_the_event_before_publish_returns() -> None:
    bus = EventBus()
    seen: list[tuple[str, PriceEvent]] = []

    def on_sync(event: PriceEvent) -> None:
        seen.append(("sync", event))

    async def on_async(event: PriceEvent) -> None:
        await asyncio.sleep(0)
        seen.append(("async", event))

    bus.subscribe(PriceEvent, on_sync)
    bus.subscribe(PriceEvent, on_async)
    event = price(1)
    await bus.publish(event)
    assert sorted(seen, key=lambda item: item[0]) == [("async", event), ("sync", event)]
    await bus.close()


async def test_delivery_is_by_type_including_base_classes() -> None:
    bus = EventBus()
    prices: list[object] = []
    orders: list[object] = []
    everything: list[object] = []
    bus.subscribe(PriceEvent, prices.append)
    bus.subscribe(OrderEvent, orders.append)
    bus.subscribe(Event, everything.append)
    events = [price(1), fill(), OrderCancelledEvent("AAPL", OrderRef("o2"), timestamp=EPOCH)]
    for event in events:
        await bus.publish(event)
    assert prices == [events[0]]
    assert orders == events[1:]
    assert everything == events
    await bus.close()


async def test_a_subscription_to_several_types_gets_each_event_once() -> None:
    bus = EventBus()
    seen: list[object] = []
    bus.subscribe((OrderEvent, OrderFilledEvent, PriceEvent), seen.append)
    events = [fill(), price(1)]
    for event in events:
        await bus.publish(event)
    assert seen == events
    await bus.close()


async def test_unsubscribe_stops_new_events_but_delivers_those_already_published() -> None:
    bus = EventBus()
    seen: list[int] = []
    release = asyncio.Event()

    async def slow(event: PriceEvent) -> None:
        await release.wait()
        seen.append(int(event.price))

    subscription = bus.subscribe(PriceEvent, slow)
    bus.publish_nowait(price(1))
    bus.publish_nowait(price(2))
    subscription.unsubscribe()
    subscription.unsubscribe()  # idempotent
    bus.unsubscribe(subscription)
    bus.publish_nowait(price(3))  # nobody listens any more
    release.set()
    await bus.drain()
    assert seen == [101, 102]
    assert not subscription.active
    assert bus.subscriptions() == ()
    await bus.close()


async def test_a_failing_handler_is_logged_with_the_event_and_others_still_get_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = EventBus()
    good: list[object] = []
    calls = 0

    def broken(event: PriceEvent) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("boom")

    bus.subscribe(PriceEvent, broken, name="broken-handler")
    bus.subscribe(PriceEvent, good.append)
    event = price(7)
    with caplog.at_level(logging.ERROR, logger="core.bus"):
        await bus.publish(event)
        await bus.publish(price(8))
    assert good == [event, price(8)]
    assert calls == 2  # the broken handler keeps receiving
    record = caplog.records[0]
    assert "broken-handler" in record.getMessage() and repr(event) in record.getMessage()
    assert record.exc_info is not None
    await bus.close()


async def test_a_handler_whose_own_await_is_cancelled_does_not_stop_its_worker(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = EventBus()
    seen: list[int] = []

    async def handler(event: PriceEvent) -> None:
        if event.price == 101:
            raise asyncio.CancelledError  # e.g. it awaited a future someone cancelled
        seen.append(int(event.price))

    bus.subscribe(PriceEvent, handler)
    with caplog.at_level(logging.ERROR, logger="core.bus"):
        await bus.publish(price(1))
        await bus.publish(price(2))
    assert seen == [102]
    assert "cancelled" in caplog.text
    await bus.close()


async def test_an_awaiting_handler_sees_events_in_publish_order_one_at_a_time() -> None:
    """Earlier events take longer: without per-handler ordering, later ones would overtake them."""
    bus = EventBus()
    started: list[int] = []
    finished: list[int] = []
    active = 0
    most_active = 0

    async def handler(event: PriceEvent) -> None:
        nonlocal active, most_active
        n = int(event.price) - 100
        started.append(n)
        active += 1
        most_active = max(most_active, active)
        for _ in range(20 - n):
            await asyncio.sleep(0)
        active -= 1
        finished.append(n)

    bus.subscribe(PriceEvent, handler)
    # A burst from a synchronous callback, then concurrent publishing tasks, then awaited publishes.
    for n in range(5):
        bus.publish_nowait(price(n))
    tasks = [asyncio.create_task(bus.publish(price(n))) for n in range(5, 10)]
    await asyncio.gather(*tasks)
    for n in range(10, 15):
        await bus.publish(price(n))
    assert started == list(range(15))
    assert finished == list(range(15))
    assert most_active == 1
    await bus.close()


async def test_publishing_from_a_handler_does_not_deadlock_and_keeps_order_for_everyone() -> None:
    bus = EventBus()
    log: list[str] = []

    async def relay(event: PriceEvent) -> None:
        if event.symbol == "AAPL":
            await bus.publish(price(0, "MSFT"))  # from inside a handler: queued, not awaited
            log.append("relay published MSFT")

    async def observer(event: PriceEvent) -> None:
        await asyncio.sleep(0)
        log.append(f"observer {event.symbol}")

    bus.subscribe(PriceEvent, relay)
    bus.subscribe(PriceEvent, observer)
    await asyncio.wait_for(bus.publish(price(0, "AAPL")), timeout=5)
    await asyncio.wait_for(bus.drain(), timeout=5)
    assert log.index("observer AAPL") < log.index("observer MSFT")
    assert "relay published MSFT" in log
    await bus.close()


async def test_drain_waits_for_chains_of_events() -> None:
    bus = EventBus()
    seen: list[int] = []

    async def chain(event: PriceEvent) -> None:
        seen.append(int(event.price))
        if event.price < 105:
            bus.publish_nowait(price(int(event.price) - 99))

    bus.subscribe(PriceEvent, chain)
    bus.publish_nowait(price(0))
    await bus.drain()
    assert seen == [100, 101, 102, 103, 104, 105]
    await bus.close()


async def test_close_delivers_what_is_queued_then_refuses_to_publish() -> None:
    bus = EventBus()
    seen: list[object] = []

    async def handler(event: PriceEvent) -> None:
        await asyncio.sleep(0)
        seen.append(event)

    bus.subscribe(PriceEvent, handler)
    bus.publish_nowait(price(1))
    bus.publish_nowait(price(2))
    await bus.close()
    assert seen == [price(1), price(2)]
    with pytest.raises(RuntimeError, match="closed"):
        await bus.publish(price(3))
    with pytest.raises(RuntimeError, match="closed"):
        bus.subscribe(PriceEvent, seen.append)


async def test_publishing_with_no_subscriber_is_fine() -> None:
    async with EventBus() as bus:
        await bus.publish(price(1))


def test_publish_nowait_outside_an_event_loop_says_so() -> None:
    bus = EventBus()
    bus.subscribe(PriceEvent, lambda event: None)
    with pytest.raises(RuntimeError, match="event loop"):
        bus.publish_nowait(price(1))


def test_subscribe_refuses_what_is_not_a_class_or_a_handler() -> None:
    bus = EventBus()
    with pytest.raises(TypeError, match="event class"):
        bus.subscribe("PriceEvent", lambda event: None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="callable"):
        bus.subscribe(PriceEvent, None)  # type: ignore[arg-type]


@given(
    delays=st.lists(st.integers(min_value=0, max_value=4), min_size=1, max_size=12),
    publishers=st.integers(min_value=1, max_value=3),
)
def test_every_handler_sees_each_publishers_events_in_order(delays: list[int], publishers: int) -> None:
    """Several publishers interleave; each handler awaits a varying number of times per event.
    Every handler must see each publisher's events in the order that publisher sent them."""

    async def scenario() -> dict[str, list[tuple[int, int]]]:
        bus = EventBus()
        seen: dict[str, list[tuple[int, int]]] = {"a": [], "b": []}

        def handler(name: str, skew: int):  # type: ignore[no-untyped-def]
            async def handle(event: PriceEvent) -> None:
                publisher, n = divmod(int(event.price) - 100, 100)
                for _ in range((delays[n % len(delays)] + skew) % 5):
                    await asyncio.sleep(0)
                seen[name].append((publisher, n))

            return handle

        bus.subscribe(PriceEvent, handler("a", 0))
        bus.subscribe(PriceEvent, handler("b", 3))

        async def publish(publisher: int) -> None:
            for n, delay in enumerate(delays):
                await bus.publish(price(publisher * 100 + n))
                for _ in range(delay):
                    await asyncio.sleep(0)

        await asyncio.gather(*(publish(p) for p in range(publishers)))
        await bus.close()
        return seen

    seen = asyncio.run(scenario())
    for events in seen.values():
        assert len(events) == len(delays) * publishers
        for publisher in range(publishers):
            assert [n for p, n in events if p == publisher] == list(range(len(delays)))
