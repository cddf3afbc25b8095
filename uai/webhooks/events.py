"""The events endpoints receive, detected where a run's status is written (``EventSink.status``):
a delivery per matching endpoint, its job deferred in the same transaction as the status.

Every status a run takes passes through ``run_status`` inside that transaction. It costs nothing
for most of them (``queued``, ``running`` after an answer: no event), and for the others one cache
read while the run's owner has no endpoint for the event: which users have endpoints, with their
filters, is cached (Django's cache: Redis in the distributed mode) and dropped whenever one of
their endpoints changes. An unreachable cache is a miss: the endpoints are read from PostgreSQL.

Event types and what makes them (a chat's turn is a run too, ``kind: "turn"``)::

    run.started          a run's attempt begins (``running``; ``attempt`` counts retries)
    run.input_required   the agent asks a question and waits
    run.succeeded | run.failed | run.cancelled   the run ends
    turn.finished        a chat turn stops for its user: it ended, or waits for an answer
"""

from __future__ import annotations

import datetime
import functools
import json
import logging
from typing import Any

from django.conf import settings
from django.core.cache import BaseCache, caches
from django.db import transaction
from django.utils import timezone

from uai.runs.models import Run
from uai.webhooks import queues
from uai.webhooks.models import Endpoint, EndpointDelivery

logger = logging.getLogger(__name__)

RUN_STARTED = "run.started"
RUN_INPUT_REQUIRED = "run.input_required"
RUN_SUCCEEDED = "run.succeeded"
RUN_FAILED = "run.failed"
RUN_CANCELLED = "run.cancelled"
TURN_FINISHED = "turn.finished"
WEBHOOK_TEST = "webhook.test"  # sent by POST /webhooks/{id}/test only, whatever the filters
EVENT_TYPES = (RUN_STARTED, RUN_INPUT_REQUIRED, RUN_SUCCEEDED, RUN_FAILED, RUN_CANCELLED, TURN_FINISHED)
_ENDED = {
    Run.Status.SUCCEEDED: RUN_SUCCEEDED,
    Run.Status.FAILED: RUN_FAILED,
    Run.Status.CANCELLED: RUN_CANCELLED,
    Run.Status.INPUT_REQUIRED: RUN_INPUT_REQUIRED,
}
MAX_ERROR_CHARS = 2000  # of a run's error in an event's body

# (endpoint id, event types, agents) of a user's enabled endpoints; empty lists match everything.
Filters = list[tuple[str, list[str], list[str]]]


@functools.cache
def _store() -> BaseCache:
    """One cache client for the process (see uai.chats.cache._store)."""
    return caches.create_connection("default")


def _key(owner_id: Any) -> str:
    return f"webhook-endpoints:1:{owner_id}"


def _filters(owner_id: Any) -> Filters:
    """The user's enabled endpoints' filters: cached, else read (and cached)."""
    try:
        cached: Filters | None = _store().get(_key(owner_id))
    except Exception:  # an unreachable cache: read PostgreSQL
        cached = None
    if cached is not None:
        return cached
    rows = Endpoint.objects.filter(owner_id=owner_id, enabled=True).values_list("id", "event_types", "agents")
    filters = [(str(pk), list(types or []), list(agents or [])) for pk, types, agents in rows]
    try:
        _store().set(_key(owner_id), filters, timeout=settings.UAI_WEBHOOK_ENDPOINT_CACHE_SECONDS)
    except Exception:
        pass
    return filters


def forget(owner_id: Any) -> None:
    """Drop a user's cached endpoints (one of them was made, changed or deleted), now and again
    once the change commits (a reader between the two caches the old rows for no longer)."""

    def drop() -> None:
        try:
            _store().delete(_key(owner_id))
        except Exception:
            logger.warning("webhook endpoints of user %s: the cache could not be cleared", owner_id)

    drop()
    transaction.on_commit(drop)


def event_types_of(run: Run, *, begun: bool) -> list[str]:
    """The events a run's status makes (``begun``: the status comes from an attempt's start)."""
    if run.status == Run.Status.RUNNING:
        return [RUN_STARTED] if begun else []
    event = _ENDED.get(run.status)  # type: ignore[call-overload]  # a status string
    if event is None:
        return []
    if run.kind == Run.Kind.TURN:
        return [event, TURN_FINISHED]
    return [event]


def run_status(run: Run, *, begun: bool = False) -> None:
    """Deliveries of the events ``run``'s new status makes to its owner's matching endpoints, each
    with its job deferred (call inside the transaction that writes the status)."""
    types = event_types_of(run, begun=begun)
    if not types:
        return
    filters = _filters(run.owner_id)
    if not filters:
        return
    wanted = [
        (endpoint_id, event_type)
        for endpoint_id, event_types, agents in filters
        for event_type in types
        if (not event_types or event_type in event_types) and (not agents or run.agent_id in agents)
    ]
    if wanted:
        deliveries_create(wanted, run=run)


def deliveries_create(wanted: list[tuple[str, str]], *, run: Run) -> list[EndpointDelivery]:
    """One delivery per (endpoint, event type) whose endpoint still exists and is enabled."""
    now = timezone.now()
    live = {
        str(pk)
        for pk in Endpoint.objects.filter(pk__in={e for e, _ in wanted}, enabled=True).values_list(
            "pk", flat=True
        )
    }
    made = EndpointDelivery.objects.bulk_create(
        [
            EndpointDelivery(
                endpoint_id=endpoint_id,
                event_type=event_type,
                payload=payload(event_type, run, now),
                run_id=run.id,
            )
            for endpoint_id, event_type in wanted
            if endpoint_id in live
        ]
    )
    for delivery in made:
        delivery_defer(delivery)
    return made


def delivery_defer(delivery: EndpointDelivery, *, schedule_in_seconds: float = 0) -> None:
    """Defer the delivery's job (in the caller's transaction) and remember it on the row."""
    delivery.job_id = queues.defer_endpoint_delivery(
        delivery_id=delivery.pk, schedule_in_seconds=schedule_in_seconds
    )
    EndpointDelivery.objects.filter(pk=delivery.pk).update(job_id=delivery.job_id)


def _iso(value: datetime.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _output(run: Run) -> tuple[Any, bool]:
    """The run's output for an event's body, and whether it was left out for its size."""
    if run.status != Run.Status.SUCCEEDED or run.output is None:
        return None, False
    text = json.dumps(run.output, separators=(",", ":"), default=str)
    if len(text) > settings.UAI_WEBHOOK_OUTPUT_CHARS:
        return None, True
    return run.output, False


def payload(event_type: str, run: Run, now: datetime.datetime) -> dict[str, Any]:
    """An event's body: ``{"type", "timestamp", "data"}`` (Standard Webhooks' shape), ``data``
    the run as it is now (output left out past UAI_WEBHOOK_OUTPUT_CHARS: read it at /run/{id})."""
    output, truncated = _output(run)
    return {
        "type": event_type,
        "timestamp": now.isoformat(),
        "data": {
            "run_id": str(run.id),
            "agent": run.agent_id,
            "kind": run.kind,
            "chat_id": run.chat_id,
            "status": run.status,
            "attempt": run.attempts,
            "output": output,
            "output_truncated": truncated,
            "error": (run.error or "")[:MAX_ERROR_CHARS] or None,
            "input_prompt": run.input_prompt or None,
            "created_at": _iso(run.created_at),
            "started_at": _iso(run.started_at),
            "finished_at": _iso(run.finished_at),
        },
    }
