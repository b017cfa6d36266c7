"""A speed reference for the machine a benchmark ran on, printed beside its figures.

Not a benchmark itself (`make bench` runs only files not starting with `_`). The machines here are
virtual and their speed drifts: the same pure-Python loop has measured 320 ns in one hour and
600 ns in the next, and every figure of a benchmark moves with it. Printing this reference with
the figures says which kind of hour they come from.
"""

from __future__ import annotations

import timeit

QUIET_NS = 320  # sum(range(50)) on this kind of machine when nothing else slows it down


def speed_reference_ns() -> float:
    """Nanoseconds of `sum(range(50))`, best of 5 runs of 200,000 (about a second)."""
    runs = timeit.repeat("sum(range(50))", number=200_000, repeat=5)
    return min(runs) / 200_000 * 1e9


def speed_line(reference_ns: float) -> str:
    slower = reference_ns / QUIET_NS
    return (f"  machine speed reference: sum(range(50)) {reference_ns:.0f} ns (quiet machine: about "
            f"{QUIET_NS} ns; this run's CPU is {slower:.1f}x that)")
