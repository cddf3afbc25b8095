"""``Idempotency-Key`` on the routes that create: a retry answers as the first request did.

Only a POST that carries the header, to one of ``CREATING_ROUTES``, takes a thread here: every
other request passes through on the event loop at the cost of a dictionary look-up. The guarded
request runs whole in that thread — claim the key, run the view, keep its answer — so a client
that drops the connection does not stop it: its retry finds the answer kept.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.template.response import SimpleTemplateResponse
from rest_framework.exceptions import AuthenticationFailed

from uai.idempotency import services
from uai.idempotency.fingerprint import request_fingerprint
from uai_project import errors
from uai_project.auth import SCHEMES, BearerAuthentication, is_api_token
from uai_project.middleware_base import AnyModeMiddleware

HEADER = "HTTP_IDEMPOTENCY_KEY"
REPLAYED_HEADER = "Idempotent-Replayed"

# The routes (URL names) whose POST creates something: a chat, a turn, a run, a workflow, a
# conversation or its items, a response, an A2A message's task, a webhook endpoint, a schedule.
CREATING_ROUTES = frozenset(
    {
        # native (seed 000)
        "chat-list",
        "chat-detail",
        "chat-next",
        "run-list",
        "webhook-list",
        "schedule-list",
        # seed 001, 002, 003, 004
        "agent-run",
        "playground-start",
        "conversation-run",
        "conversation-stream",
        "chats-create",
        "conversations-create",
        # OpenAI
        "openai-chat-completions",
        "openai-responses",
        "openai-conversations",
        "openai-conversation-items",
        # front-end protocols
        "agui-run",
        "ai-sdk-chat",
        # A2A
        "a2a-send",
        "a2a-stream",
        "a2a-jsonrpc",
    }
)

# Answers that say the request did not run (sign in, wait): the key is released, not kept.
NOT_RUN_STATUSES = frozenset({401, 403, 408, 425, 429, 503})

# Guarded requests run on these threads (made as needed): a turn may wait minutes on one, so
# not the loop's default executor, which has a handful.
_THREADS = concurrent.futures.ThreadPoolExecutor(max_workers=256, thread_name_prefix="uai-idempotent")
_running: set[asyncio.Future[Any]] = set()  # (referenced until done)
# Retries waiting for a first request's answer each hold one of those threads while they poll:
# past UAI_IDEMPOTENCY_MAX_WAITING of them, a retry is answered 409 at once (a client retrying in
# a loop would otherwise take every thread, and no keyed request could run).
_WAITING = threading.BoundedSemaphore(settings.UAI_IDEMPOTENCY_MAX_WAITING)
INTERRUPTED = 0  # the status kept for a request whose view raised (no answer to replay)
KEEP_ATTRIBUTE = "_uai_idempotency_keep"  # the request's answer to keep, once sent

# A retry of a streamed request waits this long for its stream to end (one being cut or still
# running is not waited for: the retry is told to follow it on its resume route).
STREAM_END_GRACE_SECONDS = 2.0
POLL_FIRST_SECONDS = 0.02
POLL_MAX_SECONDS = 0.5


class IdempotencyMiddleware(AnyModeMiddleware):
    """Claims the key of a creating POST, runs the view once, replays its answer to retries."""

    def process_view(
        self, request: HttpRequest, view: Any, args: Any, kwargs: Any
    ) -> HttpResponseBase | None:
        """(sync mode) Guard the request if it carries a key for a creating route."""
        if not _guarded(request):
            return None
        response = guard(request, view, args, kwargs)
        self._keep_now(request)
        return response

    async def aprocess_view(
        self, request: HttpRequest, view: Any, args: Any, kwargs: Any
    ) -> HttpResponseBase | None:
        if not _guarded(request):
            return None
        # Shielded: a client that goes cancels this request's task, which would cancel the
        # view's waits (and its answer would not be kept): the guarded request runs to its end
        # in a task of its own, on a thread of its own, whoever is still listening.
        task = _track(asyncio.ensure_future(_guarded_run(request, view, args, kwargs)))
        return await asyncio.shield(task)

    def _keep_now(self, request: HttpRequest) -> None:
        keep = request.__dict__.pop(KEEP_ATTRIBUTE, None)
        if keep is not None:
            _keep(keep)


async def _guarded_run(request: HttpRequest, view: Any, args: Any, kwargs: Any) -> HttpResponseBase | None:
    response = await sync_to_async(guard, thread_sensitive=False, executor=_THREADS)(
        request, view, args, kwargs
    )
    keep = request.__dict__.pop(KEEP_ATTRIBUTE, None)
    if keep is not None:
        # The answer is kept once it is on its way: not a database round trip on the turn's path
        # (a retry in between waits for it, as for a request still running).
        _track(asyncio.get_running_loop().run_in_executor(_THREADS, _keep, keep))
    return response


def _track(future: asyncio.Future[Any]) -> asyncio.Future[Any]:
    _running.add(future)
    future.add_done_callback(_running.discard)
    return future


def _keep(keep: Callable[[], None]) -> None:
    try:
        keep()
    finally:
        if not connection.in_atomic_block:
            connection.close()


def _guarded(request: HttpRequest) -> bool:
    if request.method != "POST" or HEADER not in request.META:
        return False
    match = request.resolver_match
    return match is not None and match.url_name in CREATING_ROUTES


def guard(request: HttpRequest, view: Any, args: Any, kwargs: Any) -> HttpResponseBase | None:
    """Run ``view`` once per (user, key): claim, run, keep; or answer from what is kept."""
    try:
        return _guard(request, view, args, kwargs)
    finally:
        if not connection.in_atomic_block:
            connection.close()  # (back to the pool: a thread of its own, as Django's are)


def _guard(request: HttpRequest, view: Any, args: Any, kwargs: Any) -> HttpResponseBase | None:
    key = valid_key(request.META[HEADER])
    token = _api_token(request)
    if token is not None and not isinstance(key, errors.UAIError):
        # The usual case: the user and the claim in one statement.
        try:
            user_and_token, found = services.idempotency_claim_as(
                token=token,
                key=key,
                fingerprint=request_fingerprint(request),
                method=request.method or "POST",
                path=request.path[:2048],
            )
        except AuthenticationFailed:
            return None  # the view says why
        request._force_auth_user, request._force_auth_token = user_and_token  # type: ignore[attr-defined]
    else:
        user = _user(request)
        if user is None:
            return None  # the view answers 401 (or, where a route is open, runs without a key)
        if isinstance(key, errors.UAIError):
            return errors.error_response(key, request.path)
        found = services.idempotency_claim(
            user_id=user.pk,
            key=key,
            fingerprint=request_fingerprint(request),
            method=request.method or "POST",
            path=request.path[:2048],
        )
    if isinstance(found, services.Found):
        return _answer_again(request, found.row)
    return _run_once(request, found.pk, view, args, kwargs)


def valid_key(raw: str) -> str | errors.UAIError:
    """The key, or why it is refused: 1 to UAI_IDEMPOTENCY_KEY_MAX_CHARS visible ASCII characters
    (a structured-field string's quotes around it are dropped)."""
    key = raw.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    most = settings.UAI_IDEMPOTENCY_KEY_MAX_CHARS
    if not key:
        return errors.InvalidInput("The Idempotency-Key header is empty.")
    if len(key) > most:
        return errors.InvalidInput(
            f"The Idempotency-Key header is longer than {most} characters (UAI_IDEMPOTENCY_KEY_MAX_CHARS)."
        )
    if not all(" " <= ch <= "~" for ch in key):
        return errors.InvalidInput("The Idempotency-Key header must be visible ASCII characters only.")
    return key


def _api_token(request: HttpRequest) -> str | None:
    """The request's bearer credential if it is an API token (not a JWT, not a session)."""
    parts = request.META.get("HTTP_AUTHORIZATION", "").split()
    if len(parts) != 2 or parts[0].lower().encode("latin-1", "replace") not in SCHEMES:
        return None
    return parts[1] if parts[1].isascii() and is_api_token(parts[1]) else None


def _user(request: HttpRequest) -> Any | None:
    """The request's user, authenticated once: a bearer credential's user is handed to DRF
    (which then does not look it up again); a session's is checked again by DRF, with its CSRF."""
    try:
        found = BearerAuthentication().authenticate(request)
    except AuthenticationFailed:
        return None  # the view says why
    if found is not None:
        request._force_auth_user, request._force_auth_token = found  # type: ignore[attr-defined]
        return found[0]
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated else None


def _run_once(request: HttpRequest, pk: int, view: Any, args: Any, kwargs: Any) -> HttpResponseBase:
    try:
        response: HttpResponseBase = view(request, *args, **kwargs)
        if isinstance(response, SimpleTemplateResponse):
            response = _plain(response.render())  # (a DRF answer: its bytes, to keep)
    except BaseException:
        # It may have created its turn before failing (or before the server, stopping, ended its
        # wait): retries are told so rather than run it again.
        with contextlib.suppress(Exception):
            services.idempotency_answer(pk=pk, status=INTERRUPTED, headers=[], body=b"")
        raise
    if response.status_code in NOT_RUN_STATUSES:
        services.idempotency_release(pk=pk)
        return response
    if isinstance(response, StreamingHttpResponse):
        services.idempotency_streaming(pk=pk)
        _record_stream(response, pk)
        return response
    body = response.content if isinstance(response, HttpResponse) else b""
    kept = body if len(body) <= settings.UAI_IDEMPOTENCY_MAX_BODY_BYTES else None
    # (kept by the caller once the answer is sent: see _guarded_run)
    request.__dict__[KEEP_ATTRIBUTE] = functools.partial(
        services.idempotency_answer,
        pk=pk,
        status=response.status_code,
        headers=list(response.items()),
        body=kept,
    )
    return response


def _plain(rendered: SimpleTemplateResponse) -> HttpResponse:
    """The rendered answer as a plain one: Django would otherwise go to a thread to render it
    again (a no-op), a hop on the turn's path."""
    plain = HttpResponse(rendered.content, status=rendered.status_code)
    for name, value in rendered.items():
        plain[name] = value
    plain.cookies = rendered.cookies
    return plain


def _record_stream(response: StreamingHttpResponse, pk: int) -> None:
    """Keep a copy of the stream as it is sent; once it ends, it is the key's answer."""
    status, headers = response.status_code, list(response.items())
    limit = settings.UAI_IDEMPOTENCY_MAX_BODY_BYTES
    source = response.streaming_content

    def keep(parts: list[bytes] | None) -> None:
        body = b"".join(parts) if parts is not None else None
        services.idempotency_answer(pk=pk, status=status, headers=headers, body=body)
        if not connection.in_atomic_block:
            connection.close()

    def add(parts: list[bytes] | None, size: int, chunk: bytes) -> tuple[list[bytes] | None, int]:
        size += len(chunk)
        if parts is not None and size <= limit:
            parts.append(chunk)
            return parts, size
        return None, size

    if response.is_async:

        async def arecorded() -> AsyncIterator[bytes]:
            parts: list[bytes] | None = []
            size = 0
            async for chunk in source:  # type: ignore[union-attr]
                parts, size = add(parts, size, chunk)
                yield chunk
            # Only a stream sent to its end is kept: one the client left stays "being sent".
            await sync_to_async(keep, thread_sensitive=False)(parts)

        response.streaming_content = arecorded()
    else:

        def recorded() -> Iterator[bytes]:
            parts: list[bytes] | None = []
            size = 0
            for chunk in source:  # type: ignore[union-attr]
                parts, size = add(parts, size, chunk)
                yield chunk
            keep(parts)

        response.streaming_content = recorded()


def _answer_again(request: HttpRequest, row: Any) -> HttpResponseBase:
    """A retry: 422 for another request, the first answer when kept, else wait for it or 409."""
    if row.fingerprint != request_fingerprint(request):
        return errors.error_response(
            errors.InvalidInput(
                "This Idempotency-Key was already used for another request (method, path or body"
                " differ): use a new key for a new request.",
                status=422,
            ),
            request.path,
        )
    if not services.answered(row):
        row = _wait(row)
    if not services.answered(row):
        detail = (
            "The request with this Idempotency-Key started a stream that is still being sent or was"
            " cut; it is not started again: follow it on its resume route."
            if row.streaming
            else "The request with this Idempotency-Key is still in progress; retry later."
        )
        response = errors.error_response(errors.Conflict(detail), request.path)
        response["Retry-After"] = "1"
        return response
    if row.status_code == INTERRUPTED:
        return errors.error_response(
            errors.Conflict(
                "The first request with this Idempotency-Key was interrupted (an error, or the server"
                " stopping) after it started; it may have created what it asked for: look, then use"
                " a new key."
            ),
            request.path,
        )
    if row.body is None:
        return errors.error_response(
            errors.Conflict(
                "The first answer to this Idempotency-Key was too large to keep"
                " (UAI_IDEMPOTENCY_MAX_BODY_BYTES); the request was not run again."
            ),
            request.path,
        )
    replay = HttpResponse(bytes(row.body), status=row.status_code)
    for name, value in services.headers_of(row):
        replay[name] = value
    replay[REPLAYED_HEADER] = "true"
    return replay


def _wait(row: Any) -> Any:
    """Wait for the first request's answer, up to UAI_IDEMPOTENCY_WAIT_SECONDS (a stream: only
    STREAM_END_GRACE_SECONDS, for one that is ending), if fewer than UAI_IDEMPOTENCY_MAX_WAITING
    retries wait already; the row as it is then."""
    if not _WAITING.acquire(blocking=False):
        return row  # (too many retries waiting already)
    try:
        return _poll(row)
    finally:
        _WAITING.release()


def _poll(row: Any) -> Any:
    deadline = time.monotonic() + settings.UAI_IDEMPOTENCY_WAIT_SECONDS
    if row.streaming:
        deadline = min(deadline, time.monotonic() + STREAM_END_GRACE_SECONDS)
    pause = POLL_FIRST_SECONDS
    while time.monotonic() < deadline:
        connection.close()  # not held while sleeping
        time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
        pause = min(pause * 1.5, POLL_MAX_SECONDS)
        current = services.idempotency_get(pk=row.pk)
        if current is None:
            return row  # released (the first did not run): answered 409, the client retries
        if services.answered(current):
            return current
        if current.streaming and not row.streaming:
            deadline = min(deadline, time.monotonic() + STREAM_END_GRACE_SECONDS)
        row = current
    return row
