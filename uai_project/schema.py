"""OpenAPI: each route at the path its seed document writes, every answer it gives, its streams.

The views' ``extend_schema`` decorators name their successes and the errors particular to them
(``errors({409: …})``); the post-processing hook here adds the errors every route of a kind can
give, documents the plain Django views (SSE streams, health) and the shapes of SSE events.
The schema is OpenAPI 3.1, so that an event stream's ``schema`` (one event: ``id``, ``event``,
``data``) can say what its ``data`` holds (``contentMediaType`` and ``contentSchema``).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

# Collection routes the seeds write with a trailing slash; every other path is written without.
KEEP_TRAILING_SLASH = {"/chat/", "/run/", "/api/workflows/", "/chats/"}


class Error(serializers.Serializer[Any]):
    """Every error body: ``{"detail", "code"}`` (uai_project/errors.py)."""

    detail = serializers.CharField()
    code = serializers.CharField(help_text="invalid, not_authenticated, forbidden, not_found, …")


def errors(described: dict[int, str]) -> dict[int, OpenApiResponse]:
    """The error answers particular to one operation, for its ``extend_schema(responses=…)``."""
    return {code: OpenApiResponse(Error, description=text) for code, text in described.items()}


class OpenAIErrorObject(serializers.Serializer[Any]):
    message = serializers.CharField()
    type = serializers.CharField(help_text="invalid_request_error, server_error, requests")
    param = serializers.CharField(allow_null=True, help_text="The request parameter at fault, if one is.")
    code = serializers.CharField(allow_null=True, help_text="model_not_found, invalid_api_key, …")


class OpenAIError(serializers.Serializer[Any]):
    """Every error body under ``/v1``: OpenAI's ``{"error": {"message", "type", "param", "code"}}``."""

    error = OpenAIErrorObject()


def openai_errors(described: dict[int, str]) -> dict[int, OpenApiResponse]:
    """``errors`` for the OpenAI-compatible routes (``/v1``), in their shape."""
    return {code: OpenApiResponse(OpenAIError, description=text) for code, text in described.items()}


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
    tag_surfaces(result)
    return result


# --- Surfaces ----------------------------------------------------------------------------------
#
# Swagger UI groups operations by tag. Each operation gets one tag: the surface its view serves
# (UAI's own API, a seed document's routes, a standard protocol), named after the view's module
# in uai/dialects (the table in uai/dialects/__init__.py). The order here is the page's order.

NATIVE = "UAI native"
SURFACES: dict[str, str] = {
    NATIVE: "UAI's own API (seed 000): chats, runs, artifacts, their SSE streams, the agents. "
    "Its WebSocket (`/chat/{chat_id}`, seed 001's frames) is not an HTTP operation: see the README.",
    "Seed 001 (WebSocket/REST)": "Seed 001's REST routes: a chat's history, one-shot agent runs. "
    "Its WebSocket `/chat/{chat_id}` is served on the HTTP port (not 8765): see the README.",
    "Seed 002 workflows": "Seed 002: workflows and the chat playground (rate-limited).",
    "Seed 003": "Seed 003: `POST /chat/run` and its chunked stream `POST /chat/stream`.",
    "Seed 004": "Seed 004: chats, conversations and their inference streams.",
    "OpenAI": "The OpenAI-compatible API under `/v1`: models, chat completions, responses, "
    "conversations (errors in OpenAI's shape).",
    "AG-UI": "The AG-UI protocol: `/ag-ui/{agent}` runs as AG-UI events over SSE.",
    "AI SDK": "The Vercel AI SDK's UI message stream: `/ai-sdk/{agent}`.",
    "A2A": "A2A 1.0 (`/a2a/{agent}`): its JSON-RPC and HTTP+JSON bindings and agent cards are "
    "described by A2A's own specification, not here.",
    "Auth": "Tokens every surface takes: a JWT pair from a user's password.",
    "Operations": "Health check for load balancers and orchestrators.",
}
# A view's module (uai.dialects.<module>) -> its surface; modules sharing a prefix share it.
MODULE_SURFACES: dict[str, str] = {
    "native_": NATIVE,
    "step_socket": "Seed 001 (WebSocket/REST)",
    "history": "Seed 001 (WebSocket/REST)",
    "agent_run": "Seed 001 (WebSocket/REST)",
    "workflows": "Seed 002 workflows",
    "chat_run": "Seed 003",
    "conversations": "Seed 004",
    "openai_": "OpenAI",
    "agui": "AG-UI",
    "ai_sdk": "AI SDK",
    "a2a": "A2A",
}
# The views of other packages and the plain views ``add_plain_views`` documents, by their tag.
OTHER_SURFACES = {
    "rest_framework_simplejwt.views": "Auth",
    "chat": NATIVE,
    "run": NATIVE,
    "health": "Operations",
}


