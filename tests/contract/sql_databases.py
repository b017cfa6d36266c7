"""Empty, migrated databases for the storage contract suites, so no test sees another's rows.

Migrating is the slow part, so it runs once per session (`storage_templates`): SQLite into a
template file that each test copies; PostgreSQL into a schema of its own (dropped at the end)
whose tables each test empties first. PostgreSQL is found at TRADEBRIDGE_TEST_POSTGRES_URL
(default: the trust-auth server of the dev machine); without a server its cases skip, or fail
when TRADEBRIDGE_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.storage import create_engine_from_url, migrate
from adapters.storage.tables import metadata, outbox_counter
from tests.services import port_open, require_service

POSTGRES_URL = os.environ.get("TRADEBRIDGE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
DATABASES = ("sqlite", "postgresql")
_PG = make_url(POSTGRES_URL)
_schema_numbers = itertools.count(1)  # each test module imports the session fixture: one schema each


def require_postgres() -> None:
    """Skip (or fail, per the services policy) unless PostgreSQL listens where POSTGRES_URL says."""
    require_service("postgresql", _PG.host or "127.0.0.1", _PG.port or 5432)


@dataclass(frozen=True)
class Templates:
    """Migrated starting points: a SQLite file, and a PostgreSQL schema (None: no server)."""

    sqlite_file: Path
    postgres_schema: str | None


async def _run_on_postgres(*statements: str) -> None:
    admin = create_engine_from_url(POSTGRES_URL)
    try:
        async with admin.begin() as connection:
            for statement in statements:
                await connection.execute(text(statement))
    finally:
        await admin.dispose()


@pytest.fixture(scope="session")
def storage_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Templates]:
    """Migrate once per session. Plain asyncio.run: async engines must not outlive their loop."""
    sqlite_file = tmp_path_factory.mktemp("storage") / "template.db"
    asyncio.run(migrate(f"sqlite:///{sqlite_file}"))  # disposing checkpoints the WAL into the file
    schema = None
    if port_open(_PG.host or "127.0.0.1", _PG.port or 5432):
        schema = f"tb_test_{os.getpid()}_{next(_schema_numbers)}"
        asyncio.run(_run_on_postgres(f"DROP SCHEMA IF EXISTS {schema} CASCADE", f"CREATE SCHEMA {schema}"))
        asyncio.run(migrate(POSTGRES_URL, schema=schema))
    yield Templates(sqlite_file, schema)
    if schema is not None:
        asyncio.run(_run_on_postgres(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))


async def _empty_postgres(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("DROP TRIGGER IF EXISTS refuse_outbox ON outbox"))  # a test's fault
        await connection.execute(text("DROP FUNCTION IF EXISTS refuse_outbox()"))
        # DELETE, not TRUNCATE: on a handful of rows it is many times faster.
        for table in reversed(metadata.sorted_tables):
            if table is not outbox_counter:
                await connection.execute(table.delete())
        await connection.execute(outbox_counter.update().values(last_seq=0))


@asynccontextmanager
async def fresh_database(kind: str, directory: Path, templates: Templates) -> AsyncIterator[AsyncEngine]:
    """An empty database of `kind` ("sqlite" or "postgresql") at the newest revision."""
    if kind == "sqlite":
        target = directory / "cloud.db"
        shutil.copyfile(templates.sqlite_file, target)
        engine = create_engine_from_url(f"sqlite:///{target}")
    else:
        require_postgres()
        assert templates.postgres_schema is not None, "PostgreSQL came up after the session started"
        engine = create_engine_from_url(POSTGRES_URL, schema=templates.postgres_schema)
        await _empty_postgres(engine)
    try:
        yield engine
    finally:
        await engine.dispose()
