"""One error hierarchy for UAI, and the one place that renders it for REST clients.

Application code raises a ``UAIError`` subclass; each surface maps it with one table
(REST: ``{"detail": …}`` with the status below; other dialects map ``code``).
"""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.core import exceptions as django_exceptions
from django.http import Http404, JsonResponse
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
    """An unexpected failure: JSON, never an HTML page."""
    return json_error("Internal server error.", 500)


def handler400(request: Any, exception: Exception | None = None) -> JsonResponse:
    """A malformed request Django refused before any view ran."""
    return json_error("Bad request.", 400)


def handler403(request: Any, exception: Exception | None = None) -> JsonResponse:
    """A request Django refused before any view ran (e.g. CSRF)."""
    return json_error(str(exception) if exception else "Forbidden.", 403)