def surface_of(module: str) -> str | None:
    """The surface of a view's module (``uai.dialects.workflows`` -> ``Seed 002 workflows``)."""
    if module in OTHER_SURFACES:
        return OTHER_SURFACES[module]
    prefix = "uai.dialects."
    if not module.startswith(prefix):
        return None
    name = module.removeprefix(prefix)
    for start, surface in MODULE_SURFACES.items():
        if name == start or (start.endswith("_") and name.startswith(start)) or name.startswith(start + "_"):
            return surface
    return None


class SurfaceSchema(AutoSchema):
    """drf-spectacular's AutoSchema, whose operations are tagged with their surface alone.

    ``get_operation`` (not ``get_tags``): a view's ``extend_schema(tags=…)`` replaces
    ``get_tags``, and the surface must win over those older tags too.
    """

    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation: dict[str, Any] | None = super().get_operation(*args, **kwargs)
        if operation is not None:
            surface = surface_of(type(self.view).__module__)
            if surface is not None:
                operation["tags"] = [surface]
        return operation


def tag_surfaces(result: dict[str, Any]) -> None:
    """The plain views' tags as surfaces too; the surfaces described, in order, those used."""
    used = set()
    for item in result["paths"].values():
        for method, operation in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            tag = (operation.get("tags") or [NATIVE])[0]
            surface = tag if tag in SURFACES else (surface_of(tag) or NATIVE)
            operation["tags"] = [surface]
            used.add(surface)
    result["tags"] = [
        {"name": name, "description": description} for name, description in SURFACES.items() if name in used
    ]


ERRORS = {
    "400": "Bad input (`detail` says what).",
    "401": "No valid credentials.",
    "404": "Not found, or not this user's.",
    "413": "The body, or one of its files, is larger than the limits allow (`detail` names the limit).",
    "415": "A body of a media type the route does not take (it takes those listed under requestBody).",
    "429": "Too many requests, or too many unfinished runs or turns: the user's limits (`Retry-After` "
    "says when to come back).",
    "503": "The database or Redis cannot be reached at the moment: try again (after `Retry-After`).",
}
ERROR_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
OPENAI_PREFIX = "/v1/"  # the OpenAI-compatible routes: their errors in OpenAI's shape, rate-limited
OPENAI_ERROR_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/OpenAIError"}}}
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}}


def add_error_responses(result: dict[str, Any]) -> None:
    """Every operation's errors, as the API answers them (``{"detail", "code"}``): generated
    clients otherwise know only the success. Those an operation documents itself are kept."""
    for path, item in result["paths"].items():
        for method, operation in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            if operation.get("security") == [{}]:
                continue  # public and without input (the health check)
            responses = operation.setdefault("responses", {})
            wanted = ["400", "401", "429", "503"]  # (429: every user's rate, UAI_USER_RATE)
            if "{" in path:
                wanted.append("404")
            if "requestBody" in operation:
                wanted += ["413", "415"]
            openai = path.startswith(OPENAI_PREFIX)
            for code in wanted:
                response = {
                    "description": ERRORS[code],
                    "content": OPENAI_ERROR_CONTENT if openai else ERROR_CONTENT,
                }
                if code in {"429", "503"}:
                    response["headers"] = RETRY_AFTER
                responses.setdefault(code, response)


# --- Server-sent events -----------------------------------------------------------------------
#
# An event stream's ``schema`` describes one event as a client's parser sees it: ``id`` (the
# event's number, as text), ``event`` (its type; ``message`` when the line is absent) and
# ``data`` (text holding JSON, whose shape ``contentSchema`` gives).

