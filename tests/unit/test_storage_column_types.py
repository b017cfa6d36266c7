"""The column types' SQLite bind processors write exactly what SQLAlchemy's own chain writes (the
stored text is compared and sorted as text, so one character off would misorder expiries)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import DateTime
from sqlalchemy.dialects import sqlite

from adapters.storage.column_types import UtcDateTime

SQLITE = sqlite.dialect()
AWARE = st.datetimes(
    min_value=datetime(1900, 1, 2), max_value=datetime(9999, 12, 30),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=9, minutes=30))]),
)


@settings(max_examples=300)
@given(AWARE)
def test_a_datetime_is_stored_as_sqlalchemys_sqlite_datetime_text_of_its_utc_time(moment: datetime) -> None:
    ours = UtcDateTime().bind_processor(SQLITE)
    theirs = DateTime().dialect_impl(SQLITE).bind_processor(SQLITE)
    assert ours is not None and theirs is not None
    assert ours(moment) == theirs(moment.astimezone(UTC).replace(tzinfo=None))


def test_a_naive_datetime_is_refused_and_none_stays_none() -> None:
    process = UtcDateTime().bind_processor(SQLITE)
    assert process is not None
    with pytest.raises(ValueError, match="timezone-aware"):
        process(datetime(2026, 1, 1))
    assert process(None) is None

