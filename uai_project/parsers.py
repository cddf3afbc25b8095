"""Request parsing shared by the dialects: what PostgreSQL cannot store is refused as bad input."""

from __future__ import annotations

from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError

NUL_IN_JSON = "JSON text cannot contain the NUL character (\\u0000): PostgreSQL cannot store it."


def has_nul(value: Any) -> bool:
    """Whether a decoded JSON value holds a NUL character in any key or string."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_nul(v) for v in value)
    return False


NUL_IN_FORM = "Form fields cannot contain the NUL character (%00): PostgreSQL cannot store it."


def _refuse_nul_fields(data: Any) -> None:
    if any("\x00" in key or any("\x00" in value for value in values) for key, values in data.lists()):
        raise ParseError(NUL_IN_FORM)


class FormParser(parsers.FormParser):
    """DRF's form parser, refusing NUL characters in field names and values."""

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        data = super().parse(stream, media_type, parser_context)
        _refuse_nul_fields(data)
        return data


class MultiPartParser(parsers.MultiPartParser):
    """DRF's multipart parser, refusing NUL characters in its fields (files are bytes: any go)."""

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        parsed = super().parse(stream, media_type, parser_context)
        _refuse_nul_fields(parsed.data)
        return parsed


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing what PostgreSQL would refuse later (with a 500): NUL characters."""

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        data = super().parse(stream, media_type, parser_context)
        if has_nul(data):
            raise ParseError(NUL_IN_JSON)
        return data
