"""The executor's journal on disk (`SqliteJournal`): the Journal port of `core.journal`."""

from adapters.journal.sqlite_journal import SqliteJournal

__all__ = ["SqliteJournal"]
