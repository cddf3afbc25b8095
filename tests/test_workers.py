"""Workers: stalled and dead ones, orphaned runs, procrastinate's connector, graceful shutdown, and
the server's embedded worker."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgiref.sync import async_to_sync

from tests.conftest import Process, free_port, process_env, start_worker, wait_for, wait_run


def test_stalled_worker__run_is_retried_then_finished(
    alice: httpx.Client,
    log_dir: Path,
    settings,  # type: ignore[no-untyped-def]
) -> None:
    """A worker killed mid-run: procrastinate's stalled-job handling retries the run elsewhere."""
    from procrastinate.contrib.django import app

    from uai.agents.models import Agent
    from uai.runs import recovery, services
    from uai.runs.dbcall import db

    settings.UAI_STALLED_WORKER_SECONDS = 1
    Agent.objects.create(
        name="isolated-slow",
        target="uai.agents.builtin.slow:slow",
        queue="stall-test",
        max_attempts=2,
    )
    doomed = start_worker(log_dir, "stall-test", name="doomed")
    try:
        task = alice.post("/run/", json={"agent": "isolated-slow", "input": {"steps": 40, "delay": 0.05}})
        task_id = task.json()["task_id"]
        wait_for(lambda: alice.get(f"/run/{task_id}").json()["progress"] > 0, timeout=20)
        doomed.kill(signal.SIGKILL)
    finally:
        doomed.kill()
    assert alice.get(f"/run/{task_id}").json()["status"] == "running"

    class PickedUpAtOnce:
        """procrastinate's job manager, where another worker starts a retried job at once (its
        first step is ``run_begin``): recovery requeued the run after retrying its job, setting
        a run that had started again back to ``queued``."""

        def __getattr__(self, name: str) -> Any:
            return getattr(app.job_manager, name)

        async def retry_job(self, job: Any, *args: Any, **kwargs: Any) -> None:
            await app.job_manager.retry_job(job, *args, **kwargs)
            await db(services.run_begin, run_id=task_id, attempt=job.attempts + 2)

    def recovered() -> dict:
        return async_to_sync(recovery.recover_stalled_runs)(PickedUpAtOnce())

    report = wait_for(lambda: (r := recovered())["retried"] and r, timeout=10, interval=0.5)
    assert report["retried"] == [task_id]
    assert alice.get(f"/run/{task_id}").json()["status"] == "running"

    rescuer = start_worker(log_dir, "stall-test", name="rescuer")
    try:
        done = wait_run(alice, task_id, "succeeded", "failed", timeout=30)
    finally:
        rescuer.kill()
    assert done["status"] == "succeeded" and done["attempts"] == 2
    logs = [log["message"] for log in alice.get(f"/run/{task_id}/logs").json()]
    assert any("stopped responding" in m for m in logs)


def test_stalled_worker__last_attempt_fails_the_run(
    alice: httpx.Client,
    log_dir: Path,
    settings,  # type: ignore[no-untyped-def]
) -> None:
    from procrastinate.contrib.django import app

    from uai.agents.models import Agent
    from uai.runs import recovery

    settings.UAI_STALLED_WORKER_SECONDS = 1
    Agent.objects.create(name="isolated-once", target="uai.agents.builtin.slow:slow", queue="stall-test-2")
    doomed = start_worker(log_dir, "stall-test-2", name="doomed-2")
    try:
        task_id = alice.post(
            "/run/", json={"agent": "isolated-once", "input": {"steps": 40, "delay": 0.05}}
        ).json()["task_id"]
        wait_for(lambda: alice.get(f"/run/{task_id}").json()["progress"] > 0, timeout=20)
        doomed.kill(signal.SIGKILL)
    finally:
        doomed.kill()
    wait_for(
        lambda: async_to_sync(recovery.recover_stalled_runs)(app.job_manager)["failed"],
        timeout=10,
        interval=0.5,
    )
    failed = alice.get(f"/run/{task_id}").json()
    assert failed["status"] == "failed" and "stopped responding" in failed["error"]


