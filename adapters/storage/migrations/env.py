"""Alembic environment. `adapters.storage.migrate` runs it on a connection it passes in through
`config.attributes["connection"]`; the command-line `alembic` is only for writing new revisions."""

from __future__ import annotations

from alembic import context

from adapters.storage.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "run migrations through adapters.storage.migrate (tradebridge does so on start); "
        "offline SQL generation is not supported"
    )

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
