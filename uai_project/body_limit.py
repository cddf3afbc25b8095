"""The whole-request body limit, enforced while the body arrives (ASGI), not after it was stored.

Django's ASGI handler reads a request's whole body into a temporary file before any middleware
runs, and a body sent in chunks has no ``Content-Length`` for a middleware to judge. So the
limit — every allowed upload at its largest, plus the JSON limit — is kept here, in front of
Django: a ``Content-Length`` over it is refused before a byte is read, and a chunked body once
it passes it. (daphne, unlike uvicorn, buffers a body itself before the application sees it:
under daphne this spares Django's second copy; a proxy's body limit guards the first.)
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from uai_project import errors

Scope = dict[str, Any]


def request_body_limit() -> int:
    """The largest body a request may have, in bytes: all uploads at their largest, plus JSON."""
    return settings.UAI_MAX_UPLOAD_BYTES * settings.UAI_MAX_UPLOAD_FILES + settings.UAI_MAX_JSON_BYTES


def too_large_detail(limit: int) -> str:
    """The 413's ``detail``, wherever the limit is found exceeded."""
    return f"Request body is larger than {limit} bytes."


class _TooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware for HTTP: 413 ``{"detail"}`` for a body over ``request_body_limit()``."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        """Pass the request on with a receive that counts the body's bytes."""
        limit = request_body_limit()
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                if value.isdigit() and int(value) > limit:
                    await _refuse(send, limit, scope.get("path", ""))
                    return
                break  # a declared length within the limit: the server sends no more than it
        else:  # any method: a GET may carry a chunked body as well
            receive = _counting(receive, limit)
        try:
            await self.app(scope, receive, send)
        except _TooLarge:
            await _refuse(
                send, limit, scope.get("path", "")
            )  # raised while Django read the body: nothing was sent yet


def _counting(receive: Any, limit: int) -> Any:
    seen = 0

    async def counted() -> dict[str, Any]:
        nonlocal seen
        message: dict[str, Any] = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _TooLarge
        return message

    return counted


async def _refuse(send: Any, limit: int, path: str) -> None:
    error = errors.TooLarge(too_large_detail(limit))
    body = errors.error_bytes(error, path)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": errors.http_status(error), "headers": headers})
    await send({"type": "http.response.body", "body": body})