EVENT_TYPES = [
    "message",
    "message_deleted",
    "file_deleted",
    "step",
    "delta",
    "log",
    "artifact",
    "progress",
    "input_required",
    "input",
    "state",
    "stats",
    "status",
    "gap",
]


def _json_text(ref: str) -> dict[str, Any]:
    """An SSE ``data:`` field: text holding JSON of the component ``ref``."""
    return {
        "type": "string",
        "contentMediaType": "application/json",
        "contentSchema": {"$ref": f"#/components/schemas/{ref}"},
    }


SEQ_TEXT = {"type": "string", "pattern": "^[0-9]+$", "description": "The event's number."}

# ``GET /chat/{id}/stream``, ``GET /run/{id}/stream``, ``POST /chat/{id}`` (Accept: text/event-stream).
NATIVE_SSE = {
    "description": "One event: `id:` its number, `event:` its type, `data:` the event as JSON. A "
    "stream that cannot go on ends with `event: error` and `{detail, code}` (`too_slow`: the reader "
    "fell behind, resume after the last `id`; `gone`: the chat was deleted).",
    "anyOf": [
        {
            "type": "object",
            "required": ["id", "event", "data"],
            "properties": {
                "id": SEQ_TEXT,
                "event": {"type": "string", "enum": EVENT_TYPES},
                "data": _json_text("StreamEvent"),
            },
        },
        {
            "type": "object",
            "required": ["event", "data"],
            "properties": {"event": {"const": "error"}, "data": _json_text("Error")},
        },
    ],
}

# Seed 003 and 004: ``POST /chat/stream``, ``GET /conversations/inference[_internet]/{chat_id}``.
CHUNK_SSE = {
    "description": "One chunk: `data:` `{content, is_final, metrics}` (no `event:` line); `id:` its "
    "number, to resume from.",
    "type": "object",
    "required": ["data"],
    "properties": {"id": SEQ_TEXT, "event": {"const": "message"}, "data": _json_text("StreamChunk")},
}

SSE_COMPONENTS: dict[str, Any] = {
    "StreamEvent": {
        "type": "object",
        "description": "An event of a chat or a run, as stored and numbered (a `gap` has only "
        "`seq`, `type` and `data`).",
        "required": ["seq", "type", "data"],
        "properties": {
            "seq": {"type": "integer", "description": "Its number: the SSE `id:`, the WebSocket `seq`."},
            "type": {"type": "string", "enum": EVENT_TYPES},
            "chat_id": {"type": ["string", "null"]},
            "run_id": {"type": ["string", "null"], "format": "uuid"},
            "data": {"type": "object", "description": "What the event says; its keys depend on `type`."},
            "created_at": {"type": "string", "format": "date-time"},
        },
    },
    "StreamChunk": {
        "type": "object",
        "required": ["content", "is_final", "metrics"],
        "properties": {
            "content": {"type": "string", "description": "Text the agent produced since the last chunk."},
            "is_final": {"type": "boolean"},
            "metrics": {
                "description": "On the final chunk; null before it (and on a final chunk that ends a "
                "stream early, with `error`).",
                "oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/StreamMetrics"}],
            },
            "error": {"type": "string", "description": "On the final chunk, when the turn failed."},
        },
    },
    "StreamMetrics": {
        "type": "object",
        "required": [
            "tokens",
            "chunks",
            "time_to_first_chunk_ms",
            "total_ms",
            "status",
            "run_id",
            "conversation_id",
        ],
        "properties": {
            "tokens": {"type": "integer"},
            "chunks": {"type": "integer"},
            "time_to_first_chunk_ms": {"type": "number"},
            "total_ms": {"type": "number"},
            "status": {"type": "string", "enum": ["succeeded", "failed", "cancelled", "input_required"]},
            "run_id": {"type": "string", "format": "uuid"},
            "conversation_id": {"type": "string"},
        },
    },
}


def native_sse() -> dict[str, Any]:
    """The ``text/event-stream`` content of a native event stream, for ``extend_schema``."""
    return {"text/event-stream": {"schema": NATIVE_SSE}}


