"""The delivery job's name and queue, and deferring it by name (services need not import tasks)."""

from __future__ import annotations

from typing import Any

from procrastinate import exceptions
from procrastinate.contrib.django import app

DELIVER_TASK_NAME = "uai.webhook_deliver"
WEBHOOK_QUEUE = "webhooks"


def defer_delivery(*, webhook_id: Any, schedule_in_seconds: float = 0) -> int | None:
    """Defer a webhook's delivery job (call inside the transaction that creates or resumes it).

    One job of a webhook runs at a time (``lock``) and one waits at most (``queueing_lock``):
    None when one is already waiting, which delivers everything after the cursor anyway.
    """
    deferrer = app.configure_task(
        DELIVER_TASK_NAME,
        allow_unknown=False,
        queue=WEBHOOK_QUEUE,
        lock=f"webhook:{webhook_id}",
        queueing_lock=f"webhook:{webhook_id}",
        schedule_in={"seconds": schedule_in_seconds} if schedule_in_seconds else None,
    )
    try:
        return deferrer.defer(webhook_id=str(webhook_id))
    except exceptions.AlreadyEnqueued:
        return None


async def defer_delivery_async(
    worker_app: Any, *, webhook_id: Any, schedule_in_seconds: float = 0
) -> int | None:
    """``defer_delivery`` from a job, on its worker's app (``worker_app``: the job context's)."""
    deferrer = worker_app.configure_task(
        DELIVER_TASK_NAME,
        allow_unknown=False,
        queue=WEBHOOK_QUEUE,
        lock=f"webhook:{webhook_id}",
        queueing_lock=f"webhook:{webhook_id}",
        schedule_in={"seconds": schedule_in_seconds} if schedule_in_seconds else None,
    )
    try:
        job_id: int = await deferrer.defer_async(webhook_id=str(webhook_id))
        return job_id
    except exceptions.AlreadyEnqueued:
        return None
