"""Test-wide settings: Hypothesis profiles and the services policy."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# Every property runs at least 200 examples, in CI and locally alike: the invariants of money and
# state are the point of these tests. `HYPOTHESIS_PROFILE=quick` is for fast local iteration.
settings.register_profile(
    "default", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("quick", max_examples=25, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
