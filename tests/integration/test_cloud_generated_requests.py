"""Generated requests against a real server: over 1,000 requests shaped like the app's own
schemas (and unlike them: wrong types, huge numbers, unknown fields, junk bytes, odd paths).
Every answer must be a deliberate one: never a 5xx."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.cloud_server import AUTH, SCAN, Server, running_server, server_settings

MIN_REQUESTS = 1_000

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["1e400", "-0", "NaN", "Infinity", "Buy", "Sell", "AAPL", "2026-03-31", "", " 12.5 "]),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
row_keys = st.sampled_from(
    [
        "symbol",
        "current_price",
        "side",
        "stop_loss",
        "take_profit",
        "target_date",
        "win_rate",
        "adx",
        "strategy",
        "confidence",
        "atr",
        "Symbol",
        "bogus",
    ]
)
rows = st.one_of(
    st.dictionaries(row_keys, json_values, max_size=8),
    st.builds(
        lambda base, key, value: {**base, key: value},
        st.sampled_from(SCAN["rows"]),
        row_keys,
        json_scalars,
    ),
)
scan_bodies = st.one_of(
    st.fixed_dictionaries(
        {"rows": st.lists(rows, max_size=4)}, optional={"name": json_scalars, "x": json_values}
    ),
    json_values,
)
scan_ids = st.one_of(st.integers(min_value=-5, max_value=50), st.integers(), json_scalars)
modified = st.fixed_dictionaries(
    {
        "symbol": st.sampled_from(["AAPL", "MSFT", "aapl", "TSLA", ""]) | st.text(max_size=5),
        "position_size": st.one_of(st.integers(-10, 2000), json_scalars),
    },
    optional={"extra": json_scalars},
)
place_bodies = st.one_of(
    st.fixed_dictionaries(
        {"scan_id": scan_ids, "modified_orders": st.lists(modified, max_size=3)},
        optional={"account": st.text(max_size=70) | st.sampled_from(["*", "DU1"]), "junk": json_values},
    ),
    json_values,
)
segments = st.one_of(
    st.integers().map(str),
    st.text(
        alphabet=st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="/?#%"), max_size=30
    ),
    st.sampled_from(["orders_abc.xlsx", "..", "%2e%2e"]),
)
keys = st.none() | st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=0, max_size=210
)


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, str, dict[str, Any]]:
    kind = draw(st.sampled_from(["scan", "place", "get", "raw"]))
    if kind == "scan":
        return "POST", "/analysis/scans", {"json": draw(scan_bodies)}
    if kind == "place":
        key = draw(keys)
        headers = {"Idempotency-Key": key} if key is not None else {}
        return (
            "POST",
            "/analysis/orders/place-modified-orders",
            {"json": draw(place_bodies), "headers": headers},
        )
    if kind == "get":
        template = draw(
            st.sampled_from(
                [
                    "/analysis/scans/{}",
                    "/analysis/orders/preview/{}",
                    "/analysis/orders/batches/{}",
                    "/analysis/orders/files/{}",
                    "/analysis/scans?limit={}",
                    "/analysis/scans?offset={}",
                ]
            )
        )
        return "GET", template.format(draw(segments)), {}
    path = draw(st.sampled_from(["/analysis/scans", "/analysis/orders/place-modified-orders"]))
    return (
        "POST",
        path,
        {"content": draw(st.binary(max_size=200)), "headers": {"Content-Type": "application/json"}},
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(server_settings(tmp_path_factory.mktemp("cloud-gen"))) as running:
        yield running


def test_no_generated_request_gets_a_5xx(server: Server) -> None:
    answers: list[int] = []
    with httpx.Client(base_url=server.http, headers=AUTH, timeout=10) as client:
        scan = client.post("/analysis/scans", json=SCAN)
        assert scan.status_code == 201

        @settings(
            max_examples=MIN_REQUESTS + 100,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(request=requests())
        def one_request(request: tuple[str, str, dict[str, Any]]) -> None:
            method, path, options = request
            if "json" in options:  # floats as JSON text; httpx refuses NaN/inf but none are drawn
                options = {
                    **options,
                    "content": json.dumps(options.pop("json")).encode(),
                    "headers": {**options.get("headers", {}), "Content-Type": "application/json"},
                }
            answer = client.request(method, path, **options)
            answers.append(answer.status_code)
            assert answer.status_code < 500, (
                f"{method} {path} {options} -> {answer.status_code} {answer.text}"
            )

        one_request()
    assert len(answers) >= MIN_REQUESTS
    assert any(code < 300 for code in answers) and any(400 <= code < 500 for code in answers)
