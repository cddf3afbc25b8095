"""Project-level views: health."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse

from uai_project.methods import allow

logger = logging.getLogger(__name__)


@allow("GET")
def healthz(request: HttpRequest) -> JsonResponse:
    """200 once the database answers and at least one worker has a fresh heartbeat, else 503."""
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM procrastinate_workers "
                "WHERE last_heartbeat > now() - make_interval(secs => %s)",
                [settings.UAI_STALLED_WORKER_SECONDS],
            )
            workers = int(cursor.fetchone()[0])
    except DatabaseError as error:
        # The error names the database's host, port and user: for the log, not for anyone asking.
        # One line, no traceback: a balancer asks every few seconds for as long as an outage lasts.
        first = (str(error).strip().splitlines() or [""])[0]
        logger.warning("health check: the database did not answer (%s: %s)", type(error).__name__, first)
        return JsonResponse({"status": "unavailable", "database": "unavailable"}, status=503)
    body = {
        "status": "ok" if workers else "starting",
        "database": "ok",
        "workers": workers,
        "embedded_worker": settings.UAI_EMBEDDED_WORKER,
        "embedded_database": settings.EMBEDDED_DATABASE,
    }
    return JsonResponse(body, status=200 if workers else 503)
