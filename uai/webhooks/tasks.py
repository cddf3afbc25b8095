"""procrastinate tasks of webhooks: the delivery job (it only calls ``delivery``)."""

from __future__ import annotations

import asyncio
import logging

from procrastinate import JobContext
from procrastinate import retry as retry_module
from procrastinate.contrib.django import app
from procrastinate.jobs import Job

from uai.runs import recovery
from uai.runs.dbcall import db
from uai.webhooks import delivery, services
from uai.webhooks.models import Webhook
from uai.webhooks.queues import DELIVER_TASK_NAME, ENDPOINT_TASK_NAME, WEBHOOK_QUEUE

logger = logging.getLogger(__name__)

ERROR_RETRIES = 10  # a job that raised (its database away a moment) starts again at most this often
ERROR_RETRY_SECONDS = 5

# A dead worker's delivery job is retried by the stalled-job sweep: it resumes from the cursor.
recovery.RESUMABLE_TASK_NAMES.add(DELIVER_TASK_NAME)


class DeliveryRetryStrategy(retry_module.BaseRetryStrategy):
    """A job stopped by its worker's shutdown starts again at once (from the cursor); one that
    raised, a few seconds later, a few times. Failed POSTs are retried inside the job."""

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> retry_module.RetryDecision | None:
        """Retry shutdowns at once, errors after ERROR_RETRY_SECONDS up to ERROR_RETRIES times."""
        if isinstance(exception, asyncio.CancelledError):
            return retry_module.RetryDecision(retry_in={"seconds": 0})
        if job.attempts >= ERROR_RETRIES:
            return None
        return retry_module.RetryDecision(retry_in={"seconds": ERROR_RETRY_SECONDS})


@app.task(name=DELIVER_TASK_NAME, queue=WEBHOOK_QUEUE, pass_context=True, retry=DeliveryRetryStrategy())
async def deliver_webhook(context: JobContext, *, webhook_id: str) -> None:
    """Deliver a webhook's bodies after its cursor, following its run."""
    try:
        await delivery.deliver(context.app, webhook_id=webhook_id)
    except Exception as exc:
        if context.job.attempts + 1 < ERROR_RETRIES:
            raise  # retried (DeliveryRetryStrategy): a database away for a moment
        # Out of retries: said on the webhook (the admin's "Deliver again" starts it anew).
        logger.exception("webhook %s: its delivery job failed %d times", webhook_id, ERROR_RETRIES)
        await db(
            services.webhook_finish,
            webhook_id=webhook_id,
            status=Webhook.Status.FAILED,
            error=f"The delivery job failed {ERROR_RETRIES} times: {type(exc).__name__}: {exc}",
        )


recovery.RESUMABLE_TASK_NAMES.add(ENDPOINT_TASK_NAME)


@app.task(name=ENDPOINT_TASK_NAME, queue=WEBHOOK_QUEUE, retry=DeliveryRetryStrategy())
async def deliver_endpoint(*, delivery_id: str) -> None:
    """One POST of an endpoint's delivery (its next one, after the backoff, is deferred by it)."""
    await delivery.deliver_endpoint(delivery_id=delivery_id)
