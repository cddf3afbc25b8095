"""Server-Sent Events shared by every dialect that streams: encoding, the response, resuming.

An event's ``id:`` is its sequence number, so a client that reconnects with ``Last-Event-ID``
(header, or ``?last_event_id=``) gets exactly what came after it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from django.http import HttpRequest, StreamingHttpResponse

from uai_project.api import whole_number

KEEPALIVE = b": keepalive\n\n"


def encode(event_id: int | str | None, data: Any, event: str | None = None) -> bytes:
    """One SSE event."""
    lines = []
    if event_id is not None:
        lines.append(f"id: {event_id}")
    if event:
        lines.append(f"event: {event}")
    lines.append("data: " + json.dumps(data, separators=(",", ":")))
    return ("\n".join(lines) + "\n\n").encode()


async def _headers_now(stream: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    # daphne (Twisted) writes a response's headers with its first bytes: a stream with nothing to
    # replay kept its client waiting for them until the first event or keep-alive (15 s). An
    # empty first chunk sends them at once (and no bytes: an empty chunk is not written).
    try:
        yield b""
        async for chunk in stream:
            yield chunk
    finally:  # closed now (the client left), not whenever the collector finds it
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()


def response(stream: AsyncIterator[bytes]) -> StreamingHttpResponse:
    """A ``text/event-stream`` response with the headers proxies and clients expect, sent at once."""
    resp = StreamingHttpResponse(_headers_now(stream), content_type="text/event-stream; charset=utf-8")
    resp["Cache-Control"] = "no-cache"
    resp["X-Accel-Buffering"] = "no"
    resp["Connection"] = "keep-alive"  # as seed 003 lists it (HTTP/1.1's default anyway)
    return resp


def last_event_id(request: HttpRequest) -> int | None:
    """The number a reconnecting client saw last (``Last-Event-ID`` header or query)."""
    raw = request.headers.get("Last-Event-ID") or request.GET.get("last_event_id")
    if not raw:
        return None
    return whole_number(raw, "Last-Event-ID", minimum=0)
