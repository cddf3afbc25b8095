"""UAI's middleware stack: a body-size guard, static files, and Django's usual middleware.

Every one is async-capable and, under ASGI, calls its hooks on the event loop. A sync-only
middleware makes each request hop from the loop to a thread and back, and Django's
``MiddlewareMixin`` does so for each hook: ~13 hops per request with Django's usual stack,
~0.8 ms of CPU of the ~1.9 a trivial view cost under daphne (bench/README.md, "Where UAI's time
goes"). The hooks that may read or save a session or parse a form body still take a thread.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, cast

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.contrib.auth import middleware as auth_middleware
from django.contrib.messages import middleware as messages_middleware
from django.contrib.sessions import middleware as sessions_middleware
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.middleware import clickjacking, common, csrf, security
from django.utils.deprecation import MiddlewareMixin
from whitenoise.middleware import WhiteNoiseMiddleware

from uai_project import errors
from uai_project.body_limit import request_body_limit, too_large_detail
from uai_project.middleware_base import AnyModeMiddleware


class BodySizeLimitMiddleware(AnyModeMiddleware):
    """Refuse a body larger than all allowed uploads together (413) — under ASGI
    ``body_limit.BodyLimit`` did already, before reading it; this covers Django's own test
    client — a URL with a NUL character in its path (400), and one longer than
    ``UAI_MAX_URL_CHARS`` (414)."""

    def __call__(self, request: HttpRequest) -> Any:
        refused = _refused(request)
        if self.is_async:
            return self._acall(request, refused)
        return refused or self.get_response(request)

    async def _acall(self, request: HttpRequest, refused: HttpResponse | None) -> HttpResponse:
        return refused or await self.get_response(request)


def _refused(request: HttpRequest) -> HttpResponse | None:
    query = request.META.get("QUERY_STRING", "")
    if len(request.path_info) + len(query) > settings.UAI_MAX_URL_CHARS:
        detail = f"The URL is longer than {settings.UAI_MAX_URL_CHARS} characters (UAI_MAX_URL_CHARS)."
        return errors.error_response(errors.TooLarge(detail, status=414))
    if "\x00" in request.path_info:
        # No route takes one, and PostgreSQL cannot compare it: an id lookup would fail with a 500.
        return errors.error_response(errors.InvalidInput("The URL contains a NUL character (%00)."))
    if "%00" in query or "\x00" in query:
        return errors.error_response(errors.InvalidInput("The query string contains a NUL character (%00)."))
    limit = request_body_limit()  # (under ASGI, body_limit.BodyLimit refused it already)
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return errors.error_response(errors.InvalidInput("Invalid Content-Length header."))
    if length > limit:
        return errors.error_response(errors.TooLarge(too_large_detail(limit)))
    return None


class StaticFilesMiddleware(WhiteNoiseMiddleware):  # type: ignore[misc]  # untyped base
    """WhiteNoise, async-capable: a static file is served as WhiteNoise serves it, anything else
    passes straight on without leaving the event loop."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any], *args: Any, **kwargs: Any) -> None:
        super().__init__(get_response, *args, **kwargs)
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self._acall(request)
        return super().__call__(request)

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        if self.autorefresh:
            # Finding a file may touch the disk (DEBUG's autorefresh): not on the event loop.
            static_file = await sync_to_async(self.find_file)(request.path_info)
        else:
            static_file = self.files.get(request.path_info)
        if static_file is not None:
            # Opening and stat-ing the file: a thread, as Django does for its sync middleware.
            served: HttpResponseBase = await sync_to_async(self.serve)(static_file, request)
            return served
        response: Awaitable[HttpResponseBase] = self.get_response(request)
        return await response


# --- Django's own middleware, without a thread hop per hook ---------------------------------------
#
# Their hooks only look at the request and set headers or cookies, except where a session or a
# message store may be read or saved, or a form body parsed: those cases (and only those) still
# go to a thread, as Django sends every hook.


class _InlineHooks(MiddlewareMixin):
    """In async mode, call the hooks on the event loop unless ``*_needs_thread`` says otherwise."""

    def request_needs_thread(self, request: HttpRequest) -> bool:
        return False

    def response_needs_thread(self, request: HttpRequest, response: HttpResponseBase) -> bool:
        return False

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        response: HttpResponseBase | None = None
        process_request = getattr(self, "process_request", None)
        if process_request is not None:
            if self.request_needs_thread(request):
                response = await sync_to_async(process_request, thread_sensitive=True)(request)
            else:
                response = process_request(request)
        # (in async mode, which is the only one calling this, a coroutine)
        response = response or await cast("Awaitable[HttpResponseBase]", self.get_response(request))
        process_response = getattr(self, "process_response", None)
        if process_response is not None:
            if self.response_needs_thread(request, response):
                response = await sync_to_async(process_response, thread_sensitive=True)(request, response)
            else:
                response = process_response(request, response)
        return response


class SecurityMiddleware(_InlineHooks, security.SecurityMiddleware):
    """Django's, hook for hook: headers and the HTTPS redirect only."""


class CommonMiddleware(_InlineHooks, common.CommonMiddleware):
    """Django's, hook for hook: user agents, www and slash redirects, Content-Length."""


class XFrameOptionsMiddleware(_InlineHooks, clickjacking.XFrameOptionsMiddleware):
    """Django's, hook for hook: one header."""


class AuthenticationMiddleware(_InlineHooks, auth_middleware.AuthenticationMiddleware):
    """Django's: ``request.user`` is lazy, so setting it reads nothing."""


class SessionMiddleware(_InlineHooks, sessions_middleware.SessionMiddleware):
    """Django's: the session is loaded lazily; saving it (or reading it to decide) is done in a
    thread, as Django does — only a request that never touched its session skips the hop."""

    def response_needs_thread(self, request: HttpRequest, response: HttpResponseBase) -> bool:
        session = getattr(request, "session", None)
        return session is None or session.accessed or session.modified


class MessageMiddleware(_InlineHooks, messages_middleware.MessageMiddleware):
    """Django's: storing messages may write the session, so a request that used or added
    messages goes to a thread for it."""

    def response_needs_thread(self, request: HttpRequest, response: HttpResponseBase) -> bool:
        storage = getattr(request, "_messages", None)
        return storage is None or storage.used or storage.added_new


class CsrfViewMiddleware(_InlineHooks, csrf.CsrfViewMiddleware):
    """Django's. Checking a token may read the request's form body (parsing an upload writes
    files): unsafe methods of views that are not exempt are checked in a thread."""

    def request_needs_thread(self, request: HttpRequest) -> bool:
        return settings.CSRF_USE_SESSIONS

    def response_needs_thread(self, request: HttpRequest, response: HttpResponseBase) -> bool:
        return settings.CSRF_USE_SESSIONS

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        super().__init__(get_response)
        if self.async_mode:  # type: ignore[attr-defined]  # set by MiddlewareMixin; not in the 5.2 stubs
            # A coroutine function, so the handler awaits it instead of wrapping it for a thread.
            self.process_view = self._aprocess_view  # type: ignore[method-assign, assignment]

    async def _aprocess_view(self, request: HttpRequest, callback: Any, args: Any, kwargs: Any) -> Any:
        inline = not settings.CSRF_USE_SESSIONS and (
            getattr(callback, "csrf_exempt", False) or request.method in ("GET", "HEAD", "OPTIONS", "TRACE")
        )
        if inline:
            return super().process_view(request, callback, args, kwargs)
        return await sync_to_async(super().process_view, thread_sensitive=True)(
            request, callback, args, kwargs
        )
