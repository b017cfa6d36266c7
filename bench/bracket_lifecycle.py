"""Benchmark: one bracket's life (submit -> entry fill -> exit fill) through the core and the
simulated broker, against a minimal dict-based baseline doing the same three steps.

Each lifecycle builds the BracketRequest, tracks it with the core `Bracket` aggregate (fed from the
broker's events), awaits `place_bracket` on the simulated broker, then moves the price to fill
the entry and then the take profit (even brackets) or the stop loss (odd ones). Prices are chosen
so the market returns to where it started every two brackets.

    python bench/bracket_lifecycle.py [--brackets N]

Prints one human line per figure, then, as the last line, one JSON line for tools.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _machine import speed_line, speed_reference_ns  # bench/ is first on sys.path when run as a script

from adapters.simulated import SimulatedBroker
from core.bracket import Bracket
from core.broker_events import BrokerEvent, Fill, OrderStatusUpdate
from core.clock import ManualClock
from core.order_status import OrderStatus, OrderTrigger
from core.orders import BracketRequest, Order, OrderRequest
from core.values import OrderType, Side, TimeInForce

TARGET_US = 30.0
BATCH = 100
SYMBOL = "BENCH"
START = Decimal(100)
QUANTITY = Decimal(100)
# Even brackets: entry at price-1, take profit at price+2 (hit). Odd: entry at price-1, stop at
# price-2 (hit). +2 then -2: the price is back where it started after each pair.
OFFSETS = {
    0: (Decimal(-1), Decimal(2), Decimal(-3)),  # entry, take profit, stop loss, from the price
    1: (Decimal(-1), Decimal(4), Decimal(-2)),
}
# Enum members read once: `Side.BUY` reads through the enum class, which costs about as much as a
# Python call, and the benchmark's own loop is not what it measures.
BUY, SELL = Side.BUY, Side.SELL
LIMIT, STOP = OrderType.LIMIT, OrderType.STOP
GTC = TimeInForce.GTC


def bracket_request(n: int, price: Decimal) -> BracketRequest:
    """Bracket n at market `price`. The exits' optional fields are passed by position: a class
    called with keywords costs more than the same call by position."""
    entry_offset, tp_offset, sl_offset = OFFSETS[n % 2]
    # `OrderRef` is a name for the type checker; at run time `OrderRef(text)` is `text`, after a
    # call the loop can do without (typed Any so that the checker accepts the text as a ref).
    ref: Any = f"B{n}"
    return BracketRequest(
        OrderRequest(ref, SYMBOL, BUY, QUANTITY, LIMIT, price + entry_offset),
        OrderRequest(ref + ".tp", SYMBOL, SELL, QUANTITY, LIMIT, price + tp_offset, None, GTC, ref, ref),
        OrderRequest(ref + ".sl", SYMBOL, SELL, QUANTITY, STOP, None, price + sl_offset, GTC, ref, ref),
    )


class BracketTracker:
    """The executor's side, reduced to its core: one `Bracket` per bracket, fed by broker events."""

    def __init__(self) -> None:
        self.by_ref: dict[str, Bracket] = {}
        self.brackets: list[Bracket] = []

    def track(self, request: BracketRequest) -> None:
        bracket = Bracket(request)
        bracket.mark_submitted()
        by_ref = self.by_ref
        # The legs in `legs` order, read as fields (`legs` builds a tuple).
        by_ref[request.entry.order_ref] = bracket
        by_ref[request.take_profit.order_ref] = bracket
        by_ref[request.stop_loss.order_ref] = bracket
        self.brackets.append(bracket)

    def on_event(self, event: BrokerEvent) -> None:
        # Status reports first: they are eight of a lifecycle's ten events.
        if isinstance(event, OrderStatusUpdate):
            self.by_ref[event.order_ref].apply_status(event)
        elif isinstance(event, Fill):
            self.by_ref[event.order_ref].apply_fill(event)

    def check(self) -> None:
        """The benchmark must have measured working lifecycles: every bracket closed, none naked."""
        for n, bracket in enumerate(self.brackets):
            exit_leg = bracket.take_profit if n % 2 == 0 else bracket.stop_loss
            if not (bracket.is_closed and not bracket.is_naked and exit_leg.status is OrderStatus.FILLED):
                raise SystemExit(f"bracket {n} did not complete its lifecycle: {bracket.legs}")


# Broker statuses that are acknowledgements or endings; fills move an Order through `add_fill`.
_TRIGGERS = {
    OrderStatus.HELD: OrderTrigger.HOLD,
    OrderStatus.CANCELLED: OrderTrigger.CANCEL,
    OrderStatus.REJECTED: OrderTrigger.REJECT,
    OrderStatus.EXPIRED: OrderTrigger.EXPIRE,
}