def _stream(
    summary: str, description: str, parameter: str, tag: str, *, ends: bool = False
) -> dict[str, Any]:
    """A GET that answers ``text/event-stream`` (a plain async view, which DRF cannot describe)."""
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
                    "schema": {"type": "integer", "minimum": 0},
                    "description": "Resume after this event number (browsers send it on reconnect).",
                },
                {
                    "name": "last_event_id",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "integer", "minimum": 0},
                    "description": "The same, for clients that cannot set a header.",
                },
            ],
            "security": [{"bearerAuth": []}, {"cookieAuth": []}],
            "responses": {
                "200": {
                    "description": "Server-sent events (see the schema of one event).",
                    "content": native_sse(),
                },
                **(ended if ends else {}),
                "400": {"description": "`Last-Event-ID` is not a whole number.", "content": ERROR_CONTENT},
                "401": {"description": "Not signed in.", "content": ERROR_CONTENT},
                "404": {"description": "No such stream for this user.", "content": ERROR_CONTENT},
            },
        }
    }


def add_plain_views(result: dict[str, Any]) -> None:
    """Document the plain Django views next to the DRF ones: the SSE streams and the health check."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault(
        "Error",
        {
            "type": "object",
            "properties": {"detail": {"type": "string"}, "code": {"type": "string"}},
            "required": ["detail", "code"],
        },
    )
    schemas.setdefault(
        "OpenAIError",
        {
            "type": "object",
            "properties": {
                "error": {
                    "type": "object",
                    "properties": {
                        "message": {"type": "string"},
                        "type": {"type": "string"},
                        "param": {"type": ["string", "null"]},
                        "code": {"type": ["string", "null"]},
                    },
                    "required": ["message", "type", "param", "code"],
                }
            },
            "required": ["error"],
        },
    )
    schemas.update(SSE_COMPONENTS)
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
    health = {
        "type": "object",
        "required": ["status", "database"],
        "properties": {
            "status": {"type": "string", "enum": ["ok", "starting", "unavailable"]},
            "database": {"type": "string", "enum": ["ok", "unavailable"]},
            "workers": {"type": "integer", "description": "Workers with a fresh heartbeat."},
            "embedded_worker": {"type": "boolean"},
            "embedded_database": {"type": "boolean"},
        },
    }
    result["paths"]["/healthz"] = {
        "get": {
            "operationId": "healthz",
            "summary": "Health",
            "description": "200 once the database answers and a worker has a fresh heartbeat, else 503.",
            "tags": ["health"],
            "security": [{}],
            "responses": {
                "200": {"description": "Ready.", "content": {"application/json": {"schema": health}}},
                "503": {
                    "description": "Starting (no worker yet) or the database is unreachable.",
                    "content": {"application/json": {"schema": health}},
                },
            },
        }
    }

    if settings.UAI_METRICS_ENABLED:
        result["paths"]["/metrics"] = _metrics_path()


def _metrics_path() -> dict[str, Any]:
    """GET /metrics: Prometheus's text format (README "Metrics and traces")."""
    text = {"text/plain": {"schema": {"type": "string"}}}
    names = {
        "name": "name[]",
        "in": "query",
        "required": False,
        "description": "Only these metrics (by name).",
        "schema": {"type": "array", "items": {"type": "string", "pattern": "^[a-zA-Z_:][a-zA-Z0-9_:]*$"}},
        "style": "form",
        "explode": True,
    }
    return {
        "get": {
            "operationId": "metrics",
            "summary": "Prometheus metrics",
            "description": "Requests, runs and turns, queues, workers, live streams and webhook "
            "deliveries, in Prometheus's text format (OpenMetrics when the Accept header asks). "
            "Answered to UAI_METRICS_ALLOWED_NETWORKS, with UAI_METRICS_TOKEN when one is set.",
            "tags": ["health"],
            "security": [{}, {"bearerAuth": []}],
            "parameters": [names],
            "responses": {
                "200": {"description": "The metrics.", "content": text},
                "400": {"description": "An unknown parameter or a bad name.", "content": ERROR_CONTENT},
                "401": {
                    "description": "UAI_METRICS_TOKEN is set and none was sent.",
                    "content": ERROR_CONTENT,
                },
                "403": {
                    "description": "Another token, or an address outside UAI_METRICS_ALLOWED_NETWORKS.",
                    "content": ERROR_CONTENT,
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
