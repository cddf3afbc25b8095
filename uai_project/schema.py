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
    add_plain_views(result)
    add_error_responses(result)
    return result


ERRORS = {
    "400": "Bad input (`detail` says what).",
    "401": "No valid credentials.",
    "404": "Not found, or not this user's.",
    "429": "Too many requests (`Retry-After` says when to come back).",
}
THROTTLED = ("/api/workflows", "/api/chat/playground")  # seed 002's routes are rate-limited


def add_error_responses(result: dict[str, Any]) -> None:
    """Every operation's errors, as the API answers them (``{"detail"}``): generated clients
    otherwise know only the success. Those an operation documents itself are left as they are."""
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, item in result["paths"].items():
        for method, operation in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            if operation.get("security") == [{}]:
                continue  # public and without input (the health check)
            responses = operation.setdefault("responses", {})
            wanted = ["400", "401"]
            if "{" in path:
                wanted.append("404")
            if path.startswith(THROTTLED):
                wanted.append("429")
            for code in wanted:
                responses.setdefault(code, {"description": ERRORS[code], "content": error})


def _stream(
    summary: str, description: str, parameter: str, tag: str, *, ends: bool = False
) -> dict[str, Any]:
    """A GET that answers ``text/event-stream`` (a plain async view, which DRF cannot describe)."""
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    ended = {
        "204": {
            "description": "Nothing more will come: the run had ended before `Last-Event-ID` "
            "(what stops an EventSource from reconnecting).",
        }
    }
    return {
        "get": {
            "operationId": f"{tag}_stream",
            "summary": summary,
            "description": description,
            "tags": [tag],
            "parameters": [
                {"name": parameter, "in": "path", "required": True, "schema": {"type": "string"}},
                {
                    "name": "Last-Event-ID",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "integer"},
                    "description": "Resume after this event number (browsers send it on reconnect).",
                },
            ],
            "security": [{"bearerAuth": []}, {"cookieAuth": []}],
            "responses": {
                "200": {
                    "description": "Server-sent events: `event:` is the event's type (status, message, "
                    "step, delta, log, artifact, stats, state, input_required, gap), `id:` its number, "
                    "`data:` the whole event as JSON `{seq, type, chat_id, run_id, data, created_at}`.",
                    "content": {"text/event-stream": {"schema": {"type": "string"}}},
                },
                **(ended if ends else {}),
                "400": {"description": "`Last-Event-ID` is not a whole number.", "content": error},
                "401": {"description": "Not signed in.", "content": error},
                "404": {"description": "No such stream for this user.", "content": error},
            },
        }
    }


def add_plain_views(result: dict[str, Any]) -> None:
    """Document the plain Django views next to the DRF ones: the SSE streams and the health check."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = {
        "type": "object",
        "properties": {"detail": {"type": "string"}, "code": {"type": "string"}},
        "required": ["detail"],
    }
    schemes = result["components"].setdefault("securitySchemes", {})
    schemes.setdefault("cookieAuth", {"type": "apiKey", "in": "cookie", "name": "sessionid"})
    result["paths"]["/chat/{session_id}/stream"] = _stream(
        "Follow a chat (SSE)",
        "Every event of the chat as it happens, after `Last-Event-ID` when given; never ends by itself.",
        "session_id",
        "chat",
    )
    result["paths"]["/run/{task_id}/stream"] = _stream(
        "Follow a run (SSE)",
        "Every event of the run from its start (or after `Last-Event-ID`); ends with its final status.",
        "task_id",
        "run",
        ends=True,
    )
    result["paths"]["/healthz"] = {
        "get": {
            "operationId": "healthz",
            "summary": "Health",
            "description": "200 once the database answers and a worker has a fresh heartbeat, else 503.",
            "tags": ["health"],
            "security": [{}],
            "responses": {
                "200": {
                    "description": "Ready.",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                "503": {
                    "description": "Starting or unavailable.",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
            },
        }
    }


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
