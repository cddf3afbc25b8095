"""The peers, measured in the same run with the same load generator and the same echo agent.

Each peer lives in a virtual environment of its own under ``bench/.peers/`` (never UAI's),
installed from PyPI on first use:

- the LangGraph dev server (``langgraph-cli[inmem]``, ``langgraph dev --n-jobs-per-worker 10``)
  serving a one-node echo graph (``bench/peers_app/echo_graph.py``): create a thread, then
  ``runs/wait`` per turn; ``runs/stream`` for the time to the first event carrying the output;
- an a2a-sdk server (``bench/peers_app/a2a_echo.py``): an echo ``AgentExecutor`` behind the SDK's
  JSON-RPC routes under uvicorn, one ``SendMessage`` per turn.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import common
from bench.common import Connection, Proc
from bench.uai_figures import Counts

PEERS_DIR = common.BENCH_DIR / ".peers"
APP_DIR = common.BENCH_DIR / "peers_app"
LANGGRAPH_PACKAGES = ("langgraph-cli[inmem]",)
A2A_PACKAGES = ("a2a-sdk[http-server]", "uvicorn")
LANGGRAPH_JOBS = 10  # --n-jobs-per-worker, as the issue fixes it
A2A_HEADERS = {"A2A-Version": "1.0"}


def peer_venv(name: str, packages: tuple[str, ...]) -> Path:
    """The ``bin`` folder of the peer's virtual environment, created and installed on first use."""
    venv = PEERS_DIR / name
    marker = venv / (".bench-installed-" + hashlib.sha256(" ".join(packages).encode()).hexdigest()[:12])
    if not marker.exists():
        common.LOG_DIR.mkdir(parents=True, exist_ok=True)
        with (common.LOG_DIR / f"install-{name}.log").open("w") as log:
            subprocess.run(
                [sys.executable, "-m", "venv", "--clear", str(venv)], check=True, stdout=log, stderr=log
            )
            subprocess.run(
                [
                    str(venv / "bin" / "python"),
                    "-m",
                    "pip",
                    "install",
                    "--disable-pip-version-check",
                    *packages,
                ],
                check=True,
                stdout=log,
                stderr=log,
            )
        marker.touch()
    return venv / "bin"


def versions(bin_dir: Path, distributions: list[str]) -> dict[str, str]:
    """Installed versions of ``distributions`` in a peer's environment."""
    code = (
        "import importlib.metadata as m, json, sys; "
        "print(json.dumps({d: m.version(d) for d in sys.argv[1:]}))"
    )
    done = subprocess.run(
        [str(bin_dir / "python"), "-c", code, *distributions], check=True, capture_output=True, text=True
    )
    return json.loads(done.stdout)


async def _turns(
    turn: Callable[[Connection, int, int], Any], port: int, *, concurrency: int, total: int, repeat: int
) -> dict[str, Any]:
    """Closed-loop turns against a peer, ``turn(connection, client, i)``, one connection per client."""
    connections = [Connection(port) for _ in range(concurrency)]
    for client, connection in enumerate(connections):
        await turn(connection, client, -1)  # warm up, and let per-client setup happen untimed

    async def operation(client: int, i: int) -> None:
        await turn(connections[client], client, i)

    async def measure() -> dict[str, Any]:
        return (await common.closed_loop(operation, total=total, concurrency=concurrency)).summary()

    try:
        return await common.repeated(measure, repeat)
    finally:
        for connection in connections:
            await connection.close()


# --- LangGraph dev ---------------------------------------------------------------------------------


def _langgraph_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        LANGGRAPH_CLI_NO_ANALYTICS="1",  # no telemetry: loopback only
        LANGSMITH_TRACING="false",
        LANGCHAIN_TRACING_V2="false",
        PYTHONUNBUFFERED="1",
    )
    return env


