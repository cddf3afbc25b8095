"""Prometheus metrics: what UAI counts, where, and the ``/metrics`` page.

Counted in the process where it happens: requests by route and status (``MetricsMiddleware``),
runs and turns as they end (the event sink, on commit), webhook POSTs (their delivery), live SSE
streams (this middleware) and WebSockets (``LiveSockets``, under the ASGI router). Read from
PostgreSQL at each scrape, so right whichever machine is asked: queue depth and age per queue,
workers and their heartbeats (``QueueCollector``, one query).

With ``PROMETHEUS_MULTIPROC_DIR`` set, every process of a machine (servers, ``procrastinate
worker``s) writes its figures to files there and any server's ``/metrics`` sums them
(prometheus-client's multiprocess mode); unset, the figures are the serving process's own —
right for the embedded mode, where the worker runs inside the server.
"""

from __future__ import annotations

import atexit
import datetime
import glob
import ipaddress
import os
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Iterable, Iterator
from typing import Any, cast

from django.conf import settings
from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.utils import timezone
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    multiprocess,
)
from prometheus_client import exposition as prometheus_exposition
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from uai_project import errors
from uai_project.methods import SERVED, allow
from uai_project.middleware_base import AnyModeMiddleware

# Seconds. A REST turn of a quick agent takes ~10-20 ms; a run may take an hour.
RUN_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600)
REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

REQUESTS = Counter(
    "uai_http_requests", "HTTP requests answered, by route (its name), method and status.",
    ["route", "method", "status"],
)  # fmt: skip
REQUEST_SECONDS = Histogram(
    "uai_http_request_duration_seconds",
    "Time to a response's headers (a stream's: to its start), by route and method.",
    ["route", "method"],
    buckets=REQUEST_BUCKETS,
)
RUN_SECONDS = Histogram(
    "uai_run_duration_seconds",
    "Runs and turns that ended, from creation (queue wait included) to their end, by kind "
    "(turn or task) and final status (succeeded, failed, cancelled): _count is the outcomes.",
    ["kind", "status"],
    buckets=RUN_BUCKETS,
)
LIVE = Gauge(
    "uai_live_connections",
    "Open SSE streams and accepted WebSockets, by protocol (sse, websocket).",
    ["protocol"],
    multiprocess_mode="livesum",
)
WEBHOOK_POSTS = Counter(
    "uai_webhook_deliveries",
    "Webhook POSTs by outcome (delivered, retrying, failed, refused).",
    ["outcome"],
)
WEBHOOK_SECONDS = Histogram(
    "uai_webhook_delivery_duration_seconds",
    "Time of one webhook POST, to the receiver's answer (or the timeout).",
    buckets=REQUEST_BUCKETS,
)

UNMATCHED = "unmatched"  # the route label of a request no route took (a 404, an early refusal)
SSE = "sse"
WEBSOCKET = "websocket"
for _protocol in (SSE, WEBSOCKET):  # shown at 0 before the first connection
    LIVE.labels(_protocol)


# --- what is counted --------------------------------------------------------------------------------


def _route(request: HttpRequest) -> str:
    # The route's name (or its view's dotted path): one label value per route, never the path.
    match = getattr(request, "resolver_match", None)
    return match.view_name if match is not None else UNMATCHED


class MetricsMiddleware(AnyModeMiddleware):
    """Counts every request by route, method and status, times it to its response's headers,
    and counts open SSE streams (any ``text/event-stream`` response, while it is sent)."""

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self._acall(request)
        started = time.perf_counter()
        return self._observed(request, self.get_response(request), started)

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        started = time.perf_counter()
        response: Awaitable[HttpResponseBase] = self.get_response(request)
        return self._observed(request, await response, started)

    def _observed(self, request: HttpRequest, response: HttpResponseBase, started: float) -> HttpResponseBase:
        route = _route(request)
        method = request.method if request.method in SERVED else "other"
        REQUEST_SECONDS.labels(route, method).observe(time.perf_counter() - started)
        REQUESTS.labels(route, method, str(response.status_code)).inc()
        if (
            isinstance(response, StreamingHttpResponse)
            and response.is_async
            and response.get("Content-Type", "").startswith("text/event-stream")
        ):
            response.streaming_content = _counted(
                cast("AsyncIterator[bytes]", response.streaming_content), SSE
            )
        return response


async def _counted(content: AsyncIterator[bytes], protocol: str) -> AsyncIterator[bytes]:
    gauge = LIVE.labels(protocol)
    gauge.inc()
    try:
        async for part in content:
            yield part
    finally:  # the stream ended, or its client left (the task is cancelled)
        gauge.dec()


