"""Alembic environment and versioned revisions of the cloud's schema (see `adapters.storage.migrate`)."""
