"""The executor's garbage collector settings: startup objects frozen, young collections rarer,
the older generations as Python sets them (cyclic garbage is still collected)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from entrypoints.executor.runner import YOUNG_GC_THRESHOLD, _freeze_startup_objects


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restored_gc")
def test_startup_objects_are_frozen_and_only_the_young_threshold_is_raised() -> None:
    gc.set_threshold(700, 10, 10)
    _freeze_startup_objects()
    assert gc.get_threshold() == (YOUNG_GC_THRESHOLD, 10, 10)
    assert gc.get_freeze_count() > 0
    _freeze_startup_objects()  # again after reconciliation: the same settings
    assert gc.get_threshold() == (YOUNG_GC_THRESHOLD, 10, 10)


@pytest.mark.usefixtures("restored_gc")
def test_cyclic_garbage_is_still_collected() -> None:
    _freeze_startup_objects()

    class Node:
        def __init__(self) -> None:
            self.me = self

    gc.collect()
    Node()  # a cycle, unreachable at once
    assert gc.collect() >= 1
