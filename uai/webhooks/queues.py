"""The delivery job's name and queue, and deferring it by name (services need not import tasks)."""

from __future__ import annotations

import functools
from typing import Any

import procrastinate
from procrastinate import exceptions
from procrastinate.contrib.django import app
from procrastinate.contrib.django.django_connector import DjangoConnector
from procrastinate.contrib.django.settings import settings as procrastinate_settings

DELIVER_TASK_NAME = "uai.webhook_deliver"
WEBHOOK_QUEUE = "webhooks"


def _deferrer(on_app: Any, webhook_id: Any, schedule_in_seconds: float) -> Any:
    """The delivery job of a webhook, configured on ``on_app``: one of a webhook's jobs runs at a
    time (``lock``) and one waits at most (``queueing_lock``)."""
    return on_app.configure_task(
        DELIVER_TASK_NAME,
        allow_unknown=False,
        queue=WEBHOOK_QUEUE,
        lock=f"webhook:{webhook_id}",
        queueing_lock=f"webhook:{webhook_id}",
        schedule_in={"seconds": schedule_in_seconds} if schedule_in_seconds else None,
    )


def defer_delivery(*, webhook_id: Any, schedule_in_seconds: float = 0) -> int | None:
    """Defer a webhook's delivery job (call inside the transaction that creates or resumes it).
    None when one is already waiting, which delivers everything after the cursor anyway."""
    try:
        job_id: int = _deferrer(app, webhook_id, schedule_in_seconds).defer(webhook_id=str(webhook_id))
        return job_id
    except exceptions.AlreadyEnqueued:
        return None


async def defer_delivery_async(
    worker_app: Any, *, webhook_id: Any, schedule_in_seconds: float = 0
) -> int | None:
    """``defer_delivery`` from a job, on its worker's app (``worker_app``: the job context's)."""
    try:
        job_id: int = await _deferrer(worker_app, webhook_id, schedule_in_seconds).defer_async(
            webhook_id=str(webhook_id)
        )
        return job_id
    except exceptions.AlreadyEnqueued:
        return None


ENDPOINT_TASK_NAME = "uai.endpoint_deliver"


@functools.cache
def _on_django_connection() -> procrastinate.App:
    """An app whose sync defers write through Django's connection, in the caller's transaction,
    in every process: ``procrastinate worker`` replaces the Django app's connector with its own
    (its sync defers would commit on a connection of their own, and a job deferred by a run's
    status in a worker could start before the delivery it sends was committed)."""
    return procrastinate.App(connector=DjangoConnector(alias=procrastinate_settings.DATABASE_ALIAS))


def defer_endpoint_delivery(*, delivery_id: Any, schedule_in_seconds: float = 0) -> int | None:
    """Defer the job of one endpoint delivery: its next POST (call inside the transaction that
    makes, retries or redelivers it: the job exists once that commits, not before). None when one
    is already waiting."""
    deferrer = _on_django_connection().configure_task(
        ENDPOINT_TASK_NAME,
        allow_unknown=True,  # (this app knows no task: it only writes the job's row)
        queue=WEBHOOK_QUEUE,
        lock=f"endpoint-delivery:{delivery_id}",
        queueing_lock=f"endpoint-delivery:{delivery_id}",
        schedule_in={"seconds": schedule_in_seconds} if schedule_in_seconds else None,
    )
    try:
        job_id: int = deferrer.defer(delivery_id=str(delivery_id))
        return job_id
    except exceptions.AlreadyEnqueued:
        return None
