"""Outages for real: PostgreSQL or Redis cut under a server and workers (tests/faults.py).

The processes under test reach PostgreSQL and Redis through loopback proxies the test cuts and
restores; the test itself (and the suite's own server) reach them directly. Each test's agents
have queues of their own, so only the workers under test run their jobs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from django.conf import settings

from tests.conftest import (
    TEST_ENV,
    Process,
    free_port,
    process_env,
    register_agent,
    start_worker,
    wait_for,
    wait_run,
)
from tests.faults import TcpProxy, database_target, proxied_database_url, timed

OUTAGE_SECONDS = 2.5  # longer than the workers take to notice, short for the suite
HEALTHY_SECONDS = 60


@pytest.fixture
def pg_proxy() -> Iterator[TcpProxy]:
    """A cuttable way to the test database."""
    proxy = TcpProxy(database_target(settings.DATABASES["default"])).start()
    yield proxy
    proxy.close()


@pytest.fixture
def redis_proxy() -> Iterator[TcpProxy]:
    """A cuttable way to the suite's Redis (distributed mode only)."""
    url = os.environ.get("REDIS_URL")
    if not url:
        pytest.skip("needs REDIS_URL (distributed mode)")
    parsed = httpx.URL(url)
    proxy = TcpProxy((parsed.host or "127.0.0.1", parsed.port or 6379)).start()
    yield proxy
    proxy.close()


def proxied_env(pg: TcpProxy | None, redis: TcpProxy | None = None, **extra: str) -> dict[str, str]:
    """A process environment whose PostgreSQL (and Redis) are behind the proxies."""
    env = process_env(**extra)
    if pg is not None:
        env["DATABASE_URL"] = proxied_database_url(settings.DATABASES["default"], pg.port)
        env.pop("UAI_EMBEDDED_DATABASE_URL", None)
    if redis is None:
        env.pop("REDIS_URL", None)
    else:
        db_number = httpx.URL(os.environ["REDIS_URL"]).path.strip("/") or "0"
        env["REDIS_URL"] = f"redis://127.0.0.1:{redis.port}/{db_number}"
    return env


def start_proxied_worker(log_dir: Path, name: str, queues: str, env: dict[str, str]) -> Process:
    """``manage.py procrastinate worker`` (what `make worker` runs), through the proxies."""
    args = [sys.executable, "manage.py", "procrastinate", "worker", "--name", name, "--queues", queues]
    return Process(name, args, env, log_dir)


def start_proxied_server(log_dir: Path, name: str, env: dict[str, str]) -> tuple[Process, str]:
    """``manage.py serve`` through the proxies; returns it and its URL once /healthz answers."""
    port = free_port()
    server = Process(name, [sys.executable, "manage.py", "serve", "--port", str(port)], env, log_dir)
    url = f"http://127.0.0.1:{port}"
    try:
        timed(lambda: httpx.get(url + "/healthz", timeout=2).status_code == 200, timeout=HEALTHY_SECONDS)
    except TimeoutError:
        server.kill()
        pytest.fail(f"{name} did not become healthy:\n{server.output()}")
    return server, url


def run_through(client: httpx.Client, agent: str, timeout: float = 30) -> dict:
    """Start a run of ``agent`` and wait for its end."""
    response = client.post("/run/", json={"agent": agent, "input": {"steps": 1, "delay": 0}})
    assert response.status_code == 201, response.text
    return wait_run(client, response.json()["task_id"], "succeeded", "failed", timeout=timeout)


