from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core import checks


class UaiProjectConfig(AppConfig):
    name = "uai_project"
    verbose_name = "UAI"

    def ready(self) -> None:
        """Register the OpenAPI extensions and the deployment checks; set up metrics and traces
        (before Django loads its middleware: the tracing's goes first)."""
        from uai_project import metrics, schema, tracing  # noqa: F401

        metrics.setup()
        tracing.setup()

        checks.register(workers_reach_the_server, checks.Tags.compatibility)


def workers_reach_the_server(**kwargs: Any) -> list[checks.CheckMessage]:
    """Without Redis, events travel only inside one process: a server whose worker runs elsewhere
    hears of its turns only through the tables (streams every few seconds, sessionless calls never)."""
    if settings.UAI_EMBEDDED_WORKER or settings.REDIS_URL:
        return []
    return [
        checks.Warning(
            "UAI_EMBEDDED_WORKER is off but REDIS_URL is not set: the server's in-memory channel layer "
            "cannot hear workers in other processes (streams lag by UAI_STREAM_RECHECK_SECONDS, "
            "POST /chat/next and /agent/run time out).",
            hint="Set REDIS_URL for separate workers, or leave UAI_EMBEDDED_WORKER on.",
            id="uai.W001",
        )
    ]
