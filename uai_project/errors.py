"""One error hierarchy for UAI, and the one place that renders it for REST clients.

Application code raises a ``UAIError`` subclass; each surface maps it with one table
(REST: ``{"detail": …}`` with the status below; other dialects map ``code``).
"""

from __future__ import annotations

import logging
import sys
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.core import exceptions as django_exceptions
from django.http import Http404, JsonResponse
from django.utils.deprecation import MiddlewareMixin
from rest_framework import exceptions as drf_exceptions
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger(__name__)


class ErrorCode(StrEnum):
    INVALID = "invalid"
    NOT_AUTHENTICATED = "not_authenticated"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    CONFLICT = "conflict"
    TOO_LARGE = "too_large"
    RATE_LIMITED = "rate_limited"
    TIMEOUT = "timeout"
    UNAVAILABLE = "unavailable"
    AGENT_FAILED = "agent_failed"


HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.INVALID: status.HTTP_400_BAD_REQUEST,
    ErrorCode.NOT_AUTHENTICATED: status.HTTP_401_UNAUTHORIZED,
    ErrorCode.FORBIDDEN: status.HTTP_403_FORBIDDEN,
    ErrorCode.NOT_FOUND: status.HTTP_404_NOT_FOUND,
    ErrorCode.METHOD_NOT_ALLOWED: status.HTTP_405_METHOD_NOT_ALLOWED,
    ErrorCode.CONFLICT: status.HTTP_409_CONFLICT,
    ErrorCode.TOO_LARGE: status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    ErrorCode.RATE_LIMITED: status.HTTP_429_TOO_MANY_REQUESTS,
    ErrorCode.TIMEOUT: status.HTTP_504_GATEWAY_TIMEOUT,
    ErrorCode.UNAVAILABLE: status.HTTP_503_SERVICE_UNAVAILABLE,
    ErrorCode.AGENT_FAILED: status.HTTP_502_BAD_GATEWAY,
}