def test_worker__rides_out_a_database_outage(alice: httpx.Client, log_dir: Path, pg_proxy: TcpProxy) -> None:
    """`procrastinate worker` outlives PostgreSQL going away, says so, and works again after."""
    register_agent("outage-worker", "python", "uai.agents.builtin.slow:slow", queue="outage-w")
    worker = start_proxied_worker(log_dir, "outage-worker", "outage-w", proxied_env(pg_proxy))
    try:
        assert run_through(alice, "outage-worker")["status"] == "succeeded"
        pg_proxy.cut()
        time.sleep(OUTAGE_SECONDS)
        # Deferred during the outage (the suite's server reaches the database directly).
        queued = alice.post("/run/", json={"agent": "outage-worker", "input": {"steps": 1, "delay": 0}})
        pg_proxy.restore()
        assert worker.proc.poll() is None, worker.output()
        done = wait_run(alice, queued.json()["task_id"], "succeeded", "failed", timeout=30)
        assert done["status"] == "succeeded", done
        assert worker.proc.poll() is None, worker.output()
        log = worker.log_path.read_text()
        assert "database unreachable" in log and "database reachable again" in log, log
    finally:
        worker.kill()


def test_embedded_worker__rides_out_a_database_outage(
    alice: httpx.Client, log_dir: Path, pg_proxy: TcpProxy
) -> None:
    """The server's own worker outlives PostgreSQL going away, and /healthz comes back to 200."""
    register_agent("outage-embedded", "python", "uai.agents.builtin.slow:slow", queue="outage-e")
    env = proxied_env(pg_proxy, UAI_EMBEDDED_WORKER="true", UAI_WORKER_QUEUES="outage-e")
    server, url = start_proxied_server(log_dir, "outage-embedded", env)
    try:
        assert run_through(alice, "outage-embedded")["status"] == "succeeded"
        pg_proxy.cut()
        wait_for(lambda: httpx.get(url + "/healthz", timeout=5).status_code == 503, timeout=10)
        time.sleep(OUTAGE_SECONDS)
        queued = alice.post("/run/", json={"agent": "outage-embedded", "input": {"steps": 1, "delay": 0}})
        pg_proxy.restore()
        recovered = timed(lambda: httpx.get(url + "/healthz", timeout=5).status_code == 200, timeout=30)
        done = wait_run(alice, queued.json()["task_id"], "succeeded", "failed", timeout=30)
        assert done["status"] == "succeeded", done
        log = server.log_path.read_text()
        assert "database unreachable" in log and "database reachable again" in log, log
        assert recovered < 15
    finally:
        server.kill()


def test_recovery__dead_workers_run_is_failed_within_seconds(alice: httpx.Client, log_dir: Path) -> None:
    """kill -9 of a worker mid-run: the sweeping worker fails its run about
    UAI_STALLED_WORKER_SECONDS after its last heartbeat (6 s here), not at the next minute."""
    register_agent("outage-stall", "python", "uai.agents.builtin.slow:slow", queue="outage-stall")
    doomed = start_worker(log_dir, "outage-stall", name="outage-doomed")
    try:
        response = alice.post("/run/", json={"agent": "outage-stall", "input": {"steps": 200, "delay": 0.05}})
        task_id = response.json()["task_id"]
        wait_for(lambda: alice.get(f"/run/{task_id}").json()["progress"] > 0, timeout=30)
        doomed.kill(signal.SIGKILL)
        killed = time.monotonic()
    finally:
        doomed.kill()
    failed = wait_run(alice, task_id, "failed", "succeeded", timeout=20)
    took = time.monotonic() - killed
    assert failed["status"] == "failed" and "stopped responding" in failed["error"], failed
    stalled = float(TEST_ENV["UAI_STALLED_WORKER_SECONDS"])
    assert took < stalled + 5, f"recovered {took:.1f} s after the kill"


