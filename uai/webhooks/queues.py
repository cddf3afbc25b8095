"""The delivery job's name and queue, and deferring it by name (services need not import tasks)."""

from __future__ import annotations

from typing import Any

from procrastinate import exceptions
from procrastinate.contrib.django import app

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
