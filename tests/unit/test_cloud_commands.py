"""`tradebridge scans import`, the serve/scans argument parsing, the settings from the environment,
and the scan cache."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from core.scans import parse_scan_rows
from entrypoints.cli import build_parser, main
from entrypoints.cloud.scan_cache import CachedScanStore
from entrypoints.cloud.settings import CloudSettings
from tests.fakes.stores import MemoryScanStore

GOOD_CSV = (
    "Symbol,Current price,Transaction type,Stop Loss,Take Profit\n"
    "AAPL,190,Buy,180,210\n"
    "MSFT,400,Sell,420,380\n"
)


def test_scans_import_stores_the_file_and_prints_the_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scan = tmp_path / "scan.csv"
    scan.write_text(GOOD_CSV)
    assert main(["scans", "import", str(scan), "--data-dir", str(tmp_path / "data")]) == 0
    assert main(["scans", "import", str(scan), "--data-dir", str(tmp_path / "data")]) == 0
    assert capsys.readouterr().out.split() == ["1", "2"]


def test_scans_import_names_every_bad_row_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scan = tmp_path / "scan.json"
    scan.write_text(
        json.dumps(
            {
                "rows": [
                    {
                        "symbol": "AAPL",
                        "current_price": 190,
                        "side": "Buy",
                        "stop_loss": 200,
                        "take_profit": 210,
                    },
                    {
                        "symbol": "MSFT",
                        "current_price": 400,
                        "side": "Hold",
                        "stop_loss": 420,
                        "take_profit": 380,
                    },
                ]
            }
        )
    )
    assert main(["scans", "import", str(scan), "--data-dir", str(tmp_path / "data")]) == 2
    error = capsys.readouterr().err
    assert "row 1, stop_loss" in error and "row 2, side" in error


def test_scans_import_refuses_a_missing_file_and_a_bad_database_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["scans", "import", str(tmp_path / "nope.csv"), "--data-dir", str(tmp_path)]) == 2
    scan = tmp_path / "scan.csv"
    scan.write_text(GOOD_CSV)
    assert main(["scans", "import", str(scan), "--database", "mysql://x/y"]) == 2
    assert "not supported" in capsys.readouterr().err


def test_serve_takes_the_documented_options() -> None:
    args = build_parser().parse_args(
        [
            "serve",
            "--host",
            "0.0.0.0",
            "--port",
            "9000",
            "--data-dir",
            "d",
            "--database",
            "sqlite:///x.db",
            "--ssl-certfile",
            "c.pem",
            "--ssl-keyfile",
            "k.pem",
        ]
    )
    assert (args.host, args.port, str(args.data_dir), args.database) == (
        "0.0.0.0",
        9000,
        "d",
        "sqlite:///x.db",
    )
    assert (args.ssl_certfile, args.ssl_keyfile) == ("c.pem", "k.pem")
    defaults = build_parser().parse_args(["serve"])
    assert (defaults.host, defaults.port) == ("127.0.0.1", 8000)


def test_settings_come_from_the_environment_and_arguments_win() -> None:
    env = {
        "TRADEBRIDGE_DATABASE_URL": "postgresql://u@h/db",
        "TRADEBRIDGE_REDIS_URL": "redis://r:6379/0",
        "TRADEBRIDGE_API_TOKENS": "a, b,,",
        "TRADEBRIDGE_INVESTMENT_PER_POSITION": "2500",
        "TRADEBRIDGE_BATCH_EXPIRY_HOURS": "2",
        "TRADEBRIDGE_DATA_DIR": "/tmp/tb",
    }
    settings = CloudSettings.from_env(env, database_url="sqlite:///other.db", account_equity=None)
    assert settings.database == "sqlite:///other.db" and settings.redis_url == "redis://r:6379/0"
    assert settings.api_tokens == ("a", "b") and settings.investment_per_position == Decimal(2500)
    assert settings.batch_expiry_hours == Decimal(2) and settings.account_equity == Decimal(100_000)
    assert str(settings.files_dir) == "/tmp/tb/files"
    assert CloudSettings.from_env({}, data_dir=Path("d")).database.endswith("/d/tradebridge.db")
    with pytest.raises(ValueError, match="TRADEBRIDGE_ACCOUNT_EQUITY"):
        CloudSettings.from_env({"TRADEBRIDGE_ACCOUNT_EQUITY": "lots"})
    with pytest.raises(ValueError, match="batch_expiry_hours"):
        CloudSettings.from_env({"TRADEBRIDGE_BATCH_EXPIRY_HOURS": "0"})


async def test_the_scan_cache_reads_each_scan_once_and_never_caches_a_miss() -> None:
    inner = MemoryScanStore()
    reads: list[int] = []
    real_get = inner.get_scan

    async def counting_get(scan_id: int) -> object:
        reads.append(scan_id)
        return await real_get(scan_id)

    inner.get_scan = counting_get  # type: ignore[assignment,method-assign]
    cache = CachedScanStore(inner, max_scans=1)
    assert await cache.get_scan(1) is None
    rows = parse_scan_rows(
        [{"symbol": "AAPL", "current_price": 10, "side": "Buy", "stop_loss": 9, "take_profit": 12}]
    ).rows
    scan_id = await cache.add_scan("s", rows, datetime(2026, 1, 2, tzinfo=UTC))
    first, again = await cache.get_scan(scan_id), await cache.get_scan(scan_id)
    assert first is again is not None and reads == [1, 1]
    assert [s.scan_id for s in await cache.list_scans()] == [scan_id]