def test_turn__starts_and_ends_while_redis_is_down(
    alice: httpx.Client, log_dir: Path, redis_proxy: TcpProxy
) -> None:
    """Redis cut as a turn's job starts: the conversation cache falls back to PostgreSQL and the
    turn is answered (it stayed ``running`` ~1.5 min, then failed as "job was lost")."""
    register_agent("outage-recall", "python", "tests.agents:recall", queue="outage-r")
    worker = start_proxied_worker(log_dir, "outage-redis", "outage-r", proxied_env(None, redis_proxy))
    try:
        session = alice.post("/chat/", json={"agent": "outage-recall"}).json()["session_id"]
        first = alice.post(f"/chat/{session}", json={"text": "one"}, timeout=30)
        assert first.json()["status"] == "succeeded", first.text
        redis_proxy.cut()
        response = alice.post(f"/chat/{session}", json={"text": "two", "wait": False})
        assert response.status_code == 202, response.text
        done = wait_run(alice, response.json()["run_id"], "succeeded", "failed", timeout=15)
        assert done["status"] == "succeeded", done
        assert done["output"] == "1 earlier: one", done
        redis_proxy.restore()
        assert "conversation cache unreachable" in worker.log_path.read_text()
    finally:
        worker.kill()


def test_server__answers_503_with_retry_after_while_the_database_is_down(
    alice: httpx.Client, log_dir: Path, pg_proxy: TcpProxy
) -> None:
    """REST and SSE routes answer 503 ``unavailable`` with Retry-After (not 500) while PostgreSQL is
    away, a WebSocket is closed with 4013 (try again later), and the server serves again once it is back."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    env = proxied_env(pg_proxy, UAI_WORKER_QUEUES="outage-none", UAI_DB_POOL_TIMEOUT_SECONDS="2")
    if not os.environ.get("REDIS_URL"):
        env["UAI_EMBEDDED_WORKER"] = "true"
    server, url = start_proxied_server(log_dir, "outage-web", env)
    client = httpx.Client(base_url=url, headers=alice.headers, timeout=30)
    try:
        task_id = client.post("/run/", json={"agent": "echo", "input": "x"}).json()["task_id"]
        session = client.post("/chat/", json={"agent": "echo"}).json()["session_id"]
        pg_proxy.cut()
        answers = [
            client.get("/run/"),
            client.post(f"/chat/{session}", json={"text": "hello"}),
            client.get(f"/run/{task_id}/stream"),
            client.get(f"/chat/{session}/stream"),
        ]
        for answer in answers:
            assert answer.status_code == 503, (answer.request.url, answer.status_code, answer.text)
            assert answer.json()["code"] == "unavailable", answer.text
            assert int(answer.headers["Retry-After"]) > 0
        token = alice.headers["Authorization"].split()[1]
        ws = "ws://" + url.removeprefix("http://") + f"/chat/{session}?token={token}"
        with connect(ws, open_timeout=10) as socket, pytest.raises(ConnectionClosed) as closed:
            socket.send('{"type": "client", "message": "hi", "message_id": "m1"}')
            socket.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4013
        pg_proxy.restore()
        back = timed(lambda: client.get("/run/").status_code == 200, timeout=20)
        assert back < 10
    finally:
        client.close()
        server.kill()


def test_worker__stopping_worker_keeps_its_runs_while_it_lets_them_end(
    alice: httpx.Client, log_dir: Path
) -> None:
    """SIGTERM mid-run with a grace longer than the stalled time (8 s, 6 s here): the stopping
    worker still beats, so no sweep starts its run elsewhere while it runs here (it ran twice)."""
    register_agent(
        "outage-term", "python", "uai.agents.builtin.slow:slow", queue="outage-term", max_attempts=2
    )
    doomed = start_worker(log_dir, "outage-term", name="outage-term-doomed", UAI_SHUTDOWN_GRACE_SECONDS="8")
    rescuer = None
    try:
        response = alice.post("/run/", json={"agent": "outage-term", "input": {"steps": 150, "delay": 0.1}})
        task_id = response.json()["task_id"]
        wait_for(lambda: alice.get(f"/run/{task_id}").json()["progress"] > 0, timeout=30)
        rescuer = start_worker(log_dir, "outage-term", name="outage-term-rescuer")
        doomed.kill(signal.SIGTERM, timeout=15)
        done = wait_run(alice, task_id, "succeeded", "failed", timeout=30)
    finally:
        doomed.kill()
        if rescuer is not None:
            rescuer.kill()
    # One interruption, one more attempt: not a second, sweeping one on top.
    assert done["status"] == "succeeded" and done["attempts"] == 2, done
    logs = [log["message"] for log in alice.get(f"/run/{task_id}/logs").json()]
    assert not any("stopped responding" in m for m in logs), logs


@pytest.mark.parametrize(
    ("how", "worker_env"),
    [
        ("its writes fail", {}),
        # Aborted at once, and even the job's end cannot be written: the restarted worker puts
        # the job back (uai.runs.recovery.requeue_interrupted).
        ("its job's end is lost", {"UAI_SHUTDOWN_GRACE_SECONDS": "0", "UAI_DB_POOL_TIMEOUT_SECONDS": "0.5"}),
    ],
)
def test_worker__run_in_flight_starts_again_after_a_database_outage(
    alice: httpx.Client, log_dir: Path, pg_proxy: TcpProxy, how: str, worker_env: dict[str, str]
) -> None:
    """A run going when its worker loses PostgreSQL starts again once it answers, its attempt not
    counted (it stayed ``running`` with its job failed, until the orphan sweep failed it)."""
    queue = "outage-f" + str(len(worker_env))
    register_agent(queue, "python", "uai.agents.builtin.slow:slow", queue=queue)
    worker = start_proxied_worker(log_dir, queue, queue, proxied_env(pg_proxy, **worker_env))
    try:
        response = alice.post("/run/", json={"agent": queue, "input": {"steps": 30, "delay": 0.1}})
        task_id = response.json()["task_id"]
        wait_for(lambda: alice.get(f"/run/{task_id}").json()["progress"] > 0, timeout=30)
        pg_proxy.cut()
        time.sleep(1.5)  # shorter than the stalled time (3 s): no other worker's sweep takes it
        pg_proxy.restore()
        done = wait_run(alice, task_id, "succeeded", "failed", timeout=40)
    finally:
        worker.kill()
    assert done["status"] == "succeeded" and done["attempts"] == 2, done


def _post_quietly(client: httpx.Client, path: str, body: dict) -> None:
    """POST and forget: the server is stopped under the request, which then fails."""
    with contextlib.suppress(httpx.HTTPError):
        client.post(path, json=body)


@pytest.mark.parametrize("server_kind", ["daphne", "uvicorn"])
def test_server__stops_on_sigterm_while_turns_wait_on_it(
    alice: httpx.Client, log_dir: Path, server_kind: str
) -> None:
    """SIGTERM while a `POST /chat/{id}` waits for its turn and a WebSocket follows the chat: the
    process exits within its grace (it stayed up for good: the waiting request's thread blocked
    on a loop that had stopped, and Python joins its threads at exit). The turn is kept."""
    from websockets.sync.client import connect

    register_agent("sigterm-wait", "python", "uai.agents.builtin.echo:echo", queue="sigterm-nobody")
    env = process_env(UAI_SERVER=server_kind, UAI_WORKER_QUEUES="sigterm-nobody-either")
    port = free_port()
    server = Process(
        f"sigterm-{server_kind}", [sys.executable, "manage.py", "serve", "--port", str(port)], env, log_dir
    )
    url = f"http://127.0.0.1:{port}"
    client = httpx.Client(base_url=url, headers=alice.headers, timeout=30)
    try:
        timed(lambda: httpx.get(url + "/healthz", timeout=2).status_code < 500, timeout=HEALTHY_SECONDS)
        session = client.post("/chat/", json={"agent": "sigterm-wait"}).json()["session_id"]
        token = alice.headers["Authorization"].split()[1]
        with connect(f"ws://127.0.0.1:{port}/chat/{session}?token={token}", open_timeout=10):
            waiting = threading.Thread(
                target=_post_quietly, args=(client, f"/chat/{session}", {"text": "wait for me"}), daemon=True
            )
            waiting.start()
            wait_for(lambda: alice.get(f"/chat/{session}/messages").json(), timeout=10)
            server.proc.send_signal(signal.SIGTERM)
            started = time.monotonic()
            try:
                server.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pytest.fail(f"{server_kind} still running 15 s after SIGTERM:\n{server.output()}")
            took = time.monotonic() - started
        assert took < 12, f"{server_kind} took {took:.1f} s to stop"
        messages = alice.get(f"/chat/{session}/messages").json()
        assert [m["content"] for m in messages] == ["wait for me"], messages
    finally:
        client.close()
        server.kill()


def test_outage__a_querys_own_failure_is_not_an_outage() -> None:
    """A connection that failed, a server going down or a pool with nothing to give is an outage
    (503, a worker restart); a deadlock, a statement timeout or a full disk is not, though
    psycopg calls them operational too: they were 503s with Retry-After, retried for ever."""
    import psycopg
    import psycopg_pool
    from django import db
    from psycopg import errors as pg_errors

    from uai_project.errors import outage

    def wrapped(error: Exception) -> Exception:
        """As Django raises it: its own class, psycopg's error as the cause."""
        try:
            try:
                raise error
            except psycopg.Error as cause:
                raise db.OperationalError(str(cause)) from cause
        except db.OperationalError as django_error:
            return django_error

    for error in [
        psycopg.OperationalError("connection refused"),
        wrapped(psycopg.OperationalError("server closed the connection unexpectedly")),
        pg_errors.AdminShutdown("terminating connection due to administrator command"),
        pg_errors.TooManyConnections("too many clients"),
        psycopg_pool.PoolTimeout("couldn't get a connection after 10 s"),
        db.InterfaceError("connection already closed"),
    ]:
        assert outage(error) == "database", error
    for error in [
        pg_errors.DeadlockDetected("deadlock detected"),
        wrapped(pg_errors.QueryCanceled("canceling statement due to statement timeout")),
        wrapped(pg_errors.DiskFull("could not extend file")),
        ValueError("not a database error at all"),
    ]:
        assert outage(error) is None, error


