"""The cloud's rate limiting: Litestar's answers (429, RateLimit-* headers), one fixed window per
client shared by every route, counted in O(1), and windows that ended are forgotten."""

from __future__ import annotations

import asyncio

import pytest
from litestar import Litestar, get
from litestar.middleware import rate_limit as litestar_rate_limit
from litestar.testing import TestClient

from entrypoints.cloud import rate_limit
from entrypoints.cloud.rate_limit import rate_limit_middleware


@get("/a")
async def route_a() -> str:
    return "a"


@get("/b")
async def route_b() -> str:
    return "b"


@get("/open")
async def open_route() -> str:
    return "open"


class FrozenTime:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FrozenTime:
    frozen = FrozenTime(1_000_000.0)
    monkeypatch.setattr(rate_limit, "time", frozen)
    monkeypatch.setattr(litestar_rate_limit, "time", frozen)  # its RateLimit-Reset header
    return frozen


def app(limit: int) -> Litestar:
    limiter = rate_limit_middleware(limit, exclude=["^/open$"])
    return Litestar([route_a, route_b, open_route], middleware=[limiter])


def test_the_limit_counts_every_route_of_the_app_and_answers_429_past_it(clock: FrozenTime) -> None:
    with TestClient(app(3)) as client:
        answers = [client.get(path) for path in ("/a", "/b", "/a", "/b")]
    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    assert [answer.headers["RateLimit-Remaining"] for answer in answers[:3]] == ["2", "1", "0"]
    assert answers[0].headers["RateLimit-Limit"] == "3"
    assert answers[0].headers["RateLimit-Policy"] == "3; w=60"
    assert answers[3].headers["RateLimit-Reset"] == "60"


def test_the_window_starts_again_one_minute_after_the_first_request(clock: FrozenTime) -> None:
    with TestClient(app(2)) as client:
        assert [client.get("/a").status_code for _ in range(3)] == [200, 200, 429]
        clock.now += 59
        assert client.get("/a").status_code == 429
        assert client.get("/a").headers["RateLimit-Reset"] == "1"
        clock.now += 1
        assert [client.get("/a").status_code for _ in range(3)] == [200, 200, 429]


def test_excluded_routes_are_not_counted(clock: FrozenTime) -> None:
    with TestClient(app(1)) as client:
        assert [client.get("/open").status_code for _ in range(5)] == [200] * 5
        assert [client.get("/a").status_code for _ in range(2)] == [200, 429]


def test_two_apps_count_apart(clock: FrozenTime) -> None:
    with TestClient(app(1)) as first, TestClient(app(1)) as second:
        assert first.get("/a").status_code == 200
        assert second.get("/a").status_code == 200
        assert first.get("/a").status_code == 429


def test_windows_that_ended_are_forgotten_when_many_clients_were_seen(
    clock: FrozenTime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rate_limit, "MAX_TRACKED_CLIENTS", 3)
    middleware_class = rate_limit_middleware(5, exclude=[]).kwargs["config"].middleware_class
    windows = middleware_class.windows
    instance = middleware_class.__new__(middleware_class)
    instance.unit = "minute"

    async def open_windows(*keys: str) -> None:
        for key in keys:
            await instance.retrieve_cached_history(key, store=None)

    asyncio.run(open_windows("c1", "c2", "c3"))
    clock.now += 60  # all three ended
    asyncio.run(open_windows("c4"))
    assert set(windows) == {"c4"}
