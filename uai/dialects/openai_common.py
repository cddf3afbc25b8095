"""What every OpenAI-compatible route under ``/v1`` shares: the error shape, the view base, ids.

Errors are OpenAI's ``{"error": {"message", "type", "param", "code"}}`` with its status codes, on
every ``/v1/`` path: the views' (``OpenAIView``) and what answers before or around them (an
unknown URL, the body limit, an outage's 503), through ``errors.error_shape``.

The API key is a UAI token or JWT (``Authorization: Bearer``), as everywhere; every call is a chat
and run of that user. Calls are counted against ``UAI_OPENAI_RATE`` per user (429 past it).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from uai.agents import selectors as agent_selectors
from uai.agents.models import Agent
from uai.limits.throttling import UserRateThrottle
from uai_project import errors
from uai_project.errors import ErrorCode, UAIError

PREFIX = "/v1/"

INVALID_REQUEST = "invalid_request_error"
SERVER_ERROR = "server_error"

# code → (HTTP status, OpenAI error type, OpenAI error code)
OPENAI_ERRORS: dict[ErrorCode, tuple[int, str, str | None]] = errors.transport_table(
    "OpenAI",
    {
        ErrorCode.INVALID: (400, INVALID_REQUEST, None),
        ErrorCode.NOT_AUTHENTICATED: (401, INVALID_REQUEST, "invalid_api_key"),
        ErrorCode.FORBIDDEN: (403, INVALID_REQUEST, "permission_denied"),
        ErrorCode.NOT_FOUND: (404, INVALID_REQUEST, None),
        ErrorCode.METHOD_NOT_ALLOWED: (405, INVALID_REQUEST, "method_not_allowed"),
        ErrorCode.CONFLICT: (409, INVALID_REQUEST, "conflict"),
        ErrorCode.TOO_LARGE: (413, INVALID_REQUEST, "request_too_large"),
        ErrorCode.UNSUPPORTED_MEDIA_TYPE: (415, INVALID_REQUEST, "unsupported_media_type"),
        ErrorCode.RATE_LIMITED: (429, "requests", "rate_limit_exceeded"),
        ErrorCode.TIMEOUT: (504, SERVER_ERROR, "timeout"),
        ErrorCode.UNAVAILABLE: (503, SERVER_ERROR, "service_unavailable"),
        ErrorCode.AGENT_FAILED: (502, SERVER_ERROR, "agent_failed"),
        ErrorCode.SERVER_ERROR: (500, SERVER_ERROR, "server_error"),
        ErrorCode.TOO_SLOW: (503, SERVER_ERROR, "too_slow"),
        ErrorCode.GONE: (410, INVALID_REQUEST, "gone"),
    },
)


class BadParameter(errors.InvalidInput):
    """A 400 that names the request's parameter at fault (OpenAI's ``param``)."""

    def __init__(self, detail: str, *, param: str | None, openai_code: str | None = None) -> None:
        super().__init__(detail)
        self.param = param
        self.openai_code = openai_code


class ModelNotFound(errors.NotFound):
    """An unknown or disabled agent named as ``model``: 404 ``model_not_found``."""

    param = "model"
    openai_code = "model_not_found"

    def __init__(self, name: str) -> None:
        super().__init__(f"The model '{name}' does not exist or you do not have access to it.")


def error_object(error: UAIError) -> dict[str, Any]:
    """The ``error`` object of a body, a chunk or a ``response.failed``."""
    _, kind, code = OPENAI_ERRORS[error.code]
    return {
        "message": error.detail,
        "type": kind,
        "param": getattr(error, "param", None),
        "code": getattr(error, "openai_code", None) or code,
    }


def shape(error: UAIError) -> tuple[int, dict[str, Any]]:
    """OpenAI's status and body for ``error`` (a status the error names itself wins: a 414)."""
    return error.status or OPENAI_ERRORS[error.code][0], {"error": error_object(error)}


