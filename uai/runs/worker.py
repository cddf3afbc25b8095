"""Workers that outlive an outage of their database, and that sweep stalled runs every few seconds.

procrastinate's worker stops for good when a side task fails (its listener's connection drops,
a heartbeat cannot be written) or a fetch raises: a PostgreSQL restart ended every worker
process. Here a worker that stops for any reason but being asked to is started again, with
backoff, once its database answers — the same loop for ``manage.py procrastinate worker`` (its
``run_worker_async`` is this one, see ``worker_connector.on_app_ready``) and the embedded worker.

The lifecycle of one outage:
  1. a side task or a query fails → procrastinate stops the worker (its running jobs get
     UAI_SHUTDOWN_GRACE_SECONDS, then are interrupted) → one WARNING "database unreachable";
  2. a new worker is tried after 0.5 s, 1 s, 2 s … (at most UAI_WORKER_RECONNECT_MAX_SECONDS);
  3. once the database answers, the runs the outage interrupted are put back in the queue (the
     attempt not counted, as at a shutdown: ``recovery.requeue_interrupted``), and once a new
     worker registers, one WARNING "database reachable again"; the dead incarnation's row, if
     it outlived it, is deleted. An outage longer than UAI_STALLED_WORKER_SECONDS lets another
     worker's sweep take those runs first, as a dead worker's (retried or failed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from django.conf import settings
from procrastinate import app as app_module
from procrastinate import exceptions
from procrastinate import worker as procrastinate_worker

logger = logging.getLogger(__name__)

FIRST_RETRY_SECONDS = 0.5
MAINTENANCE_QUEUE = "maintenance"


class Worker(procrastinate_worker.Worker):
    """procrastinate's worker, which remembers why it stopped and sweeps stalled runs."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.failure: BaseException | None = None  # a side task's error: the worker did not mean to stop
        self.on_registered: list[Any] = []  # called once the worker is in the database
        self.stop_requested = False  # stopped on purpose (a signal, a cancellation)
        self.on_failure: list[Any] = []  # called with the first side task's error
        self.interrupted: list[int] = []  # the jobs it was running when it began to stop

    def stop(self) -> None:
        """Stop the worker; on purpose unless a side task failed (then it is started again)."""
        if self.failure is None:
            self.stop_requested = True
        super().stop()  # type: ignore[no-untyped-call]  # unannotated in procrastinate

    def sweeps(self) -> bool:
        """Whether this worker sweeps stalled runs: the ones that serve the maintenance queue."""
        return self.queues is None or MAINTENANCE_QUEUE in set(self.queues)

    def _start_side_tasks(self) -> list[asyncio.Task[Any]]:
        tasks = super()._start_side_tasks()
        if self.sweeps():
            tasks.append(asyncio.create_task(_sweep_forever(self.app), name="recover_stalled"))
        for task in tasks:
            task.add_done_callback(self._note_failure)
        return tasks

    def _note_failure(self, task: asyncio.Task[Any]) -> None:
        if not task.cancelled() and task.exception() is not None and self.failure is None:
            self.failure = task.exception()
            for callback in self.on_failure:
                callback(self.failure)

    async def _shutdown(self, side_tasks: list[asyncio.Task[Any]]) -> None:
        # procrastinate stops the heartbeat first, then gives running jobs
        # UAI_SHUTDOWN_GRACE_SECONDS: a sweep saw the worker as dead meanwhile (when the stalled
        # time is the shorter) and started its runs again elsewhere while they still ran here.
        self.interrupted = [c.job.id for c in self._running_jobs.values() if c.job.id is not None]
        if self.failure is not None and _is_outage(self.failure):
            # No grace when the database is what went: the jobs can write nothing meanwhile,
            # and the heartbeat cannot be written either, so another worker's sweep would take
            # them for a dead worker's and start them again while they still ran here.
            self.shutdown_graceful_timeout = 0
        beat = asyncio.create_task(
            self._update_heartbeat(),  # type: ignore[no-untyped-call]  # unannotated in procrastinate
            name="shutdown_heartbeat",
        )
        try:
            await super()._shutdown(side_tasks)
        finally:
            beat.cancel()
            with contextlib.suppress(BaseException):  # (the database may be what stopped it)
                await beat
        if self.interrupted and not self.stop_requested:
            # Stopped by an outage, and the database answers again already (the worker could
            # unregister): its interrupted jobs are put back now, before a sweep takes them for
            # a dead worker's. Otherwise it is done once the next worker of this process starts.
            from uai.runs import recovery

            with contextlib.suppress(Exception):
                await asyncio.to_thread(drop_broken_connections)
                await recovery.requeue_interrupted(self.app, job_ids=self.interrupted, worker_ids=[])
                self.interrupted = []

    async def _run_loop(self) -> None:
        # Reached once the worker is registered: its database answers.
        for callback in self.on_registered:
            await callback(self)
        await super()._run_loop()  # type: ignore[no-untyped-call]  # unannotated in procrastinate


async def _sweep_forever(app: app_module.App) -> None:
    """Every UAI_RECOVERY_INTERVAL_SECONDS: one query, and the runs of dead workers recovered."""
    from uai.runs import recovery

    while True:
        await asyncio.sleep(settings.UAI_RECOVERY_INTERVAL_SECONDS)
        try:
            await recovery.sweep_stalled(app)
        except Exception:
            # The database is away: the heartbeat and the listener notice and restart the worker.
            logger.debug("stalled-run sweep failed", exc_info=True)


