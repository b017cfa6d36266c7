"""Storage for the cloud service: SQLite (default) or PostgreSQL through SQLAlchemy's async engine.

Implements the ports of `core.stores` (ScanStore, BatchStore, Outbox). Create an engine with
`create_engine_from_url`, run `migrate` once on start, then build the stores on that engine.
"""

from adapters.storage.batch_store import SqlBatchStore
from adapters.storage.database import DatabaseUrlError, create_engine_from_url, normalize_url
from adapters.storage.migrate import current_revision, head_revision, migrate
from adapters.storage.outbox import SqlOutbox
from adapters.storage.scan_store import SqlScanStore

__all__ = [
    "DatabaseUrlError",
    "SqlBatchStore",
    "SqlOutbox",
    "SqlScanStore",
    "create_engine_from_url",
    "current_revision",
    "head_revision",
    "migrate",
    "normalize_url",
]
