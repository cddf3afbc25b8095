"""Request parsing shared by the dialects: what PostgreSQL or Python cannot take is refused as bad
input — a NUL character (PostgreSQL), JSON nested deeper than ``UAI_MAX_JSON_DEPTH`` (Python's
decoder and encoder recurse), a multipart body that never ends."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.utils.http import parse_header_parameters
from rest_framework import parsers
from rest_framework.exceptions import ParseError

from uai_project import errors

NUL_IN_JSON = "JSON text cannot contain the NUL character (\\u0000): PostgreSQL cannot store it."


def too_deep() -> str:
    """The refusal of JSON nested deeper than the limit."""
    limit = settings.UAI_MAX_JSON_DEPTH
    return f"JSON is nested deeper than {limit} levels of objects and arrays (UAI_MAX_JSON_DEPTH)."


def refusal(value: Any) -> str | None:
    """Why a decoded JSON value cannot be taken (a NUL character in a key or string, or nesting
    deeper than ``UAI_MAX_JSON_DEPTH``), or None. Iterative: depth is what it bounds."""
    limit = settings.UAI_MAX_JSON_DEPTH
    stack: list[tuple[Any, int]] = [(value, 0)]  # (a value, how many containers enclose it)
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return NUL_IN_JSON
            continue
        if isinstance(item, dict):
            if any("\x00" in key for key in item if isinstance(key, str)):
                return NUL_IN_JSON
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth >= limit:
            return too_deep()
        for child in children:
            if isinstance(child, str):  # most values: checked here, not pushed
                if "\x00" in child:
                    return NUL_IN_JSON
            elif isinstance(child, dict | list):
                stack.append((child, depth + 1))
    return None


def loads(text: str | bytes) -> Any:
    """A client's JSON text, decoded; ``InvalidInput`` when it is nested too deep or holds a NUL
    (``json.JSONDecodeError`` when it is no JSON at all)."""
    try:
        value = json.loads(text)
    except RecursionError:  # thousands deep: the decoder gave up before the limit could say so
        raise errors.InvalidInput(too_deep()) from None
    if (problem := refusal(value)) is not None:
        raise errors.InvalidInput(problem)
    return value


NUL_IN_FORM = "Form fields cannot contain the NUL character (%00): PostgreSQL cannot store it."
UNFINISHED_MULTIPART = (
    "The multipart body is malformed: it does not end with its closing boundary (--BOUNDARY--)."
)


def _refuse_nul_fields(data: Any) -> None:
    if any("\x00" in key or any("\x00" in value for value in values) for key, values in data.lists()):
        raise ParseError(NUL_IN_FORM)


class FormParser(parsers.FormParser):
    """DRF's form parser, refusing NUL characters in field names and values."""

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        data = super().parse(stream, media_type, parser_context)
        _refuse_nul_fields(data)
        return data


class _ClosingBoundaryWatch:
    """A body stream that notes whether the multipart closing delimiter went through it.

    Django's multipart parser takes a body with no part in it (any text, a wrong boundary) or cut
    off in the middle of a part as a form with what it found: a request that was plainly broken
    was served (``POST /chat/`` made a chat). A complete body ends with ``--BOUNDARY--``.
    """

    def __init__(self, stream: Any, boundary: bytes) -> None:
        self.stream = stream
        self.delimiter = b"--" + boundary + b"--"
        self.tail = b""  # the end of what was read, for a delimiter split across two reads
        self.closed = False

    def read(self, size: int = -1) -> bytes:
        """Read from the body, looking for the closing delimiter."""
        data: bytes = self.stream.read(size)
        if not self.closed and data:
            seen = self.tail + data
            self.closed = self.delimiter in seen
            self.tail = seen[-len(self.delimiter) :]
        return data


class MultiPartParser(parsers.MultiPartParser):
    """DRF's multipart parser, refusing NUL characters in its fields (files are bytes: any go) and
    a body that does not end with its closing boundary."""

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        _, params = parse_header_parameters(media_type or "")
        watched = _ClosingBoundaryWatch(stream, params.get("boundary", "").encode("ascii", "replace"))
        # Django's parser only calls read() on it, all an IO[Any] is needed for here.
        parsed = super().parse(watched, media_type, parser_context)  # type: ignore[arg-type]  # refuses a missing boundary
        if not watched.closed:
            raise ParseError(UNFINISHED_MULTIPART)
        _refuse_nul_fields(parsed.data)
        return parsed


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing what would fail later with a 500: NUL characters (PostgreSQL),
    nesting deeper than ``UAI_MAX_JSON_DEPTH`` (Python)."""

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(too_deep()) from None
        if (problem := refusal(data)) is not None:
            raise ParseError(problem)
        return data
