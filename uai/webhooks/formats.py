"""What a webhook POSTs for each event of its run: a format, chosen by key (UAI_WEBHOOK_FORMATS).

A format class is made once per delivery job, ``Format(webhook, base_url=...)``, and fed every
event of the run in order from the first (``feed``): it may keep state between events (a
translator that builds a task from them). It returns the bodies to POST for that event, often
one, sometimes none. The job POSTs only the bodies after the webhook's cursor, so a job started
again after a kill feeds everything anew and sends nothing twice but the body in flight.
"""

from __future__ import annotations

from typing import Any, Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from uai.runs.stream_events import StreamEvent
from uai_project import errors


class Format(Protocol):
    """The bodies a webhook POSTs for each event of its run."""

    def feed(self, event: StreamEvent) -> list[dict[str, Any]]:
        """The bodies to POST for ``event`` (the run's next event)."""
        ...


class FormatClass(Protocol):
    def __call__(self, webhook: Any, *, base_url: str) -> Format: ...


class NativeFormat:
    """UAI's own events, one POST each, exactly as its streams send them."""

    def __init__(self, webhook: Any, *, base_url: str) -> None:
        self.webhook = webhook
        self.base_url = base_url

    def feed(self, event: StreamEvent) -> list[dict[str, Any]]:
        """The event itself."""
        return [dict(event)]


def format_names() -> list[str]:
    """The keys a webhook's ``format`` may take."""
    return list(settings.UAI_WEBHOOK_FORMATS)


def format_class(name: str) -> FormatClass:
    """The class of format ``name``; 400 for a name UAI_WEBHOOK_FORMATS does not have."""
    path = settings.UAI_WEBHOOK_FORMATS.get(name)
    if path is None:
        raise errors.InvalidInput(f"Unknown webhook format {name!r}; one of: {', '.join(format_names())}.")
    cls: FormatClass = import_string(path)
    return cls


def make_format(webhook: Any) -> Format:
    """The format of ``webhook``, with UAI_PUBLIC_URL as the base of the URLs it writes."""
    return format_class(webhook.format)(webhook, base_url=settings.UAI_PUBLIC_URL)