def test_attempts__an_interrupted_attempt_is_not_held_against_max_attempts(
    alice: httpx.Client, log_dir: Path
) -> None:
    """max_attempts 2: attempt 1 interrupted by a worker's SIGTERM, attempt 2's worker killed -9.
    The interruption failed nothing, so the dead worker's attempt is the first counted one and
    the run is tried a third time (it was failed: procrastinate counts every attempt)."""
    register_agent(
        "attempts-interrupted", "python", "uai.agents.builtin.slow:slow", queue="attempts-i", max_attempts=2
    )
    body = {"agent": "attempts-interrupted", "input": {"steps": 80, "delay": 0.05}}
    workers = [start_worker(log_dir, "attempts-i", name="attempts-1", UAI_SHUTDOWN_GRACE_SECONDS="0")]
    try:
        task_id = alice.post("/run/", json=body).json()["task_id"]
        wait_for(lambda: alice.get(f"/run/{task_id}").json()["progress"] > 0, timeout=30)
        workers[0].kill(signal.SIGTERM)
        workers.append(start_worker(log_dir, "attempts-i", name="attempts-2"))
        wait_for(
            lambda: (r := alice.get(f"/run/{task_id}").json())["attempts"] == 2 and r["progress"] > 0,
            timeout=30,
        )
        workers[1].kill(signal.SIGKILL)
        workers.append(start_worker(log_dir, "attempts-i", name="attempts-3"))
        done = wait_run(alice, task_id, "succeeded", "failed", timeout=60)
    finally:
        for worker in workers:
            worker.kill()
    assert done["status"] == "succeeded" and done["attempts"] == 3, done