class LiveSockets:
    """ASGI: counts WebSockets from their acceptance to their end."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Pass the connection on; count it while it is accepted."""
        gauge = LIVE.labels(WEBSOCKET)
        accepted = False

        async def counting_send(message: Any) -> None:
            nonlocal accepted
            if not accepted and message["type"] == "websocket.accept":
                accepted = True
                gauge.inc()
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            if accepted:
                gauge.dec()


def run_ended(*, kind: str, status: str, created_at: datetime.datetime, finished_at: Any) -> None:
    """A run (or turn) ended with ``status``: counted once its transaction commits."""
    if not settings.UAI_METRICS_ENABLED:
        return
    end = finished_at if isinstance(finished_at, datetime.datetime) else timezone.now()
    seconds = max((end - created_at).total_seconds(), 0.0)
    transaction.on_commit(lambda: RUN_SECONDS.labels(kind, status).observe(seconds))


def webhook_posted(*, outcome: str, seconds: float | None) -> None:
    """One webhook POST and what became of it (``seconds`` None: not sent, refused)."""
    if settings.UAI_METRICS_ENABLED:
        WEBHOOK_POSTS.labels(outcome).inc()
        if seconds is not None:
            WEBHOOK_SECONDS.observe(seconds)


# --- read at scrape time from PostgreSQL --------------------------------------------------------------

# One statement: per queue, the jobs ready to start, scheduled for later and running, and how long
# its oldest ready job has waited (since it was deferred, or since its scheduled time); then every
# worker's heartbeat age. Jobs that ended are deleted (UAI_DELETE_JOBS) or not counted.
_QUEUE_SQL = """
WITH counts AS (
    SELECT queue_name,
           count(*) FILTER (WHERE status = 'todo' AND (scheduled_at IS NULL OR scheduled_at <= now())) AS ready,
           count(*) FILTER (WHERE status = 'todo' AND scheduled_at > now()) AS scheduled,
           count(*) FILTER (WHERE status = 'doing') AS running,
           min(id) FILTER (WHERE status = 'todo' AND (scheduled_at IS NULL OR scheduled_at <= now())) AS oldest
    FROM procrastinate_jobs WHERE status IN ('todo', 'doing') GROUP BY queue_name
)
SELECT 'queue', c.queue_name, c.ready, c.scheduled, c.running,
       CASE WHEN c.oldest IS NULL THEN 0 ELSE extract(epoch FROM now() - greatest(
           (SELECT min(e.at) FROM procrastinate_events e WHERE e.job_id = c.oldest AND e.type = 'deferred'),
           (SELECT j.scheduled_at FROM procrastinate_jobs j WHERE j.id = c.oldest)))::float8 END
FROM counts c
UNION ALL
SELECT 'worker', w.id::text, 0, 0, 0, extract(epoch FROM now() - w.last_heartbeat)::float8
FROM procrastinate_workers w
"""


class QueueCollector(Collector):
    """Queue depth and age per queue, and workers' heartbeats, read when scraped."""

    def collect(self) -> Iterable[Metric]:
        """One query; the figures of every machine (they share the database)."""
        jobs = GaugeMetricFamily(
            "uai_queue_jobs",
            "Jobs per queue: ready (waiting for a worker), scheduled (for later), running.",
            labels=["queue", "state"],
        )
        age = GaugeMetricFamily(
            "uai_queue_oldest_ready_age_seconds",
            "How long the oldest job ready to start has waited, per queue (0: none waits).",
            labels=["queue"],
        )
        workers = GaugeMetricFamily(
            "uai_workers",
            "Workers by heartbeat: live (within UAI_STALLED_WORKER_SECONDS) or stalled.",
            labels=["state"],
        )
        heartbeat = GaugeMetricFamily(
            "uai_worker_heartbeat_age_seconds",
            "Seconds since each worker's last heartbeat, by its id.",
            labels=["worker"],
        )
        with connection.cursor() as cursor:
            cursor.execute(_QUEUE_SQL)
            rows = cursor.fetchall()
        live = stalled = 0
        # The queues UAI's workers serve are shown at 0 when empty (a series that comes and goes
        # is hard to alert on); any other queue with jobs is shown too.
        seen = {row[1] for row in rows if row[0] == "queue"}
        rows += [("queue", queue, 0, 0, 0, 0.0) for queue in settings.UAI_WORKER_QUEUES if queue not in seen]
        for what, name, ready, scheduled, running, seconds in rows:
            if what == "queue":
                jobs.add_metric([name, "ready"], ready)
                jobs.add_metric([name, "scheduled"], scheduled)
                jobs.add_metric([name, "running"], running)
                age.add_metric([name], max(seconds or 0.0, 0.0))
            else:
                heartbeat.add_metric([name], max(seconds, 0.0))
                if seconds <= settings.UAI_STALLED_WORKER_SECONDS:
                    live += 1
                else:
                    stalled += 1
        workers.add_metric(["live"], live)
        workers.add_metric(["stalled"], stalled)
        return [jobs, age, workers, heartbeat]


