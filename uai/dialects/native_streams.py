"""Seed 000's native event streams: ``GET /chat/{session_id}/stream`` and ``GET /run/{task_id}/stream``.

Every event as stored (``event:`` its type, ``data:`` the whole event, ``id:`` its sequence
number), live, resumable from ``Last-Event-ID``.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from rest_framework import exceptions

from uai.chats import selectors as chat_selectors
from uai.dialects.sse import KEEPALIVE, encode, last_event_id, response
from uai.limits import throttling
from uai.runs import selectors as run_selectors
from uai.runs import streams
from uai.runs.models import Run
from uai.runs.stream_events import EventType, StreamEvent
from uai.runs.waiting import release_connection
from uai_project import errors
from uai_project.auth import authenticate_request
from uai_project.errors import UAIError, outage
from uai_project.methods import allow

logger = logging.getLogger(__name__)

T = TypeVar("T")


async def native_events(
    *,
    chat_id: str | None = None,
    run_id: Any = None,
    after_seq: int | None,
    only_run: Any = None,
    stop: Callable[[StreamEvent], bool] | None = None,
    chat_born: datetime.datetime | None = None,
) -> AsyncIterator[bytes]:
    """A stream's events as SSE (``event:`` is the event type, ``data:`` the whole event).

    ``only_run`` keeps a chat stream's events of that run; ``stop`` ends after a matching event.
    """
    only = str(only_run) if only_run is not None else None
    try:
        async for event in streams.follow(
            chat_id=chat_id,
            run_id=run_id,
            after_seq=after_seq,
            idle_seconds=settings.UAI_STREAM_KEEPALIVE_SECONDS,
            chat_born=chat_born,
        ):
            if event is None:
                yield KEEPALIVE
                continue
            if event["type"] == EventType.PAST_END:
                # Last-Event-ID past the stream's end: it follows from there. An ``id:`` alone
                # sets the client's Last-Event-ID without dispatching an event.
                yield f"id: {event['seq']}\n\n".encode()
                continue
            if only is not None and event.get("run_id") != only:
                continue
            yield encode(event["seq"], event, event["type"])
            if stop is not None and stop(event):
                return
    except (streams.StreamOverflow, streams.ChatGone) as exc:
        yield error_event(exc)
    except DatabaseError as error:
        if outage(error) is None:
            raise
        # Said, not cut: the client reconnects with Last-Event-ID and misses nothing.
        logger.warning("a stream's database went away; ending it with an error event", exc_info=True)
        away = errors.Unavailable("The database is unreachable for a moment; reconnect to resume.")
        yield error_event(away)


def error_event(error: UAIError) -> bytes:
    """The native streams' last event when they cannot go on: ``event: error``, the REST body as
    ``data`` (the same for every code: the code is in it)."""
    return encode(None, errors.error_body(error), "error")


def ends_run(run_id: Any, statuses: tuple[str, ...] = Run.TERMINAL) -> Callable[[StreamEvent], bool]:
    """A stop condition: the run's status event reaches one of ``statuses``."""
    run_id = str(run_id)

    def stop(event: StreamEvent) -> bool:
        return (
            event["type"] == EventType.STATUS
            and event.get("run_id") == run_id
            and event["data"]["status"] in statuses
        )

    return stop


class _Refused(Exception):
    def __init__(self, response: HttpResponse) -> None:
        self.response = response


def _unauthorized(response: HttpResponse) -> HttpResponse:
    if response.status_code == 401:
        response["WWW-Authenticate"] = 'Bearer realm="uai"'
    return response


def _look_up(request: HttpRequest, find: Callable[[Any, int | None], T], after: int | None) -> T:
    """Authenticate and find the stream's record, in one trip to the request's thread, and hand
    that thread's connection back: Django would keep it until the response is closed — for a
    stream, its whole life, one pooled connection per follower."""
    try:
        try:
            user = authenticate_request(request)
        except exceptions.AuthenticationFailed as exc:
            raise _Refused(errors.error_response(errors.NotAuthenticated(str(exc.detail)))) from exc
        if user is None:
            refusal = errors.NotAuthenticated("Authentication credentials were not provided.")
            raise _Refused(errors.error_response(refusal))
        throttling.hit(user.pk)  # UAI_USER_RATE, as on the API views (a 429 before the stream)
        return find(user, after)
    finally:
        release_connection()


async def _open(
    request: HttpRequest, find: Callable[[Any, int | None], T]
) -> tuple[T, int | None] | HttpResponse:
    """Authenticate, read Last-Event-ID and find the stream's record (``find(user, after)``) —
    or the JSON refusal."""
    try:
        after = last_event_id(request)
        return await sync_to_async(_look_up)(request, find, after), after
    except _Refused as refused:
        return _unauthorized(refused.response)
    except UAIError as exc:
        return errors.error_response(exc)


@allow("GET")
async def chat_stream(request: HttpRequest, session_id: str) -> HttpResponseBase:
    """``GET /chat/{session_id}/stream``: the chat's events, live (after ``Last-Event-ID`` if given)."""
    opened = await _open(request, lambda user, _: chat_selectors.chat_get(user=user, chat_id=session_id))
    if isinstance(opened, HttpResponse):
        return opened
    chat, after = opened
    return response(native_events(chat_id=chat.id, after_seq=after, chat_born=chat.created_at))


@allow("GET")
async def run_stream(request: HttpRequest, task_id: str) -> HttpResponseBase:
    """``GET /run/{task_id}/stream``: the run's events from its start (or ``Last-Event-ID``), to its end.

    A client that has seen the final status of a run that has ended gets 204 (an ``EventSource``
    reconnects with it whenever a stream closes): nothing would end the stream, and 204 is what
    stops an ``EventSource`` from reconnecting.
    """

    def find(user: Any, after: int | None) -> tuple[Run, bool]:
        run = run_selectors.run_get(user=user, run_id=task_id)
        return run, run_selectors.run_stream_ended(run=run, after=after or 0)

    opened = await _open(request, find)
    if isinstance(opened, HttpResponse):
        return opened
    (run, over), after = opened
    if over:
        return HttpResponse(status=204)
    return response(native_events(run_id=run.id, after_seq=after or 0, stop=ends_run(run.id)))
