"""The pacing budget: at most 45 messages in any window, protective orders first; run on a fake
clock whose sleep advances time, so nothing here sleeps for real."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.ibkr.pacing import PacingBudget, Priority, SlidingWindow, priority_of
from core.orders import OrderRequest
from core.values import OrderRef, OrderType, Side

WINDOW = 1.05


class ManualTime:
    """A clock that moves only when the test says; sleepers wake when it passes their deadline."""

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.now + seconds, woken))
        await woken

    async def advance(self, seconds: float) -> None:
        self.now += seconds
        for deadline, woken in list(self._sleepers):
            if deadline <= self.now and not woken.done():
                woken.set_result(None)
        for _ in range(5):
            await asyncio.sleep(0)


class FakeTime:
    """A clock plus a sleep that moves it at once (and lets other tasks run)."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)
        await asyncio.sleep(0)


def max_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while times[start] + window <= t:
            start += 1
        best = max(best, end - start + 1)
    return best


@given(st.lists(st.tuples(st.floats(0, 0.5), st.integers(1, 5)), max_size=120))
def test_the_window_never_holds_more_than_the_limit(requests: list[tuple[float, int]]) -> None:
    window, now, sent = SlidingWindow(45, WINDOW), 0.0, []
    for gap, count in requests:
        now += gap
        now += window.wait_time(now, count)
        window.record(now, count)
        sent += [now] * count
    assert max_in_window(sent, WINDOW) <= 45


def test_wait_time_is_when_the_oldest_needed_slot_frees() -> None:
    window = SlidingWindow(3, 1.0)
    window.record(0.0, 2)
    window.record(0.5)
    assert window.wait_time(0.6) == pytest.approx(0.4)
    assert window.wait_time(0.6, 2) == pytest.approx(0.4)
    assert window.wait_time(0.6, 3) == pytest.approx(0.9)
    assert window.wait_time(1.0) == 0.0
    with pytest.raises(ValueError, match="can never fit"):
        window.wait_time(0.0, 4)


async def send_all(budget: PacingBudget, time: FakeTime, count: int) -> list[float]:
    sent: list[float] = []

    async def send() -> None:
        await budget.acquire()
        sent.append(time.now)

    await asyncio.gather(*(send() for _ in range(count)))
    return sent


async def test_a_burst_is_spread_out_and_never_above_45_per_window() -> None:
    time = FakeTime()
    budget = PacingBudget(45, WINDOW, clock=time.clock, sleep=time.sleep)  # default burst: 9
    sent = await send_all(budget, time, 300)
    assert len(sent) == 300 == budget.sent
    assert max_in_window(sent, WINDOW) <= 45 and budget.peak <= 45
    assert max_in_window(sent, WINDOW * 9 / 45) == 9  # never more than 9 at once
    # Fully used: 9 per 0.21 s is 42.9 per second, 300 messages in 33 refills of 0.21 s.
    assert max(sent) == pytest.approx(33 * WINDOW * 9 / 45)
    assert 300 / max(sent) >= 40.5  # >= 90 % of 45/s


async def test_without_a_burst_limit_the_window_alone_binds() -> None:
    time = FakeTime()
    budget = PacingBudget(45, WINDOW, clock=time.clock, sleep=time.sleep, burst=None)
    sent = await send_all(budget, time, 300)
    assert max_in_window(sent, WINDOW) == 45 == budget.peak
    assert max(sent) == pytest.approx(6 * WINDOW)  # 6 refills after the first full window


async def test_protective_orders_go_ahead_of_queued_entries() -> None:
    time = ManualTime()
    budget = PacingBudget(2, 1.0, clock=time.clock, sleep=time.sleep)
    order: list[str] = []

    async def send(name: str, priority: Priority) -> None:
        await budget.acquire(1, priority)
        order.append(name)

    tasks = [asyncio.ensure_future(send(f"entry{n}", Priority.ENTRY)) for n in range(6)]
    await asyncio.sleep(0)  # the first two entries take the budget, the rest queue
    tasks.append(asyncio.ensure_future(send("query", Priority.QUERY)))
    tasks.append(asyncio.ensure_future(send("stop", Priority.PROTECTIVE)))
    await asyncio.sleep(0)
    assert budget.waiting == 6
    while not all(t.done() for t in tasks):
        await time.advance(0.5)
    await asyncio.gather(*tasks)
    assert order[:2] == ["entry0", "entry1"]
    assert order[2:4] == ["stop", "query"]
    assert order[4:] == ["entry2", "entry3", "entry4", "entry5"]


async def test_a_multi_message_request_waits_for_room_for_all_of_it() -> None:
    time = FakeTime()
    budget = PacingBudget(3, 1.0, clock=time.clock, sleep=time.sleep)
    await budget.acquire(2)
    await budget.acquire(3)  # a bracket: needs the whole window back
    assert time.now == pytest.approx(1.0)
    assert budget.in_window() == 3
    with pytest.raises(ValueError):
        await budget.acquire(4)
    assert budget.waiting == 0


async def test_a_cancelled_waiter_leaves_the_queue() -> None:
    time = FakeTime()
    gate = asyncio.Event()

    async def blocked_sleep(seconds: float) -> None:
        await gate.wait()
        time.now += seconds

    budget = PacingBudget(1, 1.0, clock=time.clock, sleep=blocked_sleep)
    await budget.acquire()
    waiter = asyncio.ensure_future(budget.acquire())
    await asyncio.sleep(0)
    assert budget.waiting == 1
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert budget.waiting == 0


def _order(side: Side, quantity: int, order_type: OrderType = OrderType.MARKET, parent: str | None = None
           ) -> OrderRequest:
    return OrderRequest(
        OrderRef("X"), "AAPL", side, Decimal(quantity), order_type,
        Decimal(1) if order_type.needs_limit_price else None,
        Decimal(1) if order_type.needs_stop_price else None,
        parent_ref=OrderRef(parent) if parent else None,
    )


def test_what_counts_as_protective() -> None:
    assert priority_of(_order(Side.SELL, 5, OrderType.STOP)) is Priority.PROTECTIVE
    assert priority_of(_order(Side.SELL, 5, OrderType.LIMIT, parent="E1")) is Priority.PROTECTIVE
    assert priority_of(_order(Side.SELL, 10), Decimal(10)) is Priority.PROTECTIVE  # flatten a long
    assert priority_of(_order(Side.BUY, 3), Decimal(-5)) is Priority.PROTECTIVE  # cover part of a short
    assert priority_of(_order(Side.BUY, 10)) is Priority.ENTRY
    assert priority_of(_order(Side.BUY, 10), Decimal(10)) is Priority.ENTRY  # adds to a long
    assert priority_of(_order(Side.SELL, 20), Decimal(10)) is Priority.ENTRY  # would flip: new risk
