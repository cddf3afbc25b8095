"""The one base of UAI's own middleware: callable from Django's sync chain or its async one.

Django calls an async-capable middleware with the next one's coroutine function when the chain is
async (under ASGI); marking the instance a coroutine function then keeps the request on the event
loop (no thread hop per middleware). A subclass that implements ``aprocess_view`` has it used as
its ``process_view`` in that case, so Django awaits it instead of sending it to a thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest


class AnyModeMiddleware:
    """Passes the request on, in the chain's mode; subclasses add their hooks."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)
            aprocess_view = getattr(self, "aprocess_view", None)
            if aprocess_view is not None:
                self.process_view = aprocess_view

    def __call__(self, request: HttpRequest) -> Any:
        return self.get_response(request)
