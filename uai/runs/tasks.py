"""procrastinate tasks: the only way agent work is executed. Tasks only call the executor/services."""

from __future__ import annotations

from typing import Any

from procrastinate import JobContext
from procrastinate import retry as retry_module
from procrastinate.contrib.django import app
from procrastinate.job_context import AbortReason
from procrastinate.jobs import Job

from uai.runs import executor, recovery, retention
from uai.runs.dbcall import db

RUN_TASK_NAME = "uai.run_agent"
TURN_QUEUE = "turns"  # interactive chat turns: never starved by long runs
TASK_QUEUE = "runs"
MAINTENANCE_QUEUE = "maintenance"


class AgentRetryStrategy(retry_module.BaseRetryStrategy):
    """Retry as the run's agent says: the executor raises ``RetryRun`` while attempts remain."""

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> retry_module.RetryDecision | None:
        """Retry only what the executor asked to retry, after the agent's delay."""
        if isinstance(exception, executor.Interrupted):
            return retry_module.RetryDecision(retry_in={"seconds": 0})
        if not isinstance(exception, executor.RetryRun):
            return None
        delay = int(job.task_kwargs.get("retry_delay_seconds") or 0)
        return retry_module.RetryDecision(retry_in={"seconds": delay})


@app.task(name=RUN_TASK_NAME, queue=TASK_QUEUE, pass_context=True, retry=AgentRetryStrategy())
async def run_agent(
    context: JobContext,
    *,
    run_id: str,
    chat_id: str | None = None,
    max_attempts: int = 1,
    retry_delay_seconds: int = 0,
) -> None:
    """Execute one attempt of a run (a task or a chat turn)."""
    await executor.execute_run(
        run_id=run_id,
        attempt=context.job.attempts + 1,
        max_attempts=max_attempts,
        shutting_down=lambda: context.abort_reason() == AbortReason.SHUTDOWN,
    )


@app.task(name="uai.run_ephemeral", queue=TURN_QUEUE)
async def run_ephemeral(**payload: Any) -> None:
    """Execute a sessionless call: results go to a reply channel, nothing is stored."""
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


def defer_run(
    *, run_id: Any, chat_id: str | None, max_attempts: int, retry_delay_seconds: int, queue: str = ""
) -> int:
    """Defer a run's job (call inside the transaction that creates the run)."""
    deferrer = run_agent.configure(
        queue=queue or (TURN_QUEUE if chat_id else TASK_QUEUE),
        # Turns of one chat run one at a time, in the order they were sent.
        lock=f"chat:{chat_id}" if chat_id else None,
    )
    return deferrer.defer(
        run_id=str(run_id),
        chat_id=chat_id,
        max_attempts=max(1, max_attempts),
        retry_delay_seconds=retry_delay_seconds,
    )


def defer_ephemeral(payload: dict[str, Any]) -> int:
    """Defer a sessionless call."""
    return run_ephemeral.defer(**payload)


def abort_job(job_id: int) -> None:
    """Cancel a queued job, or ask the worker running it to abort it."""
    app.job_manager.cancel_job_by_id(job_id, abort=True)
