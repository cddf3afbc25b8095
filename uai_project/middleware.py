"""Request-level guards that must act before a body is read."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from uai_project.errors import json_error


class BodySizeLimitMiddleware:
    """Refuse a body larger than all allowed uploads together with 413, before reading it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.UAI_MAX_UPLOAD_BYTES * settings.UAI_MAX_UPLOAD_FILES + settings.UAI_MAX_JSON_BYTES
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return json_error("Invalid Content-Length header.", 400)
        if length > limit:
            return json_error(f"Request body is larger than {limit} bytes.", 413)
        return self.get_response(request)
