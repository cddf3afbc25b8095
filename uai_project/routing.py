"""WebSocket routes."""

from __future__ import annotations

from typing import Any

from django.urls import re_path

from uai.dialects.step_socket import CLOSE_CODES, ChatStepConsumer
from uai_project.errors import ErrorCode


async def no_such_socket(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Any other path: refused at the handshake (a 403), as a socket to a chat that is not there.
    Without it the router raised, and the handshake was a 500."""
    message = await receive()
    if message["type"] == "websocket.connect":
        await send({"type": "websocket.close", "code": CLOSE_CODES[ErrorCode.NOT_FOUND]})


# Channels' URLRouter takes Django's patterns with ASGI applications where Django has views.
websocket_urlpatterns = [
    re_path(r"^chat/(?P<chat_id>[^/]+)/?$", ChatStepConsumer.as_asgi()),  # type: ignore[arg-type]
    re_path(r"", no_such_socket),  # type: ignore[arg-type]
]