def make_worker(app: app_module.App, **options: Any) -> Worker:
    """A :class:`Worker` with the app's worker defaults, as ``App.run_worker_async`` makes one."""
    app.perform_import_paths()
    return Worker(app=app, **{**app.worker_defaults, **options})


def _summary(error: BaseException) -> str:
    # psycopg's messages run over several lines (host, port, a hint): the first says it.
    cause = error.__cause__ or error
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[0]}" if text else type(cause).__name__


async def run_worker(app: app_module.App, **options: Any) -> None:
    """Run a worker until it is stopped on purpose (a signal, a cancellation, ``wait=False``
    running out of jobs); started again, with backoff, whenever it stops for another reason."""
    name = options.get("name") or "worker"
    down_since: float | None = None
    delay = FIRST_RETRY_SECONDS
    dead_worker_ids: list[int] = []
    interrupted_jobs: list[int] = []

    def went(failure: BaseException) -> None:
        nonlocal down_since
        if down_since is None:
            down_since = time.monotonic()
            logger.warning(
                "worker %s: database unreachable (%s); it starts again once the database answers "
                "(trying every %g s at most), and the runs it was running start again then",
                name,
                _summary(failure),
                settings.UAI_WORKER_RECONNECT_MAX_SECONDS,
            )
        else:
            logger.debug("worker %s: still no database (%s)", name, _summary(failure))

    async def registered(worker: Worker) -> None:
        nonlocal down_since, delay
        if down_since is not None:
            logger.warning(
                "worker %s: database reachable again after %.1f s; taking jobs again",
                name,
                time.monotonic() - down_since,
            )
            # Django's pooled connections died with the database: dropped now, not one failed
            # job each when a job next takes them.
            await asyncio.to_thread(drop_broken_connections)
        down_since, delay = None, FIRST_RETRY_SECONDS
        await _forget_dead(app, dead_worker_ids, interrupted_jobs)

    while True:
        worker = make_worker(app, **options)
        worker.on_registered.append(registered)
        worker.on_failure.append(went)
        failure: BaseException | None
        try:
            await worker.run()  # type: ignore[no-untyped-call]  # unannotated in procrastinate
            failure = worker.failure
        except asyncio.CancelledError:
            raise
        except Exception as error:
            failure = error
        if failure is None or worker.stop_requested:
            return
        if not _is_outage(failure):
            # A bug, not the database: restarting would abort the running jobs every few
            # seconds for ever. The process ends with it, as procrastinate's own worker does.
            logger.error("worker %s stopped: %s", name, _summary(failure), exc_info=failure)
            raise failure
        if worker.worker_id is not None:  # its row outlived it: unregistering failed
            dead_worker_ids.append(worker.worker_id)
        interrupted_jobs.extend(worker.interrupted)
        if failure is not worker.failure:  # (a side task's error was reported as it came)
            went(failure)
        await asyncio.sleep(delay)
        delay = min(delay * 2, settings.UAI_WORKER_RECONNECT_MAX_SECONDS)


def _is_outage(error: BaseException | None) -> bool:
    """Whether a worker's failure is its database going away (not a bug)."""
    # (Imported here: logging's configuration imports this module before the apps are ready.)
    from uai_project import errors

    if errors.outage(error) == "database":
        return True
    while error is not None:
        if isinstance(error, OSError):
            return True
        if isinstance(error, exceptions.ConnectorException) and error.__cause__ is None:
            return True
        error = error.__cause__
    return False


# procrastinate's log actions for a side task's failure ("<task name>_error" as it is collected).
_SIDE_TASK_ACTIONS = {"side_task_failed", "poll_jobs_to_abort_error"} | {
    f"{name}_error" for name in ("update_heartbeats", "deferrer", "listener", "recover_stalled")
}


class OutageNoise(logging.Filter):
    """Leaves out the log records that repeat, with a traceback each, what the worker's one line
    says (procrastinate's side task failures, psycopg's pool retrying a connection)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """False for a record of a lost database connection, from procrastinate or psycopg's pool."""
        if record.name.startswith("psycopg.pool") and record.levelno < logging.ERROR:
            return False
        if record.name.startswith("procrastinate.") and record.exc_info:
            failure = record.exc_info[1]
            if getattr(record, "action", "") in _SIDE_TASK_ACTIONS and _is_outage(failure):
                return False
        return True


def drop_broken_connections() -> None:
    """Test the idle connections of Django's pool, replacing the ones that no longer work."""
    from django.db import connections

    for alias in connections:
        pool = getattr(connections[alias], "pool", None)
        if pool is not None:
            pool.check()


async def _forget_dead(app: app_module.App, worker_ids: list[int], job_ids: list[int]) -> None:
    """Start again the jobs this process's earlier workers were running when the database went
    away, then delete those workers' rows: none of their jobs runs here any more (a worker waits
    for its jobs before it stops)."""
    from uai.runs import recovery

    if job_ids:
        try:
            await recovery.requeue_interrupted(app, job_ids=list(job_ids), worker_ids=list(worker_ids))
            job_ids.clear()
        except Exception:  # tried again at the next restart; else the sweep's (counts the attempt)
            logger.warning("could not put back the runs the outage interrupted", exc_info=True)
    while worker_ids:
        with contextlib.suppress(Exception):  # tried again at the next restart, or left to age
            await app.job_manager.unregister_worker(worker_ids[0])
            worker_ids.pop(0)
            continue
        return
