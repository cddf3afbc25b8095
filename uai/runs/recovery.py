"""No run stays ``running`` forever: recovery of runs whose worker died or whose job was lost."""

from __future__ import annotations

import datetime
import json
import logging
from typing import Any

from django.conf import settings
from django.utils import timezone
from procrastinate import jobs, sql
from procrastinate.contrib.django.models import ProcrastinateJob
from procrastinate.manager import JobManager

from uai.runs import services
from uai.runs.dbcall import db
from uai.runs.models import Run
from uai.runs.queues import RUN_TASK_NAME

logger = logging.getLogger(__name__)

ORPHAN_GRACE_SECONDS = 60  # a run is only called orphaned when it is older than this


# Key of the PostgreSQL advisory lock one sweep holds: the workers that sweep (each one serving the
# maintenance queue, every UAI_RECOVERY_INTERVAL_SECONDS) never recover the same job twice — a
# second retry of a job another worker had started again would run it twice.
SWEEP_LOCK_KEY = 0x55414953  # "UAIS"

# Tasks whose job may simply start again when its worker died (it resumes from a cursor of its
# own, as a webhook's delivery does): the apps that define them add their names here.
RESUMABLE_TASK_NAMES: set[str] = set()


async def sweep_stalled(app: Any, *, orphans: bool = False) -> dict[str, list[str]] | None:
    """Recover the runs of dead workers (and, with ``orphans``, fail runs whose job is gone).

    One query when nothing is stalled; otherwise the sweep runs under an advisory lock, and
    None when another worker's sweep holds it (that one recovers them).
    """
    manager: JobManager = app.job_manager
    if not orphans and not await _stalled(manager):
        return None
    pool = getattr(app.connector, "pool", None)  # a worker's psycopg connector
    if pool is None:
        return await recover_stalled_runs(manager, orphans=orphans)
    async with pool.connection() as connection:
        cursor = await connection.execute("SELECT pg_try_advisory_lock(%s)", [SWEEP_LOCK_KEY])
        row = await cursor.fetchone()
        if not row or not row[0]:
            return None
        try:
            return await recover_stalled_runs(manager, orphans=orphans)
        finally:
            await connection.execute("SELECT pg_advisory_unlock(%s)", [SWEEP_LOCK_KEY])


# Still "doing", and not taken since by another worker: the interrupted worker's row is either
# still there (it could not unregister) or deleted (its jobs' worker_id became NULL).
_INTERRUPTED_JOBS = """
SELECT id, args, attempts FROM procrastinate_jobs
WHERE id = ANY(%s) AND status = 'doing' AND task_name = %s
  AND (worker_id IS NULL OR worker_id = ANY(%s))
"""


async def requeue_interrupted(app: Any, *, job_ids: list[int], worker_ids: list[int]) -> list[str]:
    """Put back the runs of jobs this process's workers were running when they stopped because
    the database went away (``job_ids``; ``worker_ids``: those workers).

    Their jobs were interrupted here (a worker lets its jobs end, then aborts them, before it
    stops), not lost with a dead process: like a shutdown's, the attempt is not counted, and the
    run starts again at once — instead of failing as a dead worker's one attempt. Under the sweep's
    lock, so a sweep that found them first (the outage outlasted UAI_STALLED_WORKER_SECONDS)
    and this never both retry one.
    """
    requeued: list[str] = []
    async with app.connector.pool.connection() as connection:
        cursor = await connection.execute("SELECT pg_advisory_lock(%s)", [SWEEP_LOCK_KEY])
        await cursor.fetchone()
        try:
            cursor = await connection.execute(_INTERRUPTED_JOBS, [job_ids, RUN_TASK_NAME, worker_ids])
            for job_id, args, attempts in await cursor.fetchall():
                kwargs = json.loads(args) if isinstance(args, str) else dict(args)
                attempt = attempts + 1
                await db(
                    services.run_requeue,
                    run_id=str(kwargs.get("run_id")),
                    error="",
                    attempt=attempt,
                    max_attempts=int(kwargs.get("max_attempts") or 1),
                    message=f"The worker lost its database during attempt {attempt}; the run will start again.",
                )
                # On the connection already held: just after an outage the pool may have no other.
                await connection.execute(
                    sql.queries["retry_job"],
                    {
                        "job_id": job_id,
                        "retry_at": timezone.now(),
                        "new_priority": None,
                        "new_queue_name": None,
                        "new_lock": None,
                    },
                )
                requeued.append(str(kwargs.get("run_id")))
        finally:
            await connection.execute("SELECT pg_advisory_unlock(%s)", [SWEEP_LOCK_KEY])
    if requeued:
        logger.warning("runs interrupted by the database outage, started again: %s", requeued)
    return requeued