@pytest.mark.django_db(transaction=True)
def test_recovery__orphaned_runs_are_failed() -> None:
    import datetime

    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from uai.agents.selectors import agent_get
    from uai.runs.models import Run
    from uai.runs.recovery import orphaned_run_ids

    user = get_user_model().objects.create(username="orphans")
    old = timezone.now() - datetime.timedelta(minutes=5)
    lost = Run.objects.create(owner=user, agent=agent_get(name="echo"), status="running", job_id=None)
    fresh = Run.objects.create(owner=user, agent=agent_get(name="echo"), status="running", job_id=None)
    Run.objects.filter(pk=lost.pk).update(created_at=old)
    orphans = orphaned_run_ids()
    assert str(lost.pk) in orphans and str(fresh.pk) not in orphans


@pytest.mark.django_db(transaction=True)
def test_worker_connector__autocommit_and_still_woken_by_a_deferred_job() -> None:
    """Workers' queries are single calls of procrastinate's functions: no BEGIN/COMMIT round
    trips around them; and the listener (its own connection) still hears a job being deferred."""
    import asyncio

    from procrastinate.contrib.django import app
    from procrastinate.contrib.django.models import ProcrastinateJob
    from procrastinate.manager import JobManager

    from uai.runs import tasks

    async def check() -> tuple[int, dict]:
        connector = app.connector.get_worker_connector()
        await connector.open_async()
        heard: asyncio.Queue[dict] = asyncio.Queue()

        async def on_notification(*, channel: str, notification: dict) -> None:
            await heard.put(notification)

        listener = asyncio.create_task(
            JobManager(connector).listen_for_jobs(on_notification=on_notification, queues=["parked-listen"])
        )
        try:
            async with connector.pool.connection() as conn:
                assert conn.autocommit
                await conn.execute("SELECT 1")
                assert conn.info.transaction_status.name == "IDLE"  # nothing left open
            await asyncio.sleep(0.3)  # the listener is listening
            job_id = await asyncio.to_thread(
                lambda: tasks.run_ephemeral.configure(queue="parked-listen").defer(agent="echo")
            )
            return job_id, await asyncio.wait_for(heard.get(), timeout=5)
        finally:
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)
            await connector.close_async()

    job_id, notification = asyncio.run(check())
    assert notification == {"type": "job_inserted", "job_id": job_id}
    ProcrastinateJob.objects.filter(queue_name="parked-listen").delete()


@pytest.mark.django_db(transaction=True)
def test_worker__no_django_cleanup_around_jobs_and_no_connection_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """procrastinate's Django app closes Django's connections around every job, each time a trip
    to Django's thread-sensitive thread; UAI's tasks keep none there (``db()`` hands each back),
    and what does take one there — the periodic deferrer's ``defer`` — hands it back itself."""
    import asyncio

    from asgiref.sync import sync_to_async
    from django.db import connection
    from procrastinate.contrib.django import app, db_cleanup
    from procrastinate.contrib.django.models import ProcrastinateJob

    from uai.runs import tasks

    cleanups: list[str] = []
    close_old_connections = db_cleanup.close_old_connections

    def counted() -> None:  # what procrastinate's cleanup calls, still called
        cleanups.append("closed")
        close_old_connections()

    monkeypatch.setattr(db_cleanup, "close_old_connections", counted)
    queue = "parked-no-cleanup"
    job_id = tasks.prune_events.configure(queue=queue).defer(timestamp=0)

    async def work() -> tuple[int, bool]:
        worker_app = app.with_connector(app.connector.get_worker_connector())
        async with worker_app.open_async():
            await worker_app.run_worker_async(queues=[queue], wait=False, delete_jobs="never")
        # What the periodic deferrer does every minute: this app's own connector, from async code.
        deferred = await tasks.prune_events.configure(queue=queue).defer_async(timestamp=1)
        # ... in Django's thread-sensitive thread, where nothing closes a connection left open.
        return deferred, await sync_to_async(lambda: connection.connection is None)()

    deferred_id, released = asyncio.run(work())
    assert ProcrastinateJob.objects.get(id=job_id).status == "succeeded"
    assert ProcrastinateJob.objects.get(id=deferred_id).status == "todo"
    assert cleanups == []
    assert released
    ProcrastinateJob.objects.filter(queue_name=queue).delete()


