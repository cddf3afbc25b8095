"""The job queues agent work goes through: names, and deferring or aborting a job by its task's name.

Services defer and abort jobs here, by name, without importing the task functions (``tasks``
imports the executor, which calls the services): the tasks are registered when the app loads.
"""

from __future__ import annotations

from typing import Any

from procrastinate import manager, tasks
from procrastinate.contrib.django import app, django_connector
from procrastinate.contrib.django.settings import settings as procrastinate_settings

from uai_project import tracing

RUN_TASK_NAME = "uai.run_agent"
EPHEMERAL_TASK_NAME = "uai.run_ephemeral"
TURN_QUEUE = "turns"  # interactive chat turns: never starved by long runs
TASK_QUEUE = "runs"
MAINTENANCE_QUEUE = "maintenance"

_django_jobs: manager.JobManager | None = None


def _in_transaction_jobs() -> manager.JobManager:
    """A job manager that writes with Django's connection, in the caller's transaction.

    ``procrastinate worker`` replaces ``app``'s connector with its own pool for as long as it
    runs: a sync ``defer`` there went through a connection of its own and committed at once, so
    a run deferred from a job (a schedule's tick) could start, and find no run, before the
    transaction that made the run committed.
    """
    global _django_jobs
    if isinstance(app.connector, django_connector.DjangoConnector):
        return app.job_manager
    if _django_jobs is None:
        _django_jobs = manager.JobManager(
            django_connector.DjangoConnector(alias=procrastinate_settings.DATABASE_ALIAS)
        )
    return _django_jobs


def defer_run(
    *, run_id: Any, chat_id: str | None, max_attempts: int, retry_delay_seconds: int, queue: str = ""
) -> int:
    """Defer a run's job (call inside the transaction that creates the run)."""
    deferrer = tasks.configure_task(
        name=RUN_TASK_NAME,
        job_manager=_in_transaction_jobs(),
        queue=queue or (TURN_QUEUE if chat_id else TASK_QUEUE),
        # Turns of one chat run one at a time, in the order they were sent.
        lock=f"chat:{chat_id}" if chat_id else None,
    )
    # The request's trace goes with its job (only when tracing is on: the arguments stay as they were).
    parent = tracing.traceparent()
    return deferrer.defer(
        run_id=str(run_id),
        chat_id=chat_id,
        max_attempts=max(1, max_attempts),
        retry_delay_seconds=retry_delay_seconds,
        **({"traceparent": parent} if parent else {}),
    )


def defer_ephemeral(payload: dict[str, Any]) -> int:
    """Defer a sessionless call."""
    parent = tracing.traceparent()
    if parent:
        payload = {**payload, "traceparent": parent}
    return app.configure_task(EPHEMERAL_TASK_NAME, allow_unknown=False).defer(**payload)


def abort_job(job_id: int) -> None:
    """Cancel a queued job, or ask the worker running it to abort it."""
    app.job_manager.cancel_job_by_id(job_id, abort=True)
