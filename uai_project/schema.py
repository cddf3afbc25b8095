"""OpenAPI post-processing: document each route at the path its seed document writes."""

from __future__ import annotations

from typing import Any

# Collection routes the seeds write with a trailing slash; every other path is written without.
KEEP_TRAILING_SLASH = {"/chat/", "/run/"}


def seed_paths(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """Routes accept both forms; the schema shows the seed's."""
    paths = {}
    for path, item in result.get("paths", {}).items():
        if path.endswith("/") and path not in KEEP_TRAILING_SLASH and path != "/":
            path = path.rstrip("/")
        paths[path] = item
    result["paths"] = paths
    return result