def stop_gracefully(process: Process, within: float = 8) -> float:
    """SIGTERM, as a deploy sends it; the seconds the process took to exit by itself."""
    started = time.monotonic()
    os.killpg(process.proc.pid, signal.SIGTERM)
    try:
        process.proc.wait(within)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{process.name} did not stop within {within} s of SIGTERM:\n{process.output()}")
    return time.monotonic() - started


@pytest.mark.parametrize("worker", ["procrastinate worker", "serve daphne", "serve uvicorn"])
def test_shutdown__a_running_run_goes_back_to_the_queue_and_starts_again(
    alice: httpx.Client, log_dir: Path, worker: str
) -> None:
    """A deploy stops a worker while a run waits for input (or works longer than the grace). Under
    daphne the embedded worker died with the reactor; under uvicorn and `procrastinate worker`
    shutdown waited for the run forever (until the orchestrator's SIGKILL). Either way the run was
    failed a minute later as stalled. It goes back to the queue now, and starts again."""
    from uai.agents.models import Agent

    queue = "shutdown-" + worker.replace(" ", "-")
    Agent.objects.create(name=queue, target="uai.agents.builtin.slow:slow", queue=queue)
    env = {"UAI_SHUTDOWN_GRACE_SECONDS": "1"}
    if worker == "procrastinate worker":
        doomed = start_worker(log_dir, queue, name=queue, **env)
    else:  # the server's own worker, as in the embedded mode, on this test's queue alone
        server = worker.split()[1]
        args = [sys.executable, "manage.py", "serve", "--port", str(free_port()), "--server", server]
        env.update(UAI_EMBEDDED_WORKER="1", UAI_WORKER_QUEUES=queue)
        doomed = Process(queue, args, process_env(**env), log_dir)
    try:
        task_id = alice.post(
            "/run/", json={"agent": queue, "input": {"steps": 1, "delay": 0, "ask": "go on?"}}
        ).json()["task_id"]
        wait_run(alice, task_id, "input_required", timeout=30)
        took = stop_gracefully(doomed)
    finally:
        doomed.kill()
    assert took < 6  # the grace (1 s), not forever
    run = alice.get(f"/run/{task_id}").json()
    assert run["status"] == "queued", doomed.output()
    logs = [log["message"] for log in alice.get(f"/run/{task_id}/logs").json()]
    assert "The worker stopped during attempt 1; the run will start again." in logs

    rescuer = start_worker(log_dir, queue, name=f"{queue}-rescuer")
    try:
        wait_run(alice, task_id, "input_required", timeout=30)
        assert alice.post(f"/run/{task_id}/input", json={"text": "yes"}).status_code == 200
        done = wait_run(alice, task_id, "succeeded", "failed", timeout=30)
    finally:
        rescuer.kill()
    # Its one attempt (max_attempts 1) was not used up by the stop.
    assert done["status"] == "succeeded" and done["attempts"] == 2
    assert done["output"]["answer"] == "yes"