async def langgraph(counts: Counts, repeat: int, log: Callable[[str], None]) -> dict[str, Any]:
    """The LangGraph dev server's figures: runs/wait at c=1 and c=32, runs/stream's first event."""
    bin_dir = peer_venv("langgraph", LANGGRAPH_PACKAGES)
    # A copy of the app: the dev server keeps its state in a folder beside langgraph.json.
    app = PEERS_DIR / "langgraph-app"
    shutil.rmtree(app, ignore_errors=True)
    app.mkdir(parents=True)
    for name in ("langgraph.json", "echo_graph.py"):
        shutil.copy(APP_DIR / name, app / name)
    port = common.free_port()
    args = [str(bin_dir / "langgraph"), "dev", "--no-browser", "--no-reload", "--port", str(port)]
    args += ["--n-jobs-per-worker", str(LANGGRAPH_JOBS), "--server-log-level", "WARNING"]
    proc = Proc("langgraph", args, env=_langgraph_env(), cwd=app, cores=common.server_cores())
    threads: dict[int, str] = {}

    async def turn(connection: Connection, client: int, i: int) -> None:
        if client not in threads:
            threads[client] = (
                (await connection.request("POST", "/threads", {})).expect(200).json()["thread_id"]
            )
        text = f"hello {i}"
        body = {"assistant_id": "echo", "input": {"text": text}}
        answer = (await connection.request("POST", f"/threads/{threads[client]}/runs/wait", body)).expect(200)
        if answer.json().get("text") != text:
            raise common.HttpError(f"unexpected LangGraph answer: {answer.body[:200]!r}")

    async def first_event() -> dict[str, Any]:
        connection = Connection(port)
        thread = (await connection.request("POST", "/threads", {})).expect(200).json()["thread_id"]
        firsts = []
        try:
            for i in range(counts.peer_slow_turns):
                body = {"assistant_id": "echo", "input": {"text": f"hi {i}"}, "stream_mode": ["updates"]}
                started = time.perf_counter()
                first = 0.0
                async for event, _data in common.sse_events(
                    connection.stream("POST", f"/threads/{thread}/runs/stream", body)
                ):
                    if event == "updates" and not first:
                        first = time.perf_counter() - started
                firsts.append(first)
        finally:
            await connection.close()
        return common.latency_summary(firsts)

    try:
        await common.wait_ready(port, "/ok", [proc])
        out: dict[str, Any] = {"rss_idle_mib": round(await common.settled_rss_kib(proc) / 1024, 1)}
        steps: list[tuple[str, Any]] = [
            (
                "rest_c1",
                lambda: _turns(turn, port, concurrency=1, total=counts.peer_slow_turns, repeat=repeat),
            ),
            (
                "rest_c32",
                lambda: _turns(turn, port, concurrency=32, total=counts.peer_slow_turns_c32, repeat=repeat),
            ),
            ("stream_first_event", lambda: common.repeated(first_event, repeat)),
        ]
        for name, measure in steps:
            started = time.perf_counter()
            out[name] = await measure()
            log(f"  langgraph {name}: {out[name]} ({time.perf_counter() - started:.1f} s)")
        out["versions"] = versions(
            bin_dir, ["langgraph-cli", "langgraph-api", "langgraph", "langgraph-runtime-inmem"]
        )
        return out
    finally:
        proc.stop()


# --- a2a-sdk ---------------------------------------------------------------------------------------


async def a2a(counts: Counts, repeat: int, log: Callable[[str], None]) -> dict[str, Any]:
    """The a2a-sdk server's figures: SendMessage at c=1 and c=32."""
    bin_dir = peer_venv("a2a", A2A_PACKAGES)
    port = common.free_port()
    proc = Proc(
        "a2a",
        [str(bin_dir / "python"), str(APP_DIR / "a2a_echo.py"), str(port)],
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
        cores=common.server_cores(),
    )

    async def turn(connection: Connection, client: int, i: int) -> None:
        text = f"hello {i}"
        body = {
            "jsonrpc": "2.0",
            "id": str(i),
            "method": "SendMessage",
            "params": {
                "message": {"role": "ROLE_USER", "messageId": uuid.uuid4().hex, "parts": [{"text": text}]}
            },
        }
        answer = (await connection.request("POST", "/", body, headers=A2A_HEADERS)).expect(200).json()
        if answer.get("result", {}).get("message", {}).get("parts", [{}])[0].get("text") != text:
            raise common.HttpError(f"unexpected a2a answer: {answer}")

    try:
        await common.wait_ready(port, "/.well-known/agent-card.json", [proc])
        out: dict[str, Any] = {"rss_idle_mib": round(await common.settled_rss_kib(proc) / 1024, 1)}
        for name, concurrency, total in (("rest_c1", 1, counts.turns_c1), ("rest_c32", 32, counts.turns_c32)):
            started = time.perf_counter()
            out[name] = await _turns(turn, port, concurrency=concurrency, total=total, repeat=repeat)
            log(f"  a2a {name}: {out[name]} ({time.perf_counter() - started:.1f} s)")
        out["versions"] = versions(bin_dir, ["a2a-sdk", "starlette", "uvicorn"])
        return out
    finally:
        proc.stop()
