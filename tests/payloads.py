"""Hostile JSON the bad-input tables share: nesting at and past UAI_MAX_JSON_DEPTH."""

from __future__ import annotations

DEPTH = 64  # UAI_MAX_JSON_DEPTH's default, as the test server has it


def nest(depth: int, inner: str = "1") -> str:
    """A JSON text ``depth`` arrays deep."""
    return "[" * depth + inner + "]" * depth


def nest_objects(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth
