"""Bring a database's schema to the newest revision, on start, from an installed package.

The Alembic scripts live inside this package (`migrations/`), found relative to this file, so
no alembic.ini is needed anywhere. On PostgreSQL an advisory lock lets two cloud instances
start at the same time: one migrates, the other waits and then finds nothing to do.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.storage.database import create_engine_from_url

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# An arbitrary constant naming the lock "tradebridge schema migration" among advisory locks.
_PG_MIGRATION_LOCK = 0x7472_6164_6562


def alembic_config() -> Config:
    """The Alembic configuration, built in code."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    """The newest revision in this package."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, f"no migration revisions found in {MIGRATIONS_DIR}"
    return head


async def migrate(target: AsyncEngine | str, *, schema: str | None = None) -> str:
    """Upgrade the database (an engine, or a URL as `create_engine_from_url` takes it) to the
    newest revision and return it. Running it again is a no-op."""
    if isinstance(target, str):
        engine = create_engine_from_url(target, schema=schema)
        try:
            return await migrate(engine)
        finally:
            await engine.dispose()
    async with target.begin() as connection:
        await connection.run_sync(_upgrade)
    return head_revision()


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    async with engine.connect() as connection:
        return await connection.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())


def _upgrade(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