async def _stalled(manager: JobManager) -> list[jobs.Job]:
    # One query for every task's stalled jobs (the sweep's usual answer is none).
    return [
        job
        for job in await manager.get_stalled_jobs(seconds_since_heartbeat=settings.UAI_STALLED_WORKER_SECONDS)
        if job.task_name == RUN_TASK_NAME or job.task_name in RESUMABLE_TASK_NAMES
    ]


async def recover_stalled_runs(manager: JobManager, *, orphans: bool = True) -> dict[str, list[str]]:
    """Retry (attempts left) or fail the runs of dead workers; fail runs whose job is gone."""
    report: dict[str, list[str]] = {"retried": [], "failed": [], "orphaned": []}
    stalled = await _stalled(manager)
    for job in stalled:
        if job.task_name != RUN_TASK_NAME:  # resumable: it picks up where the dead worker left off
            await manager.retry_job(job)
            report.setdefault("resumed", []).append(str(job.id))
            continue
        kwargs = _task_kwargs(job)
        run_id = str(kwargs.get("run_id"))
        max_attempts = int(kwargs.get("max_attempts") or 1)
        attempt = job.attempts + 1
        # A dead worker's attempt counts (the agent may be what killed it); earlier interrupted
        # ones (a shutdown, an outage) do not.
        if await db(_failed_attempts, run_id=run_id) + 1 < max_attempts:
            # The run first: once the job is retried, another worker may start it at once, and
            # a requeue after that would set a running run back to queued.
            await db(
                services.run_requeue,
                run_id=run_id,
                error="the worker running it stopped responding",
                attempt=attempt,
                max_attempts=max_attempts,
            )
            await manager.retry_job(job)
            report["retried"].append(run_id)
        else:
            await manager.finish_job(job, status=jobs.Status.FAILED, delete_job=False)
            await db(
                services.run_finish,
                run_id=run_id,
                status=Run.Status.FAILED,
                error="The worker running this run stopped responding.",
            )
            report["failed"].append(run_id)
    for run_id in await db(orphaned_run_ids) if orphans else []:
        await db(
            services.run_finish,
            run_id=run_id,
            status=Run.Status.FAILED,
            error="This run's job was lost; it will not run.",
        )
        report["orphaned"].append(run_id)
    if any(report.values()):
        logger.warning("recovered runs: %s", report)
    return report


def _failed_attempts(*, run_id: str) -> int:
    return Run.objects.filter(pk=run_id).values_list("failed_attempts", flat=True).first() or 0


def _task_kwargs(job: jobs.Job) -> dict[str, Any]:
    # Through Django's connection JSON columns arrive undecoded (Django decodes in its fields).
    kwargs: Any = job.task_kwargs
    return json.loads(kwargs) if isinstance(kwargs, str) else dict(kwargs)


def orphaned_run_ids(grace_seconds: float = ORPHAN_GRACE_SECONDS) -> list[str]:
    """Active runs whose job is neither waiting nor running (failed, cancelled or deleted)."""
    live_jobs: Any = ProcrastinateJob.objects.filter(status__in=["todo", "doing"]).values("id")
    cutoff = timezone.now() - datetime.timedelta(seconds=grace_seconds)
    return [
        str(pk)
        for pk in Run.objects.filter(status__in=Run.ACTIVE, created_at__lt=cutoff)
        .exclude(job_id__in=live_jobs)
        .values_list("id", flat=True)
    ]
