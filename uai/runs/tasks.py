"""procrastinate tasks: the only way agent work is executed. Tasks only call the executor/services.

Services defer these by name (``queues``), so that they need not import this module.
"""

from __future__ import annotations

from typing import Any, cast

from procrastinate import JobContext
from procrastinate import retry as retry_module
from procrastinate.contrib.django import app
from procrastinate.job_context import AbortReason
from procrastinate.jobs import Job

from uai.runs import executor, recovery, retention
from uai.runs.dbcall import db
from uai.runs.queues import EPHEMERAL_TASK_NAME, MAINTENANCE_QUEUE, RUN_TASK_NAME, TASK_QUEUE, TURN_QUEUE
from uai_project import tracing


class AgentRetryStrategy(retry_module.BaseRetryStrategy):
    """Retry as the run's agent says: the executor raises ``RetryRun`` while attempts remain."""

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> retry_module.RetryDecision | None:
        """Retry only what the executor asked to retry, after the agent's delay."""
        if isinstance(exception, executor.Interrupted):
            return retry_module.RetryDecision(retry_in={"seconds": 0})
        if not isinstance(exception, executor.RetryRun):
            return None
        delay = cast(int, job.task_kwargs.get("retry_delay_seconds") or 0)  # queues.defer_run's int
        return retry_module.RetryDecision(retry_in={"seconds": delay})


@app.task(name=RUN_TASK_NAME, queue=TASK_QUEUE, pass_context=True, retry=AgentRetryStrategy())
async def run_agent(
    context: JobContext,
    *,
    run_id: str,
    chat_id: str | None = None,
    max_attempts: int = 1,
    retry_delay_seconds: int = 0,
    traceparent: str = "",
) -> None:
    """Execute one attempt of a run (a task or a chat turn); ``traceparent``: the trace of the
    request that deferred it, when tracing is on."""
    attempt = context.job.attempts + 1
    with tracing.job_span(RUN_TASK_NAME, traceparent, run_id=run_id, chat_id=chat_id, attempt=attempt):
        await executor.execute_run(
            run_id=run_id,
            attempt=attempt,
            max_attempts=max_attempts,
            shutting_down=lambda: context.abort_reason() == AbortReason.SHUTDOWN,
        )


@app.task(name=EPHEMERAL_TASK_NAME, queue=TURN_QUEUE)
async def run_ephemeral(**payload: Any) -> None:
    """Execute a sessionless call: results go to a reply channel, nothing is stored."""
    parent = payload.pop("traceparent", "")
    with tracing.job_span(EPHEMERAL_TASK_NAME, parent, agent=payload.get("agent")):
        await executor.execute_ephemeral(payload)


@app.periodic(cron="* * * * *", periodic_id="uai-recover-stalled")
@app.task(name="uai.recover_stalled", queue=MAINTENANCE_QUEUE, pass_context=True)
async def recover_stalled(context: JobContext, timestamp: int) -> None:
    """Every minute: retry or fail the runs of dead workers, and fail orphaned runs (workers that
    serve this queue also sweep for dead workers' runs every UAI_RECOVERY_INTERVAL_SECONDS)."""
    await recovery.sweep_stalled(context.app, orphans=True)


@app.periodic(cron="17 * * * *", periodic_id="uai-prune-events")
@app.task(name="uai.prune_events", queue=MAINTENANCE_QUEUE)
async def prune_events(timestamp: int) -> None:
    """Hourly: drop events older than UAI_EVENT_RETENTION_DAYS."""
    await db(retention.prune_events)