class UAIError(Exception):
    """Base of every error UAI reports to a client."""

    code: ErrorCode = ErrorCode.INVALID

    def __init__(self, detail: str, *, code: ErrorCode | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code


class InvalidInput(UAIError):
    code = ErrorCode.INVALID


class NotFound(UAIError):
    code = ErrorCode.NOT_FOUND


class Forbidden(UAIError):
    code = ErrorCode.FORBIDDEN


class Conflict(UAIError):
    code = ErrorCode.CONFLICT


class TooLarge(UAIError):
    code = ErrorCode.TOO_LARGE


class Timeout(UAIError):
    code = ErrorCode.TIMEOUT


class Unavailable(UAIError):
    code = ErrorCode.UNAVAILABLE


# SQLSTATEs of a server that is going or cannot take a connection (besides class 08, connection
# exceptions): admin or crash shutdown, cannot connect now, too many connections.
_OUTAGE_SQLSTATES = {"57P01", "57P02", "57P03", "53300"}


def outage(error: BaseException | None) -> str | None:
    """``"database"`` or ``"redis"`` when ``error`` (or an error it came from) is that service
    being unreachable — a connection refused or dropped, a pool with no connection to give —
    rather than a fault of the request; None otherwise. A query's own failure (a deadlock, a
    statement timeout, a full disk) is not an outage, though psycopg calls it operational too."""
    seen = 0
    while error is not None and seen < 10:  # (a chain, not a cycle)
        verdict = _database_verdict(error)
        if verdict is not None:
            return "database" if verdict else None
        if _is_redis_outage(error):
            return "redis"
        error = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
        seen += 1
    return None


def _database_verdict(error: BaseException) -> bool | None:
    """Whether a database error is an outage; None for an error that does not tell (look at
    its cause: Django's wrappers carry psycopg's error there)."""
    import psycopg
    import psycopg_pool
    from django import db

    if isinstance(error, psycopg_pool.PoolTimeout):
        return True
    if isinstance(error, psycopg.Error):
        state = error.sqlstate
        if state is None:  # no answer from a server: the connection itself failed
            return isinstance(error, psycopg.OperationalError | psycopg.InterfaceError)
        return state.startswith("08") or state in _OUTAGE_SQLSTATES
    if isinstance(error, db.OperationalError | db.InterfaceError) and not isinstance(
        error.__cause__, psycopg.Error
    ):
        return True  # Django's own ("connection already closed")
    return None


def _is_redis_outage(error: BaseException) -> bool:
    redis = sys.modules.get("redis.exceptions")  # loaded only where Redis is used
    return redis is not None and isinstance(error, redis.ConnectionError | redis.TimeoutError)


# A WebSocket closed because the database or Redis is away: reconnect and resume. 1013 ("try
# again later") in the application range, as 4008 is 1008: daphne (autobahn) refuses to send any
# code but 1000 and 3000–4999, and a 1013 became an exception and a 1011.
WS_CLOSE_TRY_AGAIN = 4013

_OUTAGE_DETAIL = {
    "database": "The database is unreachable for a moment; try again shortly.",
    "redis": "Redis is unreachable for a moment; try again shortly.",
}


def unavailable(service: str, path: str = "") -> JsonResponse:
    """503 with ``Retry-After`` (UAI_RETRY_AFTER_SECONDS): ``service`` is away, not the request
    wrong; said in one log line (with ``path``) instead of a traceback per request."""
    if path:
        logger.warning("%s unreachable: %s answered 503", service, path)
    response = json_error(_OUTAGE_DETAIL[service], status.HTTP_503_SERVICE_UNAVAILABLE)
    response["Retry-After"] = str(settings.UAI_RETRY_AFTER_SECONDS)
    return response


def _flatten(detail: Any) -> str:
    """Turn DRF's nested validation detail into one readable sentence."""
    if isinstance(detail, dict):
        parts = []
        for field, value in detail.items():
            text = _flatten(value)
            parts.append(text if field in ("non_field_errors", "detail") else f"{field}: {text}")
        return "; ".join(parts)
    if isinstance(detail, list):
        return " ".join(_flatten(item) for item in detail)
    return str(detail)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF exception handler: every error becomes ``{"detail": …}`` with a fitting status."""
    if isinstance(exc, UAIError):
        return Response({"detail": exc.detail, "code": exc.code.value}, status=HTTP_STATUS[exc.code])
    if service := outage(exc):
        return unavailable(service, context["request"].path)
    if isinstance(exc, django_exceptions.RequestDataTooBig):
        # DATA_UPLOAD_MAX_MEMORY_SIZE is UAI_MAX_JSON_BYTES: a client knows UAI's settings.
        limit = settings.UAI_MAX_JSON_BYTES
        detail = f"The request body (files aside) is larger than {limit} bytes (UAI_MAX_JSON_BYTES)."
        return Response(
            {"detail": detail, "code": ErrorCode.TOO_LARGE.value},
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, django_exceptions.TooManyFilesSent | django_exceptions.TooManyFieldsSent):
        return Response(
            {"detail": str(exc) or "Too many fields or files.", "code": ErrorCode.TOO_LARGE.value},
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, django_exceptions.ValidationError):
        exc = drf_exceptions.ValidationError(exc.messages)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, drf_exceptions.ValidationError) or not (
        isinstance(response.data, dict) and set(response.data) <= {"detail", "code"}
    ):
        response.data = {"detail": _flatten(response.data), "code": ErrorCode.INVALID.value}
    elif isinstance(exc, drf_exceptions.APIException):
        response.data = {"detail": str(exc.detail), "code": _code_for(exc, response.status_code)}
    return response


def _code_for(exc: Exception, http_status: int) -> str:
    if isinstance(exc, Http404 | drf_exceptions.NotFound):
        return ErrorCode.NOT_FOUND.value
    for code, value in HTTP_STATUS.items():
        if value == http_status:
            return code.value
    return getattr(exc, "default_code", "error")


def json_error(detail: str, http_status: int, *, code: ErrorCode | None = None) -> JsonResponse:
    """A ``{"detail"}`` response for code outside DRF (plain Django views, handlers)."""
    name = (
        code.value if code else next((c.value for c, s in HTTP_STATUS.items() if s == http_status), "error")
    )
    return JsonResponse({"detail": detail, "code": name}, status=http_status)


def handler404(request: Any, exception: Exception | None = None) -> JsonResponse:
    """Unknown URLs answer JSON, like every other error."""
    return json_error("Not found.", 404)


def handler500(request: Any) -> JsonResponse:
    """An unexpected failure: JSON, never an HTML page; 503 when the database or Redis is away
    (Django calls this while handling the exception: ``sys.exc_info()`` is it)."""
    if service := outage(sys.exc_info()[1]):
        return unavailable(service)
    return json_error("Internal server error.", 500)


class OutageMiddleware(MiddlewareMixin):
    """A view that raised because the database or Redis is away answers 503 with ``Retry-After``
    (plain Django views and the async SSE views; DRF's are answered by ``exception_handler``),
    logged in one line instead of a traceback per request."""

    def process_exception(self, request: Any, exception: Exception) -> JsonResponse | None:
        """503 for an outage, else None (Django's own handling)."""
        if service := outage(exception):
            return unavailable(service, request.path)
        return None


def handler400(request: Any, exception: Exception | None = None) -> JsonResponse:
    """A malformed request Django refused before any view ran."""
    return json_error("Bad request.", 400)


def handler403(request: Any, exception: Exception | None = None) -> JsonResponse:
    """A request Django refused before any view ran (e.g. CSRF)."""
    return json_error(str(exception) if exception else "Forbidden.", 403)