class OrderTracker:
    """The lighter alternative: one core `Order` per leg, fed by broker events."""

    def __init__(self) -> None:
        self.by_ref: dict[str, Order] = {}
        self.exits: list[Order] = []

    def track(self, request: BracketRequest) -> None:
        for leg in request.legs:
            order = self.by_ref[leg.order_ref] = Order(leg)
            order.apply(OrderTrigger.SUBMIT)
        expected_exit = request.take_profit if len(self.exits) % 2 == 0 else request.stop_loss
        self.exits.append(self.by_ref[expected_exit.order_ref])

    def on_event(self, event: BrokerEvent) -> None:
        if isinstance(event, Fill):
            self.by_ref[event.order_ref].add_fill(event.exec_id, event.quantity, event.price)
        elif isinstance(event, OrderStatusUpdate):
            order = self.by_ref[event.order_ref]
            if event.status is order.status:
                return
            if event.status is OrderStatus.WORKING:
                held = order.status is OrderStatus.HELD
                order.apply(OrderTrigger.ACTIVATE if held else OrderTrigger.ACCEPT)
            elif event.status in _TRIGGERS:
                order.apply(_TRIGGERS[event.status])

    def check(self) -> None:
        if not all(order.status is OrderStatus.FILLED for order in self.exits):
            raise SystemExit("an exit did not fill: the benchmark did not measure full lifecycles")


class NoTracker:
    """The simulated broker alone (events delivered to a subscriber that ignores them)."""

    def track(self, request: BracketRequest) -> None:
        return None

    def on_event(self, event: BrokerEvent) -> None:
        return None

    def check(self) -> None:
        return None


Tracker = BracketTracker | OrderTracker | NoTracker


async def run_lifecycles(count: int, tracker: Tracker, build: bool) -> list[float]:
    """Seconds per lifecycle. With `build`, building the BracketRequest is part of each lifecycle;
    without it, the requests are built beforehand (to isolate the broker)."""
    broker = SimulatedBroker(ManualClock())
    broker.subscribe(tracker.on_event)
    await broker.connect()
    broker.set_price(SYMBOL, START)
    prebuilt: list[BracketRequest] = []
    if not build:
        price = START
        for n in range(count):
            prebuilt.append(bracket_request(n, price))
            price = exit_price(n, prebuilt[-1])
    price = START
    times: list[float] = []
    clock = time.perf_counter
    for n in range(count):
        began = clock()
        request = bracket_request(n, price) if build else prebuilt[n]
        tracker.track(request)
        await broker.place_bracket(request)
        # `entry_price(request)` and `exit_price(n, request)`, inlined: the loop's own calls are
        # not what it measures.
        broker.set_price(SYMBOL, request.entry.limit_price)  # type: ignore[arg-type]
        price = request.take_profit.limit_price if n % 2 == 0 else request.stop_loss.stop_price  # type: ignore[assignment]
        broker.set_price(SYMBOL, price)
        times.append(clock() - began)
    tracker.check()
    return times


def entry_price(request: BracketRequest) -> Decimal:
    assert request.entry.limit_price is not None
    return request.entry.limit_price


def exit_price(n: int, request: BracketRequest) -> Decimal:
    """The price that fills this bracket's exit: its take profit (even n) or its stop (odd n)."""
    price = request.take_profit.limit_price if n % 2 == 0 else request.stop_loss.stop_price
    assert price is not None
    return price


