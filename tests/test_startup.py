"""`make run`'s first minutes: a busy port, an unreachable database and a bad setting each stop
start-up with a non-zero exit and one line with the fix; the ready line comes once the port
listens, with the next step; an agent's expected failure is logged in one line."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from uai.runs.executor import agent_failure, log_failure

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def manage(*args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def lines(text: str) -> list[str]:
    return [
        line
        for line in text.splitlines()
        if line.strip() and "UserWarning" not in line and "super().__init__" not in line
    ]


@pytest.mark.parametrize("server", ["daphne", "uvicorn"])
def test_a_busy_port_stops_serve_with_one_line_naming_it(server: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = manage("serve", "--port", str(port), "--server", server)
    assert result.returncode != 0
    [line] = lines(result.stderr)
    assert f"port {port} on 127.0.0.1 is already in use" in line
    assert "UAI_PORT=" in line
    assert "UAI ready" not in result.stdout


def test_make_runs_port_check_needs_no_django() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-S", "-m", "uai_project.startup", "port", "127.0.0.1", str(port)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=20,
        )
    assert result.returncode == 1
    assert result.stderr.startswith(f"uai: port {port} on 127.0.0.1 is already in use")
    assert len(result.stderr.splitlines()) == 1
    free = subprocess.run(
        [sys.executable, "-S", "-m", "uai_project.startup", "port", "127.0.0.1", str(free_port())],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert (free.returncode, free.stderr) == (0, "")


@pytest.mark.parametrize("command", ["migrate", "serve"])
def test_an_unreachable_database_is_one_line_within_seconds(command: str) -> None:
    started = time.monotonic()
    result = manage(command, DATABASE_URL="postgres://postgres:s3cret@127.0.0.1:1/nothere", timeout=30)
    assert time.monotonic() - started < 8
    assert result.returncode != 0
    [line] = lines(result.stderr)
    assert line.startswith("uai: cannot reach the database 127.0.0.1:1/nothere")
    assert "DATABASE_URL" in line
    assert "s3cret" not in line


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("UAI_LISTEN_BACKLOG", "abc", "UAI_LISTEN_BACKLOG must be a whole number, not 'abc'"),
        ("UAI_LOG_LEVEL", "loud", "UAI_LOG_LEVEL must be one of"),
        (
            "UAI_METRICS_ALLOWED_NETWORKS",
            "10.0.0.0/33",
            "UAI_METRICS_ALLOWED_NETWORKS: '10.0.0.0/33' does not",
        ),
        ("OTEL_TRACES_EXPORTER", "jaeger", "OTEL_TRACES_EXPORTER must be one of otlp, console, none"),
    ],
)
def test_a_bad_setting_is_its_message_alone(name: str, value: str, says: str) -> None:
    result = manage("serve", **{name: value})
    assert result.returncode != 0
    [line] = lines(result.stderr)
    assert line.startswith("uai: " + says)
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("server", ["daphne", "uvicorn"])
def test_the_ready_line_comes_once_listening_with_the_next_step(server: str) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--port", str(port), "--server", server],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        ready = process.stdout.readline()
        # Printed only once listening: the port takes a connection at that very moment.
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass
        following = process.stdout.readline()
    finally:
        process.terminate()
        process.wait(timeout=20)
        if process.stdout is not None:
            process.stdout.close()
    assert ready.startswith(f"UAI ready on http://127.0.0.1:{port}/ ({server}); data: ")
    assert "PostgreSQL" in ready and "@" not in ready  # where the data lives, no password
    assert following.startswith("Next: .venv/bin/python manage.py create_token NAME --password ")


def _agent_code() -> None:
    raise RuntimeError("the agent broke")


def test_an_agent_failure_is_one_line_and_a_uai_fault_keeps_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    try:
        _agent_code()
    except RuntimeError as exc:
        agent_exc: BaseException = exc
    try:
        agent_failure(None)  # type: ignore[arg-type]  # a fault inside UAI's own code
    except AttributeError as exc:
        uai_exc: BaseException = exc
    assert agent_failure(agent_exc) and agent_failure(TimeoutError("no input"))
    assert not agent_failure(uai_exc)
    with caplog.at_level(logging.WARNING, logger="uai.runs.executor"):
        log_failure("run %s attempt %s failed: %s", "r1", 1, "RuntimeError: the agent broke", exc=agent_exc)
        log_failure("run %s attempt %s failed: %s", "r2", 1, "AttributeError", exc=uai_exc)
    agent_record, uai_record = caplog.records
    assert agent_record.getMessage() == "run r1 attempt 1 failed: RuntimeError: the agent broke"
    assert agent_record.exc_info is None
    assert uai_record.exc_info is not None
