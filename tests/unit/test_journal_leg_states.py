"""A leg the journal holds gets its state columns updated many legs per statement (UPDATE ... FROM
a VALUES list), or one statement per leg where the SQLite linked is older than 3.33: either way
the tables end up as a row-by-row writer leaves them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from adapters.journal import rows
from tests.unit.test_sqlite_journal_writes import (
    test_random_steps_leave_the_tables_a_row_by_row_writer_leaves as play_random_steps,  # not collected here
)


@pytest.mark.parametrize("update_from", [True, False])
def test_leg_states_are_written_alike_with_or_without_update_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, update_from: bool
) -> None:
    if update_from and not rows.UPDATE_FROM:
        pytest.skip("the SQLite linked is older than 3.33: it has no UPDATE ... FROM")
    monkeypatch.setattr(rows, "UPDATE_FROM", update_from)
    statements: list[str] = []
    real_connect = sqlite3.connect

    def traced(database: str | Path, isolation_level: None) -> sqlite3.Connection:
        connection = real_connect(database, isolation_level=isolation_level)  # as the journals open theirs
        connection.set_trace_callback(statements.append)
        return connection

    monkeypatch.setattr(sqlite3, "connect", traced)
    play_random_steps(tmp_path, legs_in_memory=True)
    assert any("FROM (VALUES" in statement for statement in statements) is update_from
    assert any(statement.startswith("UPDATE legs SET") and "WHERE order_ref =" in statement
               for statement in statements) is not update_from
