"""Small shared pieces of the REST layer: strict fields, negotiation, request helpers."""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.conf import settings
from rest_framework import serializers
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.request import Request

from uai_project import parsers
from uai_project.errors import InvalidInput, NotAuthenticated, NotFound


class StrictCharField(serializers.CharField):
    """A CharField that refuses numbers, lists and objects instead of stringifying them."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class JSONObjectField(serializers.JSONField):
    """A JSON object (dict); in multipart bodies it may come as a JSON string."""

    default_error_messages = {"not_object": "Must be a JSON object."}

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if isinstance(data, str):
            try:
                data = parsers.loads(data)
            except json.JSONDecodeError:
                self.fail("invalid")
        value = super().to_internal_value(data)
        if not isinstance(value, dict):
            self.fail("not_object")
        return value


class AnyJSONField(serializers.JSONField):
    """Any JSON value; in a multipart or form body, text that is not JSON stays text."""

    def to_internal_value(self, data: Any) -> Any:
        if getattr(data, "is_json_string", False):  # a form field DRF wants to decode
            try:
                value = parsers.loads(data)
            except json.JSONDecodeError:
                return str(data)
            if value is None and not self.allow_null:  # (a form's "null": DRF checks only JSON's)
                self.fail("null")
            return value
        return super().to_internal_value(data)


class IgnoreAcceptNegotiation(BaseContentNegotiation):
    """For views that return bytes or streams themselves: any Accept header is fine."""

    def select_parser(self, request: Any, parsers: Any) -> Any:
        return parsers[0] if parsers else None

    def select_renderer(self, request: Any, renderers: Any, format_suffix: Any = None) -> Any:
        return (renderers[0], renderers[0].media_type)


BIGINT_MAX = 2**63 - 1  # PostgreSQL's bigint: a number past it fails the query (a 500)


def whole_number(raw: str, what: str, *, minimum: int = -BIGINT_MAX) -> int:
    """A whole number from a URL, header or WebSocket query, one PostgreSQL can compare; 400
    otherwise (``int()`` alone takes "²" as a digit and then fails, and any length of digits)."""
    try:
        value = int(raw) if raw.isascii() else None
    except ValueError:
        value = None
    if value is None or not minimum <= value <= BIGINT_MAX:
        raise InvalidInput(f"{what} must be a whole number from {minimum} to {BIGINT_MAX}.")
    return value


def parse_uuid(value: str, what: str) -> uuid.UUID:
    """A UUID from the URL, or 404 (an id that cannot exist is simply not found)."""
    try:
        return uuid.UUID(str(value))
    except ValueError as exc:
        raise NotFound(f"{what} not found.") from exc


def validated(serializer_class: type[serializers.Serializer[Any]], data: Any) -> dict[str, Any]:
    """Validate a body with an input serializer; raise a 400 ``{"detail"}`` on failure."""
    if not hasattr(data, "get"):
        raise InvalidInput("The request body must be a JSON object.")
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def uploaded_files(request: Request, field: str = "files") -> list[Any]:
    """The files of a multipart request (``files``, repeated, or ``file``); a file under any other
    name is a 400 (it was dropped without a word, and the turn ran without it)."""
    if other := sorted(set(request.FILES) - {field, "file"}):
        raise InvalidInput(f"Files go in the {field!r} field (repeated) or 'file', not {other[0]!r}.")
    files: list[Any] = request.FILES.getlist(field) + request.FILES.getlist("file")
    if len(files) > settings.UAI_MAX_UPLOAD_FILES:
        from uai_project.errors import TooLarge

        raise TooLarge(f"At most {settings.UAI_MAX_UPLOAD_FILES} files per request.")
    return files


def flag(value: Any, default: bool) -> bool:
    """A boolean from a query string or body (``true/false/1/0/yes/no``)."""
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise InvalidInput(f"{value!r} is not a boolean.")


def user_id(request: Request) -> int:
    """The id of the request's user, the owner of what it creates. Every API route lets only a
    signed-in user in (``IsAuthenticated``), so an anonymous one is refused here as there."""
    pk = request.user.pk
    if pk is None:
        raise NotAuthenticated("Authentication credentials were not provided.")
    return pk


def base_url(request: Request) -> str:
    """``scheme://host`` of the request, for absolute download URLs."""
    return request.build_absolute_uri("/").rstrip("/")
