"""Database URLs and the SQLite set-up of `adapters.storage.database`, and the column types."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text

from adapters.storage import DatabaseUrlError, create_engine_from_url, migrate, normalize_url
from adapters.storage.migrate import MIGRATIONS_DIR
from adapters.storage.scan_store import SqlScanStore
from core.clock import EPOCH
from core.scans import ScanRow
from core.values import Side


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("sqlite:///data/tradebridge.db", "sqlite+aiosqlite"),
        ("sqlite+aiosqlite:///data/tradebridge.db", "sqlite+aiosqlite"),
        ("postgresql://user:pw@db:5432/trading", "postgresql+asyncpg"),
        ("postgres://user@db/trading", "postgresql+asyncpg"),
        ("postgresql+asyncpg://user@db/trading", "postgresql+asyncpg"),
    ],
)
def test_plain_urls_get_the_async_driver(url: str, driver: str) -> None:
    assert normalize_url(url).drivername == driver


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("mysql://root@localhost/db", "scheme 'mysql' is not supported"),
        ("postgresql+psycopg2://u@h/db", "not supported"),
        ("sqlite:///:memory:", "in-memory"),
        ("sqlite://", "names no file"),
        ("postgresql://u@host", "names no database"),
        ("not a url", "not a URL"),
    ],
)
def test_unusable_urls_say_which_forms_work(url: str, problem: str) -> None:
    with pytest.raises(DatabaseUrlError, match=problem) as raised:
        normalize_url(url)
    assert "sqlite:///path/to/file.db or postgresql://" in str(raised.value)


def test_a_schema_is_only_for_postgresql_and_must_be_a_plain_name(tmp_path: Path) -> None:
    with pytest.raises(DatabaseUrlError, match="only be chosen on PostgreSQL"):
        create_engine_from_url(f"sqlite:///{tmp_path / 'x.db'}", schema="s")
    with pytest.raises(DatabaseUrlError, match="letters, digits"):
        create_engine_from_url("postgresql://u@h/db", schema="a; DROP TABLE x")


async def test_sqlite_runs_in_wal_mode_with_foreign_keys_in_a_new_directory(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "cloud.db"
    engine = create_engine_from_url(f"sqlite:///{path}")
    try:
        await migrate(engine)
        async with engine.connect() as connection:
            assert (await connection.execute(text("PRAGMA journal_mode"))).scalar_one() == "wal"
            assert (await connection.execute(text("PRAGMA foreign_keys"))).scalar_one() == 1
            assert (await connection.execute(text("PRAGMA busy_timeout"))).scalar_one() >= 1000
        assert path.exists()
    finally:
        await engine.dispose()


async def test_migrate_takes_a_url_and_the_scripts_ship_inside_the_package(tmp_path: Path) -> None:
    assert (MIGRATIONS_DIR / "env.py").is_file() and (MIGRATIONS_DIR / "versions").is_dir()
    url = f"sqlite:///{tmp_path / 'cloud.db'}"
    first = await migrate(url)
    assert await migrate(url) == first


async def test_naive_timestamps_and_float_money_are_refused(tmp_path: Path) -> None:
    engine = create_engine_from_url(f"sqlite:///{tmp_path / 'cloud.db'}")
    try:
        await migrate(engine)
        store = SqlScanStore(engine)
        row = ScanRow("AAPL", Decimal("10.5"), Side.BUY, Decimal(10), Decimal(11))
        with pytest.raises(Exception, match="timezone-aware"):
            await store.add_scan("naive", [row], datetime(2026, 1, 2, 14, 30))
        with pytest.raises(Exception, match="Decimal"):
            await store.add_scan("float", [ScanRow("AAPL", 10.5, Side.BUY, Decimal(10), Decimal(11))],  # type: ignore[arg-type]
                                 EPOCH)
        assert await store.list_scans() == []
    finally:
        await engine.dispose()
