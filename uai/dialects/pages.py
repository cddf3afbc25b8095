"""The web pages UAI serves itself: the chat at ``/`` and the runs page at ``/runs/``.

Both are Django templates with plain JavaScript (no build step); they sign in with Django's
session and then use the same public APIs as every other client: REST, the seed 001 WebSocket
and the SSE streams.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie

from uai_project.methods import allow


def _limits() -> dict[str, int]:
    return {
        "max_upload_bytes": settings.UAI_MAX_UPLOAD_BYTES,
        "max_message_chars": settings.UAI_MAX_MESSAGE_CHARS,
    }


@allow("GET")
@login_required
@ensure_csrf_cookie
def chat_page(request: HttpRequest) -> HttpResponse:
    """Pick an agent, start or reopen chats, send text and files, watch every step."""
    return render(request, "uai/chat.html", {"limits": _limits(), "page": "chat"})


@allow("GET")
@login_required
@ensure_csrf_cookie
def runs_page(request: HttpRequest) -> HttpResponse:
    """Start runs, follow their progress and logs, answer their questions, cancel them."""
    return render(request, "uai/runs.html", {"limits": _limits(), "page": "runs"})