errors.error_shape(PREFIX, shape)


def error_response(error: UAIError) -> JsonResponse:
    answer, body = shape(error)
    return JsonResponse(body, status=answer)


def _param_of(exc: drf_exceptions.ValidationError) -> str | None:
    """The first parameter a serializer refused, dotted (``messages.0.content``)."""
    path: list[str] = []
    detail: Any = exc.detail
    while isinstance(detail, dict | list) and detail:
        if isinstance(detail, dict):
            key = next(iter(detail))
            if key not in ("non_field_errors",):
                path.append(str(key))
            detail = detail[key]
        else:
            index = next((i for i, d in enumerate(detail) if d), 0)
            if isinstance(detail[index], dict | list):
                path.append(str(index))
            detail = detail[index]
    return ".".join(path) or None


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | JsonResponse | None:
    """The project's handler (which knows every failure), its answer reshaped as OpenAI's."""
    answer = errors.exception_handler(exc, context)
    if answer is None:
        return None
    if isinstance(exc, UAIError):
        error = exc
    else:
        data = answer.data if isinstance(answer, Response) else None
        if data is None:  # an outage's JsonResponse: already shaped by the path
            return answer
        code = ErrorCode(data.get("code") or errors.code_of_status(answer.status_code))
        error = errors.EXCEPTIONS[code](str(data.get("detail", "")), status=answer.status_code)
        if isinstance(exc, drf_exceptions.ValidationError):
            error = BadParameter(error.detail, param=_param_of(exc))
    answered, body = shape(error)
    if isinstance(answer, Response):
        answer.data = body
        answer.status_code = answered
        return answer
    return JsonResponse(body, status=answered)


class OpenAIView(APIView):
    """Base of every ``/v1`` view: OpenAI's errors, the ``openai`` throttle scope."""

    # UAI_OPENAI_RATE per user across /v1, counted in the cache (Redis when distributed).
    throttle_classes = [UserRateThrottle, ScopedRateThrottle]  # (UAI_USER_RATE too)
    throttle_scope = "openai"

    def get_exception_handler(self) -> Any:
        return exception_handler


@csrf_exempt  # a POST to an unknown path is a 404, not CSRF's 403
def not_found(request: HttpRequest, rest: str = "") -> JsonResponse:
    """Any other path under ``/v1``: OpenAI's 404."""
    return error_response(errors.NotFound(f"Unknown request URL: {request.method} {request.path}."))


def model_agent(name: Any) -> Agent:
    """The agent a ``model`` names, if it may be used: 404 ``model_not_found`` otherwise."""
    if not isinstance(name, str) or not name:
        raise BadParameter(
            "You must provide a model parameter.", param="model", openai_code="missing_required_parameter"
        )
    try:
        return agent_selectors.agent_get(name=name)  # (enabled ones only)
    except errors.InvalidInput:
        raise ModelNotFound(name) from None


def epoch(value: Any) -> int:
    """A time as OpenAI writes it: whole seconds since the epoch."""
    return int(value.timestamp()) if value is not None else int(time.time())


def prefixed_uuid(prefix: str, raw: str) -> uuid.UUID | None:
    """The UUID inside an id like ``resp_<32 hex>`` (None when it is not one)."""
    if not raw.startswith(prefix):
        return None
    try:
        return uuid.UUID(hex=raw[len(prefix) :][:32])
    except ValueError:
        return None


def token_counts(stats: dict[str, Any]) -> tuple[int, int, int]:
    """(input, output, total) tokens from what an agent reported in its stats (zeros when it
    reported none): OpenAI's names or the older prompt/completion ones, ``tokens`` as output."""

    def number(*names: str) -> int:
        for name in names:
            value = stats.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
                return int(value)
        return 0

    given = number("input_tokens", "prompt_tokens")
    made = number("output_tokens", "completion_tokens", "tokens")
    return given, made, number("total_tokens") or given + made
