"""A request's fingerprint: what makes a retry "the same request" for an idempotency key.

The method, the path, the query (sorted) and the body: a JSON body as canonical JSON (key order
and spacing do not count), a multipart body as its bytes with the boundary taken out (a client
picks a new one per attempt; the fields and the files' bytes count), any other body as its bytes.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import parse_qsl

from django.http import HttpRequest

CHUNK_BYTES = 64 * 1024


def request_fingerprint(request: HttpRequest) -> str:
    """The sha256 (hex) of the request's method, path, sorted query and canonical body."""
    digest = hashlib.sha256()
    digest.update(request.method.encode() if request.method else b"")
    digest.update(b"\x00" + request.path.encode() + b"\x00")
    query = sorted(parse_qsl(request.META.get("QUERY_STRING", ""), keep_blank_values=True))
    digest.update(json.dumps(query).encode() + b"\x00")
    content_type = request.META.get("CONTENT_TYPE", "")
    media_type = content_type.split(";")[0].strip().lower()
    if media_type == "multipart/form-data" and (boundary := _boundary(content_type)):
        _multipart(request, digest, b"--" + boundary)
    else:
        digest.update(_canonical(request.body, media_type))
    return digest.hexdigest()


def _canonical(body: bytes, media_type: str) -> bytes:
    if media_type == "application/json" or media_type.endswith("+json"):
        try:
            value: Any = json.loads(body)
        except ValueError:  # (the view answers its 400; the fingerprint is the bytes)
            return body
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return body


def _boundary(content_type: str) -> bytes | None:
    for param in content_type.split(";")[1:]:
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "boundary" and value:
            return value.strip().strip('"').encode("latin-1", "replace")
    return None


def _multipart(request: HttpRequest, digest: Any, marker: bytes) -> None:
    """Hash the body in chunks, the boundary replaced by a constant, and leave the stream where
    it was so that the view parses it (an upload is not read into memory whole)."""
    stream: Any = getattr(request, "_stream", None)  # under ASGI, the spooled file of the body
    seekable = stream is not None and getattr(stream, "seekable", lambda: False)()
    if stream is None or not seekable or getattr(request, "_read_started", False):
        _split(iter([request.body]), digest, marker)  # (the test client: the body is small)
        return
    start = stream.tell()
    try:
        _split(iter(lambda: stream.read(CHUNK_BYTES), b""), digest, marker)
    finally:
        stream.seek(start)


def _split(chunks: Any, digest: Any, marker: bytes) -> None:
    # The bytes between boundaries go in as they come; the last len(marker) - 1 bytes wait for
    # the next chunk, so that a boundary split over two chunks is still found.
    pending = b""
    for chunk in chunks:
        pending += chunk
        *parts, pending = pending.split(marker)
        for part in parts:
            digest.update(part)
            digest.update(b"\x00boundary\x00")
        keep = len(marker) - 1
        if len(pending) > keep:
            digest.update(pending[:-keep] if keep else pending)
            pending = pending[-keep:] if keep else b""
    digest.update(pending)
