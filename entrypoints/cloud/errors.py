"""Exception handlers: every refusal is a 4xx whose `detail` says what was wrong and what to do.

No input may produce a 500: the handlers below map every error the use cases raise; a database
that cannot be reached is a 503. An error nobody expected is logged with its traceback and still
answered without internals.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException
from sqlalchemy.exc import DBAPIError, OperationalError

from core.batches import PlanError
from core.service_layer.cloud import InvalidScan, UnknownScan
from core.stores import IdempotencyConflict, StoreError, UnknownOrderRef

logger = logging.getLogger(__name__)


class NotFound(LookupError):
    """An id or name that names nothing (HTTP 404); the message says how to find the right one."""


def _answer(status: int, detail: str, **extra: Any) -> Response[dict[str, Any]]:
    return Response({"status_code": status, "detail": detail, **extra}, status_code=status)


def _invalid_scan(_request: Request[Any, Any, Any], error: InvalidScan) -> Response[dict[str, Any]]:
    problems = [{"row": e.row, "field": e.field, "message": e.message} for e in error.errors]
    return _answer(400, str(error).replace("\n- ", "; "), errors=problems)


def _plan(_request: Request[Any, Any, Any], error: PlanError) -> Response[dict[str, Any]]:
    return _answer(400, "; ".join(error.problems), errors=list(error.problems))


def _not_found(_request: Request[Any, Any, Any], error: Exception) -> Response[dict[str, Any]]:
    return _answer(404, str(error))


def _conflict(_request: Request[Any, Any, Any], error: Exception) -> Response[dict[str, Any]]:
    return _answer(409, str(error))


def _bad_value(_request: Request[Any, Any, Any], error: ValueError) -> Response[dict[str, Any]]:
    return _answer(400, str(error))


def _database(_request: Request[Any, Any, Any], error: Exception) -> Response[dict[str, Any]]:
    logger.error("database error: %s", error)
    return Response(
        {"status_code": 503, "detail": "the database is not available right now; try again shortly"},
        status_code=503,
        headers={"Retry-After": "5"},
    )


def _http(_request: Request[Any, Any, Any], error: HTTPException) -> Response[dict[str, Any]]:
    extra = {"extra": error.extra} if error.extra else {}
    return Response(
        {"status_code": error.status_code, "detail": error.detail, **extra},
        status_code=error.status_code,
        headers=error.headers,
    )


def _unexpected(request: Request[Any, Any, Any], error: Exception) -> Response[dict[str, Any]]:
    logger.exception("unexpected error on %s %s", request.method, request.url.path)
    return _answer(500, "an unexpected error happened; it was logged. Please report it with the time")


EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {
    InvalidScan: _invalid_scan,
    PlanError: _plan,
    UnknownScan: _not_found,
    UnknownOrderRef: _not_found,
    NotFound: _not_found,
    IdempotencyConflict: _conflict,
    StoreError: _conflict,
    OperationalError: _database,
    DBAPIError: _database,
    HTTPException: _http,
    ValueError: _bad_value,
    Exception: _unexpected,
}
