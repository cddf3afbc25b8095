"""The job queues agent work goes through: names, and deferring or aborting a job by its task's name.

Services defer and abort jobs here, by name, without importing the task functions (``tasks``
imports the executor, which calls the services): the tasks are registered when the app loads.
"""

from __future__ import annotations

from typing import Any

from procrastinate.contrib.django import app

RUN_TASK_NAME = "uai.run_agent"
EPHEMERAL_TASK_NAME = "uai.run_ephemeral"
TURN_QUEUE = "turns"  # interactive chat turns: never starved by long runs
TASK_QUEUE = "runs"
MAINTENANCE_QUEUE = "maintenance"


def defer_run(
    *, run_id: Any, chat_id: str | None, max_attempts: int, retry_delay_seconds: int, queue: str = ""
) -> int:
    """Defer a run's job (call inside the transaction that creates the run)."""
    deferrer = app.configure_task(
        RUN_TASK_NAME,
        allow_unknown=False,
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
    return app.configure_task(EPHEMERAL_TASK_NAME, allow_unknown=False).defer(**payload)


def abort_job(job_id: int) -> None:
    """Cancel a queued job, or ask the worker running it to abort it."""
    app.job_manager.cancel_job_by_id(job_id, abort=True)
