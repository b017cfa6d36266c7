"""The executor's local limits: defaults on, a TOML file, the environment over the file, "none"
to lift one, and errors that name the setting."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from entrypoints.executor.downloads import http_origin
from entrypoints.executor.limits import LimitsError, load_limits


def test_the_defaults_are_on_without_a_file_or_variables() -> None:
    limits = load_limits(None, {})
    assert limits.max_order_quantity == Decimal(10_000)
    assert limits.max_daily_loss == Decimal(5_000)
    assert limits.max_orders_per_second is None  # pacing belongs to the broker adapter


def test_a_toml_file_sets_limits_and_the_environment_wins(tmp_path: Path) -> None:
    path = tmp_path / "limits.toml"
    path.write_text(
        'max_order_quantity = 500\nprice_band_pct = 0.05\nmax_open_positions = 3\nmax_daily_loss = "none"\n'
    )
    limits = load_limits(path, {"TRADEBRIDGE_MAX_ORDER_QUANTITY": "200"})
    assert limits.max_order_quantity == Decimal(200)
    assert limits.price_band_pct == Decimal("0.05")
    assert limits.max_open_positions == 3
    assert limits.max_daily_loss is None


def test_a_limits_table_is_accepted_too(tmp_path: Path) -> None:
    path = tmp_path / "limits.toml"
    path.write_text("[limits]\nmax_order_notional = 2500\n")
    assert load_limits(path, {}).max_order_notional == Decimal(2500)


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("max_order_qty = 5\n", {}, "unknown limit 'max_order_qty'"),
        ("max_order_quantity = -1\n", {}, "must be 0 or more"),
        ("max_open_positions = 2.5\n", {}, "must be a whole number"),
        ("", {"TRADEBRIDGE_MAX_ORDER_NOTIONAL": "lots"}, "TRADEBRIDGE_MAX_ORDER_NOTIONAL must be a number"),
        ("max_order_quantity = [1]\n", {}, "must be a number"),
    ],
)
def test_a_bad_limit_is_refused_with_its_name(
    tmp_path: Path, text: str, env: dict[str, str], message: str
) -> None:
    path = tmp_path / "limits.toml"
    path.write_text(text)
    with pytest.raises(LimitsError, match=message):
        load_limits(path, env)


def test_a_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(LimitsError, match="does not exist"):
        load_limits(tmp_path / "nope.toml", {})


@pytest.mark.parametrize(
    ("api_url", "origin"),
    [
        ("ws://127.0.0.1:8000/listen_events", "http://127.0.0.1:8000"),
        ("wss://cloud.example.com/listen_events", "https://cloud.example.com"),
    ],
)
def test_order_files_are_downloaded_from_the_api_urls_origin(api_url: str, origin: str) -> None:
    assert http_origin(api_url) == origin
