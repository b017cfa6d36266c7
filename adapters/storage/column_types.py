"""Column types that keep money exact and time in UTC on both SQLite and PostgreSQL.

SQLite has no decimal type: a NUMERIC column there converts "10.10" to the float 10.1, so money
is stored as text on SQLite and as NUMERIC on PostgreSQL, and comes back as `Decimal` from both.
SQLite also has no time zones: timestamps are stored as naive UTC there and made aware on the
way out, so every datetime a store returns is timezone-aware UTC.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import DateTime, Dialect, Numeric, String
from sqlalchemy.types import TypeDecorator, TypeEngine


class ExactDecimal(TypeDecorator[Decimal]):
    """A Decimal stored without loss: NUMERIC on PostgreSQL, its string form on SQLite."""

    impl = Numeric
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(64))
        return dialect.type_descriptor(Numeric(asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        checked = _exact(value)
        return str(checked) if dialect.name == "sqlite" else checked

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        # The same as process_bind_param without the generic wrapper: a batch binds hundreds.
        def to_text(value: Any) -> str | None:
            if value.__class__ is Decimal and value.is_finite():  # what _exact lets through, inline
                return str(value)
            return None if value is None else str(_exact(value))

        return to_text

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return value if isinstance(value, Decimal) else Decimal(str(value))


def _exact(value: object) -> Decimal:
    if not isinstance(value, Decimal):
        # A float here would already have lost its exact value; refuse it loudly.
        raise TypeError(f"money and quantities are stored as Decimal, got {type(value).__name__}")
    if not value.is_finite():
        raise ValueError(f"cannot store the non-finite number {value}")
    return value


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime. Naive datetimes are refused: their zone is a guess."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"timestamps must be timezone-aware, got the naive {value.isoformat()}")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        # process_bind_param, then the text SQLAlchemy's SQLite DATETIME stores
        # ("2026-01-02 03:04:05.000006"), in one step: isoformat is C, the generic chain is not.
        def to_text(value: Any) -> str | None:
            if value is None:
                return None
            if isinstance(value, datetime) and value.tzinfo is UTC:  # the Clock's own: UTC already
                return value.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
            naive: datetime = self.process_bind_param(value, dialect)
            return naive.isoformat(sep=" ", timespec="microseconds")

        return to_text

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
