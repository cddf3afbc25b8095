"""Shared fixtures: a real UAI server (and worker) as subprocesses, users and HTTP clients.

The server runs exactly as `make run` runs it (``manage.py serve``), against the test database.
Without REDIS_URL it is the embedded mode (in-memory channel layer, in-process worker); with
REDIS_URL it is the distributed mode, and a separate ``procrastinate worker`` process is started.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings
from httpx_sse import connect_sse

from tests.openai_server import ScriptedOpenAI
from tests.receivers import Behaviour, Receiver

ROOT = Path(__file__).resolve().parent.parent
SERVER_START_SECONDS = 60
# Short heartbeats so the stalled-worker tests do not wait half a minute; a stalled time long
# enough that a loaded CI machine starving a worker a few seconds never has its runs taken for a
# dead worker's (workers sweep every heartbeat).
TEST_ENV = {
    "UAI_WORKER_HEARTBEAT_SECONDS": "0.5",
    "UAI_STALLED_WORKER_SECONDS": "6",
    "UAI_MAX_UPLOAD_BYTES": str(256 * 1024),
    "UAI_MAX_UPLOAD_FILES": "3",
    "UAI_MAX_MESSAGE_CHARS": "5000",
    "UAI_LOG_LEVEL": "WARNING",
    # Users are made anew for each test with the same ids (sequences are reset), so the cache's
    # per-user count of /v1 calls would run on across tests: the 429 has a server of its own.
    "UAI_OPENAI_RATE": "100000/min",
    # The same for every user's own rate, and their unfinished runs and turns: tests/test_limits.py
    # gives its users limits of their own (and has a server of its own for the defaults).
    "UAI_USER_RATE": "100000/min",
    "UAI_USER_MAX_CONCURRENT_RUNS": "0",
    "UAI_USER_MAX_CONCURRENT_TURNS": "0",
    "UAI_CORS_ALLOWED_ORIGINS": "http://localhost:3000",  # a front end's dev server: tests/test_cors.py
    # Webhooks: receivers the tests run on loopback (only 127.0.0.1: "localhost" stays refused),
    # retried and given up on fast; a job whose run waits ends and comes back within a second.
    "UAI_WEBHOOK_ALLOWED_URLS": "http://127.0.0.1:",
    "UAI_WEBHOOK_PRIVATE_NETWORKS": "127.0.0.0/8",  # loopback is not public: allowed for the receivers
    "UAI_WEBHOOK_ATTEMPTS": "4",
    "UAI_WEBHOOK_BACKOFF_SECONDS": "0.2",
    "UAI_WEBHOOK_TIMEOUT_SECONDS": "1",
    "UAI_WEBHOOK_IDLE_SECONDS": "1",
    "UAI_WEBHOOK_RECHECK_SECONDS": "0.5",
}


NPM_INSTALL_SECONDS = 300


def npm_project(source: Path, work: Path) -> Path:
    """The npm project ``source`` (a test's JavaScript client, an example page) copied into
    ``work`` (under var/, gitignored) with its packages installed from the npm registry — once,
    and again only when its package.json changes."""
    npm = shutil.which("npm")
    if shutil.which("node") is None or npm is None:
        pytest.fail("node and npm are needed to run the JavaScript clients (apt-get install nodejs npm)")
    for path in source.rglob("*"):
        if path.is_file() and not {"node_modules", "vendor"} & set(path.relative_to(source).parts):
            target = work / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    wanted = (source / "package.json").read_text()
    stamp = work / "node_modules" / ".uai-package.json"  # the package.json it was installed from
    if not (stamp.exists() and stamp.read_text() == wanted):
        installed = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund"],
            cwd=work,
            capture_output=True,
            text=True,
            timeout=NPM_INSTALL_SECONDS,
        )
        assert installed.returncode == 0, installed.stdout + installed.stderr
        stamp.write_text(wanted)
    return work


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def process_env(**extra: str) -> dict[str, str]:
    """The environment of a server or worker subprocess: this test database, test limits."""
    env = dict(os.environ)
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # set around browser tests, for the test process only
    env.update(TEST_ENV)
    env["UAI_DATABASE_NAME"] = settings.DATABASES["default"]["NAME"]
    env["UAI_CHANNEL_PREFIX"] = f"uai-test-{os.getpid()}"
    # The same cache as the test process, so tests can look into it (and flush it).
    env["UAI_CACHE_PREFIX"] = settings.CACHES["default"].get("KEY_PREFIX", "")
    env["UAI_MEDIA_ROOT"] = str(settings.MEDIA_ROOT)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


class Process:
    """A subprocess with its output in a log file, stopped by PID at the end."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self.log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]

    def kill(self, sig: int = signal.SIGTERM, timeout: float = 10) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.log.close()


def start_worker(log_dir: Path, *queues: str, name: str = "worker", **env: str) -> Process:
    """A real `procrastinate worker` process (optionally on some queues only)."""
    args = [sys.executable, "manage.py", "procrastinate", "worker", "--name", name]
    if queues:
        args += ["--queues", ",".join(queues)]
    return Process(name, args, process_env(**env), log_dir)


def pytest_report_header(config: pytest.Config) -> str:
    found = chromium_path()
    if found:
        return f"browser tests: Chromium at {found}"
    return "browser tests: NO Chromium found (apt-get install chromium) - they will be skipped"


def chromium_path() -> str | None:
    """The system's Chromium (never a downloaded one), or None."""
    return os.environ.get("UAI_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """A headless Chromium for a module's browser tests; without one they skip (or fail where
    UAI_REQUIRE_BROWSER is set, as in .ci/run)."""
    executable = chromium_path()
    if executable is None:
        message = "no Chromium found (apt-get install chromium, or set UAI_CHROMIUM): browser tests not run"
        if os.environ.get("UAI_REQUIRE_BROWSER"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread; the tests' own ORM calls
    # (users, passwords) are still plain sync code. Never passed on to the server: process_env.
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="session")
def search_service() -> Iterator[str]:
    """A web-search API on loopback: ``GET /search?q=…`` → ``{"results": [...]}``."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import parse_qs, urlparse

    class Search(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = parse_qs(urlparse(self.path).query).get("q", [""])[0]
            body = json.dumps(
                {
                    "results": [
                        {
                            "title": f"About {query}",
                            "url": "http://example.test/1",
                            "snippet": f"{query} explained",
                        },
                        {"title": "Second hit", "link": "http://example.test/2", "content": "more"},
                    ]
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Search)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/search?q={{query}}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def receiver_factory() -> Iterator[Callable[..., Receiver]]:
    """Receivers of webhooks on loopback (the test servers allow http://127.0.0.1:), closed after
    the test."""
    made: list[Receiver] = []

    def make(behaviour: Behaviour = lambda n: "ok") -> Receiver:
        made.append(Receiver(behaviour))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


@pytest.fixture(scope="session")
def model_server() -> Iterator[ScriptedOpenAI]:
    """The OpenAI-compatible model of the server's environment (``OPENAI_BASE_URL``), on loopback."""
    with ScriptedOpenAI() as server:
        yield server


@pytest.fixture(scope="session")
def live_server_url(
    django_db_setup: Any,
    django_db_blocker: Any,
    log_dir: Path,
    search_service: str,
    model_server: ScriptedOpenAI,
) -> Iterator[str]:
    """Start `manage.py serve` (and a worker in distributed mode); yield its base URL."""
    env = process_env(
        UAI_SEARCH_URL=search_service,
        OPENAI_BASE_URL=model_server.base_url,
        OPENAI_API_KEY="sk-test",
        UAI_EXAMPLE_MODEL="scripted",
    )
    yield from serve_until_done("server", "worker", env, log_dir)


def serve_until_done(server: str, worker: str, env: dict[str, str], log_dir: Path) -> Iterator[str]:
    """Start `manage.py serve` named ``server`` (and, in distributed mode, a `procrastinate
    worker` named ``worker`` on every queue); yield its URL once healthy; stop both after."""
    port = free_port()
    processes = [Process(server, [sys.executable, "manage.py", "serve", "--port", str(port)], env, log_dir)]
    if not settings.UAI_EMBEDDED_WORKER:
        worker_args = [sys.executable, "manage.py", "procrastinate", "worker", "--name", worker]
        worker_args += ["--queues", ",".join(settings.UAI_WORKER_QUEUES)]
        processes.append(Process(worker, worker_args, env, log_dir))
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + SERVER_START_SECONDS
    try:
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            for process in processes:
                if process.proc.poll() is not None:
                    pytest.fail(f"{process.name} exited early:\n{process.output()}")
            if time.monotonic() > deadline:
                pytest.fail("server did not become healthy:\n" + processes[0].output())
            time.sleep(0.2)
        yield url
    finally:
        for process in processes:
            process.kill()


@pytest.fixture(scope="session")
def content_type_ids(django_db_setup: Any, django_db_blocker: Any) -> dict[tuple[str, str], int]:
    """The content types' ids as the migrated test database has them, before any server starts."""
    from django.contrib.contenttypes.models import ContentType

    with django_db_blocker.unblock():
        return {(ct.app_label, ct.model): ct.pk for ct in ContentType.objects.all()}


def restore_content_type_ids(canonical: dict[tuple[str, str], int]) -> None:
    """Give the content types the ids the servers cached, if the last flush gave others.

    Every flush recreates the content types, numbered from their sequence: 1… after a test that
    reset the sequences, on from the last id after one that did not (``transaction=True``
    alone). A server process caches the ids (the admin's LogEntry rows point at them) and would
    write ids that no longer exist, a foreign-key violation.
    """
    from django.contrib.auth.models import Permission
    from django.contrib.contenttypes.models import ContentType
    from django.core.management.sql import emit_post_migrate_signal
    from django.db import connection

    if {(ct.app_label, ct.model): ct.pk for ct in ContentType.objects.all()} == canonical:
        return
    Permission.objects.all().delete()
    ContentType.objects.all().delete()
    ContentType.objects.bulk_create(
        [ContentType(pk=pk, app_label=app_label, model=model) for (app_label, model), pk in canonical.items()]
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('django_content_type', 'id'), %s)",
            [max(canonical.values())],
        )
    ContentType.objects.clear_cache()
    emit_post_migrate_signal(verbosity=0, interactive=False, db=connection.alias)  # the permissions


@pytest.fixture
def live(
    live_server_url: str, django_db_reset_sequences: Any, content_type_ids: dict[tuple[str, str], int]
) -> str:
    """The live server's URL, for a test whose data the server must see (committed)."""
    restore_content_type_ids(content_type_ids)
    return live_server_url


UserClient = Callable[..., httpx.Client]


@pytest.fixture
def user_client(live: str) -> Iterator[UserClient]:
    """A factory of (user, authenticated httpx client) against the live server."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    clients: list[httpx.Client] = []

    def make(username: str | None = None, **user_fields: Any) -> httpx.Client:
        username = username or f"user-{uuid.uuid4().hex[:8]}"
        user = get_user_model().objects.create(username=username, **user_fields)
        token = Token.objects.create(user=user)
        client = httpx.Client(base_url=live, headers={"Authorization": f"Bearer {token.key}"}, timeout=30)
        client.user = user  # type: ignore[attr-defined]
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def alice(user_client: UserClient) -> httpx.Client:
    return user_client("alice")


@pytest.fixture
def bob(user_client: UserClient) -> httpx.Client:
    return user_client("bob")


def set_password(user: Any, password: str) -> None:
    """Give a user a password (from async tests too: the thread's connection goes back)."""
    from django.db import connection

    try:
        user.set_password(password)
        user.save(update_fields=["password"])
    finally:
        connection.close()


def ws_url(live: str, path: str) -> str:
    return "ws://" + live.removeprefix("http://") + path


def token_of(client: httpx.Client) -> str:
    return client.headers["Authorization"].split()[1]


def wait_for(predicate: Callable[[], Any], *, timeout: float = 15, interval: float = 0.05) -> Any:
    """Poll until ``predicate()`` is truthy; return its value or fail."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(interval)


def cancel_run(client: httpx.Client, task_id: str) -> None:
    """DELETE a run; it answers ``cancelled`` and its job is aborted within 2 s."""
    from procrastinate.contrib.django.models import ProcrastinateJob

    from uai.runs.models import Run

    started = time.monotonic()
    response = client.delete(f"/run/{task_id}")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    job = Run.objects.get(pk=task_id).job_id
    wait_for(lambda: ProcrastinateJob.objects.get(pk=job).status == "aborted", timeout=2)
    assert time.monotonic() - started < 2.5


def run_status(client: httpx.Client, task_id: str) -> dict[str, Any]:
    response = client.get(f"/run/{task_id}")
    assert response.status_code == 200, response.text
    return response.json()


def wait_run(client: httpx.Client, task_id: str, *statuses: str, timeout: float = 15) -> dict[str, Any]:
    """Poll a run until its status is one of ``statuses``."""
    return wait_for(
        lambda: (data := run_status(client, task_id))["status"] in statuses and data, timeout=timeout
    )


def register_agent(name: str, adapter: str, target: str = "", **fields: Any) -> None:
    """An agent in the registry (committed, so the live server sees it)."""
    from uai.agents.models import Agent

    Agent.objects.create(name=name, adapter=adapter, target=target, **fields)


def register(name: str, target: str, **fields: object) -> None:
    """A Python agent in the registry (committed, so the live server sees it)."""
    from uai.agents.models import Agent

    Agent.objects.create(name=name, target=target, **fields)


def collect(client: httpx.Client, method: str, path: str, *, until: Any, **kwargs: Any) -> list[Any]:
    """Read SSE events until ``until(event)`` is true (or the stream ends)."""
    events = []
    with connect_sse(client, method, path, timeout=httpx.Timeout(30), **kwargs) as source:
        assert source.response.headers["content-type"].startswith("text/event-stream")
        assert source.response.headers["cache-control"] == "no-cache"
        for sse in source.iter_sse():
            events.append(sse)
            if until(sse):
                break
    return events


def openai_sdk(client: httpx.Client, **options: Any) -> Any:
    """The official ``openai`` client, as any OpenAI user makes it, against the live server as the
    user of ``client`` (the API key is their UAI token). No retries: a test sees every answer."""
    import openai

    options.setdefault("max_retries", 0)
    options.setdefault("timeout", 30)
    sdk = openai.OpenAI(
        base_url=str(client.base_url).rstrip("/") + "/v1", api_key=token_of(client), **options
    )
    _OPENAI_CLIENTS.append(sdk)
    return sdk


_OPENAI_CLIENTS: list[Any] = []


@pytest.fixture(autouse=True)
def _close_openai_clients() -> Iterator[None]:
    """The SDK clients a test made are closed after it (an unclosed socket is a warning, and
    warnings are errors here)."""
    yield
    while _OPENAI_CLIENTS:
        _OPENAI_CLIENTS.pop().close()


@pytest.fixture(scope="session", autouse=True)
def _no_connection_outlives_the_session(django_db_setup: Any, django_db_blocker: Any) -> Iterator[None]:
    """At the session's end, after the servers and workers were stopped (their fixtures end
    first) and before the test database is dropped: a connection of a process killed a moment ago
    that PostgreSQL has not yet seen go made the drop fail ("being accessed by other users")."""
    yield
    from django.db import connection

    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