def test_embedded_worker__a_full_queue_does_not_hold_up_the_others(
    alice: httpx.Client, log_dir: Path
) -> None:
    """One worker served every queue with one set of slots: long runs (here one waiting for
    input, with one slot) held up every chat turn and the maintenance jobs behind them."""
    from uai.agents.models import Agent

    Agent.objects.create(name="hog", target="uai.agents.builtin.slow:slow", queue="starve-long")
    Agent.objects.create(name="quick", target="uai.agents.builtin.echo:echo", queue="starve-quick")
    args = [sys.executable, "manage.py", "serve", "--port", str(free_port())]
    env = process_env(
        UAI_EMBEDDED_WORKER="1", UAI_WORKER_QUEUES="starve-long,starve-quick", UAI_WORKER_CONCURRENCY="1"
    )
    server = Process("starve", args, env, log_dir)
    try:
        hog = alice.post("/run/", json={"agent": "hog", "input": {"steps": 0, "ask": "wait"}}).json()
        wait_run(alice, hog["task_id"], "input_required", timeout=30)
        quick = alice.post("/run/", json={"agent": "quick", "input": "hi"}).json()
        done = wait_run(alice, quick["task_id"], "succeeded", "failed", timeout=10)
        assert done["status"] == "succeeded", server.output()
        alice.delete(f"/run/{hog['task_id']}")
    finally:
        server.kill()


@pytest.mark.django_db(transaction=True)
async def test_shutdown__landing_while_the_run_starts_puts_it_back_in_the_queue() -> None:
    """A worker stopping (here: its database gone) just as it took a job: the cancellation landed
    while the run's start was being written. The start was committed all the same, the job ended
    `aborted`, and the run stayed `running` with nobody to run it until the orphan sweep failed it
    a minute later (reliability's pg-outage: "1 task running, job aborted")."""
    import asyncio

    from django.contrib.auth import get_user_model

    from uai.agents.models import Agent
    from uai.runs.dbcall import db
    from uai.runs.executor import Interrupted, execute_run
    from uai.runs.models import Log, Run
    from uai.runs.services import run_create

    user = await db(get_user_model().objects.create, username="stopped-at-start")
    # On a queue no worker serves: this test is the run's only executor.
    agent = await db(Agent.objects.create, name="started-late", target="tests.agents:polite", queue="parked")
    run = await db(run_create, owner_id=user.pk, agent=agent, input="hi")
    attempt = asyncio.create_task(
        execute_run(run_id=str(run.id), attempt=1, max_attempts=1, shutting_down=lambda: True)
    )
    await asyncio.sleep(0.005)  # the start is on its way to the database
    attempt.cancel()
    with pytest.raises(Interrupted):
        await attempt
    run = await db(Run.objects.get, pk=run.id)
    assert run.status == Run.Status.QUEUED and run.failed_attempts == 0
    messages = await db(lambda: list(Log.objects.filter(run_id=run.id).values_list("message", flat=True)))
    assert "The worker stopped during attempt 1; the run will start again." in messages


def test_worker__an_agent_imported_for_its_first_turn_does_not_hold_the_other_jobs(
    live: str, alice: httpx.Client
) -> None:
    """The first turn of an agent imports its module (a framework: seconds on a loaded machine).
    Imported on the worker's event loop, it held every other job's events and the heartbeat: under
    CI's load the stalled-worker sweep took a worker that was importing for dead."""
    from uai.agents.models import Agent
    from uai.runs.models import Event

    import_seconds = 3.0  # tests/slow_import_agent.py's IMPORT_SECONDS (not imported here: it sleeps)

    Agent.objects.create(name="slow-import", target="tests.slow_import_agent:imported")
    ticking = alice.post("/run/", json={"agent": "slow", "input": {"steps": 40, "delay": 0.1}}).json()[
        "task_id"
    ]
    wait_run(alice, ticking, "running")
    imported = alice.post("/run/", json={"agent": "slow-import", "input": "go"}).json()["task_id"]
    wait_run(alice, imported, "succeeded", timeout=30)
    wait_run(alice, ticking, "succeeded", timeout=30)
    times = list(Event.objects.filter(run_id=ticking).order_by("seq").values_list("created_at", flat=True))
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    assert len(times) > 40 and max(gaps) < import_seconds / 2, gaps
