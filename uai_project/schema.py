"""OpenAPI post-processing: document each route at the path its seed document writes."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension

# Collection routes the seeds write with a trailing slash; every other path is written without.
KEEP_TRAILING_SLASH = {"/chat/", "/run/", "/api/workflows/", "/chats/"}


def seed_paths(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """Routes accept both forms; the schema shows the seed's."""
    paths = {}
    for path, item in result.get("paths", {}).items():
        if path.endswith("/") and path not in KEEP_TRAILING_SLASH and path != "/":
            path = path.rstrip("/")
        paths[path] = item
    result["paths"] = paths
    return result


class BearerScheme(OpenApiAuthenticationExtension):
    """Documents ``Authorization: Bearer <API token or JWT>``."""

    target_class = "uai_project.auth.BearerAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token (manage.py create_token) or a JWT access token "
            "(POST /api/auth/token).",
        }
