"""A speed reference for the machine a benchmark ran on, printed beside its figures.

Not a benchmark itself (`make bench` runs only files not starting with `_`). The machines here are
virtual and their speed drifts: the same pure-Python loop has measured 320 ns in one hour and
600 ns in the next, and every figure of a benchmark moves with it. Printing this reference with
the figures says which kind of hour they come from.
"""

from __future__ import annotations

import os
import socket
import time
import timeit

QUIET_NS = 320  # sum(range(50)) on this kind of machine when nothing else slows it down
# A message to another process and back (a socket pair): about 10 us when the host is quiet,
# 40-60 us in the hours when it wakes a process slowly; the pure-Python reference above does not
# show those hours, and a benchmark of several processes (the cloud, the executor and this
# script on two cores) slows down with them.
QUIET_WAKEUP_US = 10


def speed_reference_ns() -> float:
    """Nanoseconds of `sum(range(50))`, best of 5 runs of 200,000 (about a second)."""
    runs = timeit.repeat("sum(range(50))", number=200_000, repeat=5)
    return min(runs) / 200_000 * 1e9


def speed_line(reference_ns: float) -> str:
    slower = reference_ns / QUIET_NS
    return (f"  machine speed reference: sum(range(50)) {reference_ns:.0f} ns (quiet machine: about "
            f"{QUIET_NS} ns; this run's CPU is {slower:.1f}x that)")


def wakeup_reference_us(round_trips: int = 5_000) -> float:
    """Microseconds of a one-byte round trip to a child process over a socket pair (median of
    three runs of `round_trips`, about 0.2 s)."""
    ours, theirs = socket.socketpair()
    child = os.fork()
    if child == 0:  # the echo
        ours.close()
        while data := theirs.recv(64):
            theirs.send(data)
        os._exit(0)
    theirs.close()
    runs = []
    try:
        for _ in range(3):
            start = time.perf_counter()
            for _ in range(round_trips):
                ours.send(b"x")
                ours.recv(64)
            runs.append((time.perf_counter() - start) / round_trips * 1e6)
    finally:
        ours.close()
        os.waitpid(child, 0)
    return sorted(runs)[1]


def wakeup_line(reference_us: float) -> str:
    slower = reference_us / QUIET_WAKEUP_US
    return (f"  machine wakeup reference: a round trip to another process {reference_us:.0f} us "
            f"(quiet host: about {QUIET_WAKEUP_US} us; this run's is {slower:.1f}x that)")
