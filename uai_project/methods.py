"""Which HTTP methods a route answers, decided in one place for every view.

A plain function view answers whatever method it is sent: ``TRACE /healthz`` was a 200, and
``CONNECT`` or ``POST`` on a stream reached Django's CSRF check (an HTML 403). Class-based views
refuse what they do not implement, but Django's own answer that with an empty HTML body. Here
every method a route does not serve — and TRACE and CONNECT everywhere — is a 405
``{"detail", "code"}`` with ``Allow``, before any other check runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.http import HttpRequest, HttpResponse

from uai_project import errors
from uai_project.middleware_base import AnyModeMiddleware

# Methods some view may serve (in the order DRF's ``Allow`` lists them); any other (TRACE,
# CONNECT, made-up ones) is never served.
SERVED = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
# What a function view that declares nothing (the admin's) may be sent.
UNDECLARED = ("GET", "POST", "HEAD", "OPTIONS")

View = TypeVar("View", bound=Callable[..., Any])


def allow(*methods: str) -> Callable[[View], View]:
    """Declare the methods a function view serves (HEAD and OPTIONS come with GET)."""
    declared = tuple(m.upper() for m in methods)
    if "GET" in declared:
        declared += ("HEAD", "OPTIONS")

    def mark(view: View) -> View:
        view.allowed_methods = tuple(m for m in SERVED if m in declared)  # type: ignore[attr-defined]
        return view

    return mark


def allowed_methods(callback: Any) -> tuple[str, ...]:
    """The methods the view behind a route serves, as ``Allow`` lists them."""
    view_class = getattr(callback, "view_class", None)
    if view_class is not None:
        # Django's View and DRF's APIView: a method is served when the class implements it;
        # HEAD is served by ``get`` (View.setup).
        names = {m for m in view_class.http_method_names if hasattr(view_class, m)}
        if "get" in names:
            names.add("head")
        return tuple(m for m in SERVED if m.lower() in names)
    return getattr(callback, "allowed_methods", UNDECLARED)


def refusal(request: HttpRequest, callback: Any) -> HttpResponse | None:
    """A 405 for a method the route does not serve, or None; OPTIONS of a function view that
    declared its methods is answered here, as a class-based view answers it."""
    methods = allowed_methods(callback)
    if request.method == "OPTIONS" and hasattr(callback, "allowed_methods") and "OPTIONS" in methods:
        response = HttpResponse(status=200)
        response["Allow"] = ", ".join(methods)
        response["Content-Length"] = "0"
        return response
    if request.method in methods:
        return None
    response = errors.error_response(
        errors.MethodNotAllowed(f'Method "{request.method}" not allowed.'), request.path
    )
    response["Allow"] = ", ".join(methods)
    return response


class AllowedMethodsMiddleware(AnyModeMiddleware):
    """405 ``{"detail", "code"}`` with ``Allow`` for a method the resolved view does not serve."""

    def process_view(
        self, request: HttpRequest, callback: Any, args: Any, kwargs: Any
    ) -> HttpResponse | None:
        """Refuse before the view (and before CSRF, which would answer an HTML 403)."""
        return refusal(request, callback)

    async def aprocess_view(
        self, request: HttpRequest, callback: Any, args: Any, kwargs: Any
    ) -> HttpResponse | None:
        return refusal(request, callback)