def run_baseline(count: int) -> list[float]:
    """The same three steps with a dict of orders and nothing else: no validation, no events,
    no account, no status table. A floor, not a competitor."""
    orders: dict[str, dict[str, object]] = {}
    working: list[dict[str, object]] = []
    price = START
    times: list[float] = []
    clock = time.perf_counter

    def on_price(new_price: Decimal) -> None:
        for order in list(working):
            kind, level, buy = order["type"], order["price"], order["buy"]
            if kind == "LMT":
                hit = new_price <= level if buy else new_price >= level  # type: ignore[operator]
            else:
                hit = new_price >= level if buy else new_price <= level  # type: ignore[operator]
            if not hit or order not in working:
                continue
            order["filled"], order["status"] = order["quantity"], "FILLED"
            working.remove(order)
            if order["role"] == "entry":
                for child in order["children"]:  # type: ignore[attr-defined]
                    child["status"] = "WORKING"
                    working.append(child)
            else:
                sibling = order["sibling"]
                sibling["status"] = "CANCELLED"  # type: ignore[index]
                if sibling in working:
                    working.remove(sibling)

    for n in range(count):
        began = clock()
        entry_offset, tp_offset, sl_offset = OFFSETS[n % 2]
        quantity = Decimal(100)
        entry: dict[str, object] = {
            "ref": f"B{n}", "role": "entry", "type": "LMT", "buy": True, "price": price + entry_offset,
            "quantity": quantity, "filled": Decimal(0), "status": "WORKING",
        }
        tp: dict[str, object] = {
            "ref": f"B{n}.tp", "role": "exit", "type": "LMT", "buy": False, "price": price + tp_offset,
            "quantity": quantity, "filled": Decimal(0), "status": "HELD",
        }
        sl: dict[str, object] = {
            "ref": f"B{n}.sl", "role": "exit", "type": "STP", "buy": False, "price": price + sl_offset,
            "quantity": quantity, "filled": Decimal(0), "status": "HELD",
        }
        entry["children"], tp["sibling"], sl["sibling"] = (tp, sl), sl, tp
        for order in (entry, tp, sl):
            orders[order["ref"]] = order  # type: ignore[index]
        working.append(entry)
        on_price(entry["price"])  # type: ignore[arg-type]
        price = (tp if n % 2 == 0 else sl)["price"]  # type: ignore[assignment]
        on_price(price)
        times.append(clock() - began)
    return times


def batch_median_us(times: list[float]) -> float:
    """Median over batches of BATCH lifecycles of the per-lifecycle average, in microseconds."""
    batches = [sum(times[i : i + BATCH]) / len(times[i : i + BATCH]) for i in range(0, len(times), BATCH)]
    return statistics.median(batches) * 1e6


def p99_us(times: list[float]) -> float:
    return statistics.quantiles(times, n=100)[98] * 1e6


def through_broker(count: int, tracker: Tracker, build: bool) -> list[float]:
    return asyncio.run(run_lifecycles(count, tracker, build))


def timed(label: str, run: Callable[[], list[float]]) -> list[float]:
    gc.collect()
    began = time.perf_counter()
    times = run()
    print(f"  {label}: {len(times)} lifecycles in {time.perf_counter() - began:.2f} s")
    return times


def metric(value: float, target: float | None = None, unit: str = "us") -> dict[str, object]:
    return {
        "value": round(value, 2), "unit": unit, "target": target,
        "ok": True if target is None else value <= target,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--brackets", type=int, default=10_000)
    count = parser.parse_args().brackets

    reference_before = speed_reference_ns()
    asyncio.run(run_lifecycles(1000, BracketTracker(), build=True))  # warm-up
    print(f"bracket lifecycles: {count}, each submit -> entry fill -> exit fill (TP and SL alternate)")
    full = timed("core Bracket + simulated broker", lambda: through_broker(count, BracketTracker(), True))
    orders = timed("core Orders + simulated broker", lambda: through_broker(count, OrderTracker(), True))
    broker = timed("simulated broker alone", lambda: through_broker(count, NoTracker(), False))
    baseline = timed("dict baseline", lambda: run_baseline(count))

    figures = {
        "lifecycle_median_us": metric(batch_median_us(full), TARGET_US),
        "lifecycle_p99_us": metric(p99_us(full)),
        "lifecycle_with_orders_median_us": metric(batch_median_us(orders)),
        "broker_only_median_us": metric(batch_median_us(broker)),
        "baseline_median_us": metric(batch_median_us(baseline)),
    }
    lines = {
        "lifecycle_median_us": "lifecycle, core Bracket + simulated broker, median",
        "lifecycle_p99_us": "lifecycle, core Bracket + simulated broker, p99",
        "lifecycle_with_orders_median_us": "lifecycle, core Orders + simulated broker, median",
        "broker_only_median_us": "simulated broker alone (prebuilt requests), median",
        "baseline_median_us": "dict-based baseline, median",
    }
    for key, label in lines.items():
        figure = figures[key]
        target = f"target <= {figure['target']:g} us" if figure["target"] is not None else "no target"
        verdict = "" if figure["target"] is None else ("  OK" if figure["ok"] else "  MISSED")
        print(f"{label}: {figure['value']:.1f} us  ({target}){verdict}")
    reference = (reference_before + speed_reference_ns()) / 2
    print(speed_line(reference))
    figures["brackets"] = metric(count, unit="count")
    figures["machine_speed_ref_ns"] = metric(reference, unit="ns")
    print(json.dumps({"bench": "bracket_lifecycle", "metrics": figures}), flush=True)


if __name__ == "__main__":
    main()
