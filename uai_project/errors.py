"""One error vocabulary for UAI: every code in ``ErrorCode``, an exception for each, and one table
per transport that says how it answers each code.

Application code raises a ``UAIError`` subclass (or one of them is made from a failure it caught:
an outage, a stream's end); it never builds an error body itself. Each transport renders the
exception in one place:

- REST (here): ``HTTP_STATUS`` gives the status, ``error_body`` the ``{"detail", "code"}`` body —
  DRF's exception handler, ``error_response`` for plain Django views, and ``error_bytes`` for
  answers written below Django (``body_limit``, ``daphne_http``, ``uvicorn_http``);
- the seed 001 WebSocket (``uai.dialects.step_socket``): ``CLOSE_CODES`` gives the close code of
  an error that ends or refuses a connection; any other is said in an ``agent_error`` frame;
- SSE: the native streams end with ``event: error`` and ``error_body``
  (``uai.dialects.native_streams.error_event``); the reply chunks of seeds 003 and 004 with a final
  chunk whose ``error`` is the detail (``uai.dialects.reply_chunks.error_chunk``). Their shape is
  the same for every code, so they need no table.

A new dialect whose answer differs by code (an OpenAI error ``type``, a JSON-RPC error number)
adds its table with ``transport_table``, beside the function that renders it: a table that
misses a code stops the server at start. A new code goes in ``ErrorCode``, gets its exception
below, and an entry in every table.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from enum import StrEnum
from typing import Any, TypeVar

from django.conf import settings
from django.core import exceptions as django_exceptions
from django.core.exceptions import ImproperlyConfigured
from django.http import JsonResponse
from django.utils.deprecation import MiddlewareMixin
from rest_framework import exceptions as drf_exceptions
from rest_framework import status
from rest_framework.response import Response

logger = logging.getLogger(__name__)

T = TypeVar("T")


class ErrorCode(StrEnum):
    """Every ``code`` UAI sends, on every transport (the values are the wire's)."""

    INVALID = "invalid"
    NOT_AUTHENTICATED = "not_authenticated"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    CONFLICT = "conflict"
    TOO_LARGE = "too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    RATE_LIMITED = "rate_limited"
    TIMEOUT = "timeout"
    UNAVAILABLE = "unavailable"
    AGENT_FAILED = "agent_failed"
    SERVER_ERROR = "error"
    TOO_SLOW = "too_slow"  # a stream's reader fell behind: it resumes from the last number it saw
    GONE = "gone"  # the chat a stream followed was deleted: nothing more of it will come


TABLES: dict[str, dict[ErrorCode, Any]] = {}  # every transport's table, by transport


def transport_table(transport: str, entries: dict[ErrorCode, T]) -> dict[ErrorCode, T]:
    """Register ``transport``'s answer to each code; refuse a table that misses one, so that a code
    added to ``ErrorCode`` stops the server at start until every transport says how it answers."""
    TABLES[transport] = _every_code(f"The {transport} error table", entries)
    return entries


def _every_code(what: str, entries: dict[ErrorCode, T]) -> dict[ErrorCode, T]:
    missing = [code.value for code in ErrorCode if code not in entries]
    if missing:
        raise ImproperlyConfigured(f"{what} has no entry for: {', '.join(missing)}.")
    return entries


class UAIError(Exception):
    """Base of every error UAI reports to a client: a ``detail`` for people, a ``code`` for programs.

    ``status``: the HTTP status when it is not the code's own (a URL too long is a 414
    ``too_large``, not a 413). ``extra``: fields the body carries besides ``detail`` and ``code``
    (a refused turn's ``run_id``: the turn still going). ``retry_after``: seconds a client should
    wait before it tries again (HTTP's ``Retry-After``: a user's rate or concurrency limit).
    """

    code: ErrorCode = ErrorCode.INVALID

    def __init__(
        self,
        detail: str,
        *,
        code: ErrorCode | None = None,
        status: int | None = None,
        extra: dict[str, Any] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        self.status = status
        self.extra = extra or {}
        self.retry_after = retry_after


class InvalidInput(UAIError):
    code = ErrorCode.INVALID


class NotAuthenticated(UAIError):
    code = ErrorCode.NOT_AUTHENTICATED


class Forbidden(UAIError):
    code = ErrorCode.FORBIDDEN


class NotFound(UAIError):
    code = ErrorCode.NOT_FOUND


class MethodNotAllowed(UAIError):
    code = ErrorCode.METHOD_NOT_ALLOWED


class Conflict(UAIError):
    code = ErrorCode.CONFLICT


class TooLarge(UAIError):
    code = ErrorCode.TOO_LARGE


class UnsupportedMediaType(UAIError):
    code = ErrorCode.UNSUPPORTED_MEDIA_TYPE


class RateLimited(UAIError):
    code = ErrorCode.RATE_LIMITED


class Timeout(UAIError):
    code = ErrorCode.TIMEOUT


class Unavailable(UAIError):
    code = ErrorCode.UNAVAILABLE


class AgentFailed(UAIError):
    code = ErrorCode.AGENT_FAILED


class ServerError(UAIError):
    code = ErrorCode.SERVER_ERROR


class TooSlow(UAIError):
    code = ErrorCode.TOO_SLOW


class Gone(UAIError):
    code = ErrorCode.GONE


# The exception of each code (for an answer known by its code or status only).
EXCEPTIONS: dict[ErrorCode, type[UAIError]] = _every_code(
    "EXCEPTIONS",
    {
        error.code: error
        for error in (
            InvalidInput,
            NotAuthenticated,
            Forbidden,
            NotFound,
            MethodNotAllowed,
            Conflict,
            TooLarge,
            UnsupportedMediaType,
            RateLimited,
            Timeout,
            Unavailable,
            AgentFailed,
            ServerError,
            TooSlow,
            Gone,
        )
    },
)


# --- REST -----------------------------------------------------------------------------------------

HTTP_STATUS: dict[ErrorCode, int] = transport_table(
    "REST",
    {
        ErrorCode.INVALID: status.HTTP_400_BAD_REQUEST,
        ErrorCode.NOT_AUTHENTICATED: status.HTTP_401_UNAUTHORIZED,
        ErrorCode.FORBIDDEN: status.HTTP_403_FORBIDDEN,
        ErrorCode.NOT_FOUND: status.HTTP_404_NOT_FOUND,
        ErrorCode.METHOD_NOT_ALLOWED: status.HTTP_405_METHOD_NOT_ALLOWED,
        ErrorCode.CONFLICT: status.HTTP_409_CONFLICT,
        ErrorCode.TOO_LARGE: status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        ErrorCode.UNSUPPORTED_MEDIA_TYPE: status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
        ErrorCode.RATE_LIMITED: status.HTTP_429_TOO_MANY_REQUESTS,
        ErrorCode.TIMEOUT: status.HTTP_504_GATEWAY_TIMEOUT,
        ErrorCode.UNAVAILABLE: status.HTTP_503_SERVICE_UNAVAILABLE,
        ErrorCode.AGENT_FAILED: status.HTTP_502_BAD_GATEWAY,
        ErrorCode.SERVER_ERROR: status.HTTP_500_INTERNAL_SERVER_ERROR,
        # Said only at the end of a stream, never as an HTTP answer; a status all the same, should
        # a route ever raise one.
        ErrorCode.TOO_SLOW: status.HTTP_503_SERVICE_UNAVAILABLE,
        ErrorCode.GONE: status.HTTP_410_GONE,
    },
)
# The code of an answer known only by its status (DRF's exceptions, ``json_error``): a 503 is
# ``unavailable``, whatever the order above (``too_slow`` shares its status only for the table).
_CODE_OF_STATUS: dict[int, ErrorCode] = {
    answer: code for code, answer in HTTP_STATUS.items() if code is not ErrorCode.TOO_SLOW
}


def code_of_status(http_status: int) -> ErrorCode:
    """The code an answer of ``http_status`` carries when nothing else names one."""
    return _CODE_OF_STATUS.get(http_status, ErrorCode.SERVER_ERROR)


def http_status(error: UAIError) -> int:
    """The HTTP status that answers ``error``."""
    return error.status or HTTP_STATUS[error.code]


def error_body(error: UAIError) -> dict[str, Any]:
    """``{"detail", "code"}``: every REST error's body (and the native SSE ``error`` event's data),
    with the error's ``extra`` fields."""
    return {"detail": error.detail, "code": error.code.value, **error.extra}


# A dialect that answers errors in a shape of its own registers it for its path prefix (OpenAI's
# ``/v1/``): then what answers there outside its views — an unknown URL, the body limit, an
# outage's 503 — answers in that shape too. A shape gives the status and the body of an error.
Shape = Callable[[UAIError], tuple[int, dict[str, Any]]]
_SHAPES: list[tuple[str, Shape]] = []


def error_shape(prefix: str, shape: Shape) -> None:
    """Answer the errors of the paths under ``prefix`` with ``shape``."""
    _SHAPES[:] = [(p, s) for p, s in _SHAPES if p != prefix] + [(prefix, shape)]


def _shaped(error: UAIError, path: str) -> tuple[int, dict[str, Any]]:
    for prefix, shape in _SHAPES:
        if path.startswith(prefix):
            return shape(error)
    return http_status(error), error_body(error)


def retry_headers(error: UAIError) -> dict[str, str] | None:
    """``Retry-After`` when the error says how long to wait."""
    return None if error.retry_after is None else {"Retry-After": str(error.retry_after)}


def error_response(error: UAIError, path: str = "") -> JsonResponse:
    """The answer to ``error`` outside DRF (plain Django views, middleware, handlers); ``path``:
    the request's, when a dialect there has its own shape."""
    answer, body = _shaped(error, path)
    return JsonResponse(body, status=answer, headers=retry_headers(error))


def error_bytes(error: UAIError, path: str = "") -> bytes:
    """``error_response``'s body to the byte, for answers written below Django (raw ASGI, Twisted,
    uvicorn's protocol)."""
    return json.dumps(_shaped(error, path)[1]).encode()


def json_error(detail: str, http_status: int, *, code: ErrorCode | None = None) -> JsonResponse:
    """``error_response`` for a view that knows its answer by status: the code is the status's."""
    error = EXCEPTIONS[code or code_of_status(http_status)](detail, status=http_status)
    return error_response(error)


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
    response = error_response(Unavailable(_OUTAGE_DETAIL[service]), path)
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


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | JsonResponse | None:
    """DRF exception handler: every error becomes ``{"detail", "code"}`` with a fitting status
    (a 503 is the same response plain views get, which DRF takes as it is)."""
    if isinstance(exc, UAIError):
        return Response(error_body(exc), status=http_status(exc), headers=retry_headers(exc))
    if service := outage(exc):
        return unavailable(service, context["request"].path)
    if isinstance(exc, django_exceptions.RequestDataTooBig):
        # DATA_UPLOAD_MAX_MEMORY_SIZE is UAI_MAX_JSON_BYTES: a client knows UAI's settings.
        limit = settings.UAI_MAX_JSON_BYTES
        detail = f"The request body (files aside) is larger than {limit} bytes (UAI_MAX_JSON_BYTES)."
        return exception_handler(TooLarge(detail), context)
    if isinstance(exc, django_exceptions.TooManyFilesSent | django_exceptions.TooManyFieldsSent):
        return exception_handler(TooLarge(str(exc) or "Too many fields or files."), context)
    if isinstance(exc, django_exceptions.ValidationError):
        exc = drf_exceptions.ValidationError(exc.messages)
    # Imported here: rest_framework.views builds APIView from the DRF settings, which name this
    # project's parsers, and they import this module (a cycle through a settings string).
    from rest_framework.views import exception_handler as drf_exception_handler

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, drf_exceptions.ValidationError) or not (
        isinstance(response.data, dict) and set(response.data) <= {"detail", "code"}
    ):
        response.data = error_body(InvalidInput(_flatten(response.data)))
    elif isinstance(exc, drf_exceptions.APIException):
        code = code_of_status(response.status_code)
        response.data = error_body(EXCEPTIONS[code](str(exc.detail)))
    return response


def handler404(request: Any, exception: Exception | None = None) -> JsonResponse:
    """Unknown URLs answer JSON, like every other error."""
    return error_response(NotFound("Not found."), request.path)


def handler500(request: Any) -> JsonResponse:
    """An unexpected failure: JSON, never an HTML page; 503 when the database or Redis is away
    (Django calls this while handling the exception: ``sys.exc_info()`` is it)."""
    if service := outage(sys.exc_info()[1]):
        return unavailable(service, request.path)
    return error_response(ServerError("Internal server error."), request.path)


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
    return error_response(InvalidInput("Bad request."), request.path)


def handler403(request: Any, exception: Exception | None = None) -> JsonResponse:
    """A request Django refused before any view ran (e.g. CSRF)."""
    return error_response(Forbidden(str(exception) if exception else "Forbidden."), request.path)
