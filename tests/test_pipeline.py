"""The execution pipeline: transactional deferral, the sink's numbering, and dead workers."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import pytest
from asgiref.sync import async_to_sync
from django.db import transaction

from tests.conftest import start_worker, wait_for, wait_run


@pytest.mark.django_db(transaction=True)
def test_run_create__job_rolls_back_with_the_run() -> None:
    from django.contrib.auth import get_user_model
    from procrastinate.contrib.django.models import ProcrastinateJob

    from uai.agents.models import Agent
    from uai.agents.registry import get_agent
    from uai.runs.models import Event, Run
    from uai.runs.services import run_create

    user = get_user_model().objects.create(username="rollback")
    # On a queue no worker serves, so the jobs stay where the test can count them.
    parked = Agent.objects.create(name="parked", target="uai.agents.builtin.echo:echo", queue="parked")
    parked_jobs = ProcrastinateJob.objects.filter(queue_name="parked")
    with pytest.raises(RuntimeError), transaction.atomic():
        run_create(owner_id=user.pk, agent=parked, input="x")
        assert parked_jobs.count() == 1
        raise RuntimeError("roll back")
    assert parked_jobs.count() == 0
    assert not Run.objects.exists()
    assert not Event.objects.exists()

    run = run_create(owner_id=user.pk, agent=parked, input="x")
    job = parked_jobs.get()
    assert job.id == run.job_id
    assert job.task_name == "uai.run_agent"
    assert job.args["run_id"] == str(run.id)
    assert get_agent("echo").queue == ""


def test_sink__every_event_numbered_once_in_order(alice: httpx.Client) -> None:
    from uai.runs.models import Event

    session = alice.post("/chat/", json={"agent": "steps"}).json()["session_id"]
    for text in ["1+1", "2*3", "nothing"]:
        assert alice.post(f"/chat/{session}", json={"text": text}).status_code == 200
    seqs = list(Event.objects.filter(chat_id=session).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
    types = list(Event.objects.filter(chat_id=session).order_by("seq").values_list("type", flat=True))
    assert types.count("message") == 3 and types.count("stats") == 3
    message_seqs = [m["seq"] for m in alice.get(f"/chat/{session}/messages").json()]
    assert set(message_seqs) <= set(seqs)


def test_stalled_worker__run_is_retried_then_finished(
    alice: httpx.Client,
    log_dir: Path,
    settings,  # type: ignore[no-untyped-def]
) -> None:
    """A worker killed mid-run: procrastinate's stalled-job handling retries the run elsewhere."""
    from procrastinate.contrib.django import app

    from uai.agents.models import Agent
    from uai.runs import recovery

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

    def recovered() -> dict:
        return async_to_sync(recovery.recover_stalled_runs)(app.job_manager)

    report = wait_for(lambda: (r := recovered())["retried"] and r, timeout=10, interval=0.5)
    assert report["retried"] == [task_id]
    assert alice.get(f"/run/{task_id}").json()["status"] == "queued"

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

    from uai.agents.registry import get_agent
    from uai.runs.models import Run
    from uai.runs.recovery import orphaned_run_ids

    user = get_user_model().objects.create(username="orphans")
    old = timezone.now() - datetime.timedelta(minutes=5)
    lost = Run.objects.create(owner=user, agent=get_agent("echo"), status="running", job_id=None)
    fresh = Run.objects.create(owner=user, agent=get_agent("echo"), status="running", job_id=None)
    Run.objects.filter(pk=lost.pk).update(created_at=old)
    orphans = orphaned_run_ids()
    assert str(lost.pk) in orphans and str(fresh.pk) not in orphans


def test_health__reports_database_and_worker(live: str) -> None:
    body = httpx.get(f"{live}/healthz").json()
    assert body["status"] == "ok" and body["database"] == "ok" and body["workers"] >= 1


def test_concurrent_turns__many_chats_at_once(user_client) -> None:  # type: ignore[no-untyped-def]
    import concurrent.futures

    # More waiting turns than the server's pool has connections: waiting must not hold one.
    client = user_client()
    sessions = [client.post("/chat/", json={}).json()["session_id"] for _ in range(32)]

    def turn(session: str) -> tuple[str, str]:
        body = client.post(f"/chat/{session}", json={"text": f"hello {session}"}).json()
        return body["status"], body["messages"][-1]["content"]

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(32) as pool:
        results = list(pool.map(turn, sessions))
    assert results == [("succeeded", f"hello {s}") for s in sessions]
    assert time.monotonic() - started < 20


def test_turns__reuse_their_cache_client(alice: httpx.Client) -> None:
    """The executor's database calls run in fresh contexts; the conversation cache must not open a
    new cache client (with Redis: new connections) for every turn."""
    from django.conf import settings

    from uai.chats import cache as conversation_cache
    from uai.runs.dbcall import db

    session = alice.post("/chat/", json={"agent": "echo"}).json()["session_id"]
    alice.post(f"/chat/{session}", json={"text": "warm up"})
    if settings.REDIS_URL:
        import redis

        def opened() -> int:
            return int(redis.Redis.from_url(settings.REDIS_URL).info("stats")["total_connections_received"])

        before = opened()
        for n in range(10):
            assert alice.post(f"/chat/{session}", json={"text": f"turn {n}"}).json()["status"] == "succeeded"
        # one connection per opened() call, and nothing per turn (it was two per turn)
        assert opened() - before <= 3
    stores = [async_to_sync(db)(conversation_cache._store) for _ in range(2)]
    assert stores[0] is stores[1] is conversation_cache._store()