class _ProcessCollector(Collector):
    """The figures counted in processes: this process's, or every process's files."""

    def collect(self) -> Iterable[Metric]:
        if settings.PROMETHEUS_MULTIPROC_DIR:
            files = multiprocess.MultiProcessCollector(None, path=settings.PROMETHEUS_MULTIPROC_DIR)  # type: ignore[no-untyped-call]  # untyped in prometheus-client
            return cast("Iterable[Metric]", files.collect())  # type: ignore[no-untyped-call]  # (same)
        return REGISTRY.collect()


class _Scrape(Collector):
    """What one scrape shows: the processes' figures and the database's, or only the families
    named (by their name, or one of their samples': ``uai_http_requests_total``)."""

    def __init__(self, names: list[str]) -> None:
        self.names = set(names)

    def collect(self) -> Iterable[Metric]:
        for collector in (_ProcessCollector(), QueueCollector()):
            for family in collector.collect():
                if (
                    not self.names
                    or family.name in self.names
                    or any(sample.name in self.names for sample in family.samples)
                ):
                    yield family


def _scrape_registry(names: list[str]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Scrape(names))
    return registry


# --- the page -------------------------------------------------------------------------------------------

MAX_NAMES = 100  # name[] filters of one scrape
MAX_NAME_CHARS = 200
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def _allowed(request: HttpRequest) -> errors.UAIError | None:
    token = settings.UAI_METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return errors.NotAuthenticated(
                "/metrics needs the metrics token: Authorization: Bearer <UAI_METRICS_TOKEN>."
            )
        if not secrets.compare_digest(value.strip().encode(), token.encode()):
            return errors.Forbidden("That is not the metrics token (UAI_METRICS_TOKEN).")
    networks = settings.UAI_METRICS_ALLOWED_NETWORKS
    if networks:
        try:
            address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
        except ValueError:
            address = None
        if address is None or not any(address in network for network in networks):
            return errors.Forbidden(
                "/metrics answers only UAI_METRICS_ALLOWED_NETWORKS (by default, loopback when no "
                "UAI_METRICS_TOKEN is set)."
            )
    return None


@allow("GET")
def metrics_view(request: HttpRequest) -> HttpResponse:
    """The Prometheus exposition (or OpenMetrics, as the scraper's ``Accept`` asks)."""
    refused = _allowed(request)
    if refused is not None:
        return errors.error_response(refused)
    unknown = sorted(set(request.GET) - {"name[]"})
    if unknown:
        return errors.error_response(
            errors.InvalidInput(f"Unknown query parameter {unknown[0]!r}; /metrics takes only name[].")
        )
    names = request.GET.getlist("name[]")
    if len(names) > MAX_NAMES:
        return errors.error_response(errors.InvalidInput(f"At most {MAX_NAMES} name[] filters."))
    for name in names:
        if not name or len(name) > MAX_NAME_CHARS or not _METRIC_NAME.fullmatch(name):
            return errors.error_response(errors.InvalidInput(f"name[] {name[:50]!r} is not a metric name."))
    encoder, content_type = prometheus_exposition.choose_encoder(request.headers.get("Accept", ""))
    body = encoder(_scrape_registry(names))
    return HttpResponse(body, content_type=content_type)


# --- start and end of a process -----------------------------------------------------------------------


def setup() -> None:
    """In multiprocess mode: forget the live gauges of processes that are gone (killed, so they
    never said so), and say so for this process when it exits."""
    path = settings.PROMETHEUS_MULTIPROC_DIR
    if not (settings.UAI_METRICS_ENABLED and path):
        return
    import psutil

    for pid in _live_gauge_pids(path):
        if not psutil.pid_exists(pid):
            multiprocess.mark_process_dead(pid, path)  # type: ignore[no-untyped-call]  # untyped there
    atexit.register(multiprocess.mark_process_dead, os.getpid(), path)


def _live_gauge_pids(path: str) -> Iterator[int]:
    for file in glob.glob(os.path.join(path, "gauge_live*_*.db")):
        pid = os.path.basename(file).rsplit("_", 1)[-1].removesuffix(".db")
        if pid.isdigit():
            yield int(pid)
