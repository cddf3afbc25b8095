"""The stack's floor: the least a turn can cost on UAI's stack, measured in the same run as UAI.

Both parts run pinned to the server cores, as UAI does, on the PostgreSQL server of UAI's bench
database (in fresh databases of their own):

- **request**: a bare Django + DRF project (``bench/floor_app``): ``POST /echo`` stores one row
  with the ORM and answers it as JSON, under each ASGI server. Latency at c=1, requests/s at
  c=32, and the server's CPU per request.
- **queue**: procrastinate alone (``bench/floor_app/queue.py``): defer → a no-op task's first
  line with an idle worker listening; a backlog drained by one worker with UAI's slots, and the
  worker's CPU per job.

A chat turn is at least one such request and one such job, on the same core; so with that core
saturated (c=32) ``1000 / (request CPU + job CPU)`` turns/s is more than UAI can reach before it
authenticates, stores a message, numbers an event or wakes a waiting client.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable
from typing import Any

import psycopg
import psycopg.conninfo

from bench import common
from bench.common import Connection, Proc
from bench.uai_figures import Counts, Database

WORKER_SLOTS = 20  # UAI_WORKER_CONCURRENCY's default: the slots UAI's worker drains with
SETTINGS = "bench.floor_app.settings"


def _fresh(database: Database, name: str) -> str:
    """A new, empty database ``name`` on the bench database's server; its conninfo."""
    server = psycopg.conninfo.make_conninfo(database.conninfo, dbname="postgres")
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return psycopg.conninfo.make_conninfo(database.conninfo, dbname=name)


def _env(conninfo: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    return {**keep, "FLOOR_DATABASE": conninfo, "DJANGO_SETTINGS_MODULE": SETTINGS, "PYTHONUNBUFFERED": "1"}


def _server_args(server: str, port: int) -> list[str]:
    app = "bench.floor_app.asgi:application"
    if server == "uvicorn":
        return [sys.executable, "-m", "uvicorn", app, "--host", common.HOST, "--port", str(port),
                "--log-level", "warning", "--no-access-log"]  # fmt: skip
    return [sys.executable, "-m", "daphne", "-b", common.HOST, "-p", str(port), "-v", "0", app]


async def request_floor(server: str, database: Database, *, counts: Counts, repeat: int) -> dict[str, Any]:
    """The bare DRF request under ``server``: c=1 p50/p99, c=32 requests/s and CPU per request."""
    env = _env(_fresh(database, f"{database.name}_floor"))
    migrate = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "django", "migrate", "--run-syncdb", "-v0", cwd=common.ROOT, env=env
    )
    if await migrate.wait():
        raise RuntimeError("the floor app's migrate failed")
    port = common.free_port()
    proc = Proc(f"floor-{server}", _server_args(server, port), env=env, cores=common.server_cores())
    try:
        await common.wait_ready(port, "/echo", [proc])
        return await _load(port, proc, counts=counts, repeat=repeat)
    finally:
        proc.stop()


async def _load(port: int, proc: Proc, *, counts: Counts, repeat: int) -> dict[str, Any]:
    connections = [Connection(port) for _ in range(32)]

    async def post(client: int, i: int) -> None:
        (await connections[client].request("POST", "/echo", {"text": f"hello {i}"})).expect(200)

    async def one() -> dict[str, Any]:
        c1 = await common.closed_loop(post, total=counts.turns_c1, concurrency=1)
        cpu = common.cpu_seconds(proc.pid)
        c32 = await common.closed_loop(post, total=counts.floor_requests, concurrency=32)
        cpu = common.cpu_seconds(proc.pid) - cpu
        return {
            **{f"c1_{k}": v for k, v in common.latency_summary(c1.latencies).items()},
            "c32_per_s": c32.summary()["per_s"],
            "cpu_ms_per_request": round(cpu * 1000 / counts.floor_requests, 3),
        }

    try:
        await common.closed_loop(post, total=4 * 32, concurrency=32)  # warm: pool, plans, imports
        return await common.repeated(one, repeat)
    finally:
        for connection in connections:
            await connection.close()


async def queue_floor(database: Database, *, counts: Counts, repeat: int) -> dict[str, Any]:
    """procrastinate alone: defer → start p50/p99 (ms), drained jobs/s and CPU per job."""

    async def one() -> dict[str, Any]:
        conninfo = _fresh(database, f"{database.name}_floor_queue")  # the schema goes on an empty one
        args = [sys.executable, "-m", "bench.floor_app.queue", conninfo, "--turns", str(counts.turns_c1),
                "--jobs", str(counts.floor_jobs), "--concurrency", str(WORKER_SLOTS)]  # fmt: skip
        proc = Proc("floor-queue", args, env=_env(conninfo), cores=common.server_cores())
        try:
            code = await asyncio.to_thread(proc.popen.wait, common.REQUEST_TIMEOUT_SECONDS * 5)
            if code:
                raise RuntimeError(f"the queue floor failed:\n{proc.output()}")
            figures = json.loads(proc.output().strip().splitlines()[-1])
        finally:
            proc.stop()
        return {
            **{f"defer_to_start_{k}": v for k, v in figures["defer_to_start"].items()},
            "jobs_per_s": figures["drain"]["per_s"],
            "cpu_ms_per_job": figures["drain"]["cpu_ms_per_job"],
        }

    return await common.repeated(one, repeat)


async def floors(
    servers: list[str], database: Database, *, counts: Counts, repeat: int, log: Callable[[str], None]
) -> dict[str, Any]:
    """Both floors, and the turns/s bound they put on each server at c=32."""
    queue = await queue_floor(database, counts=counts, repeat=repeat)
    log(f"  queue floor: {queue}")
    found: dict[str, Any] = {"queue": queue, "slots": WORKER_SLOTS, "request": {}, "turns_per_s_bound": {}}
    for server in servers:
        request = await request_floor(server, database, counts=counts, repeat=repeat)
        log(f"  request floor under {server}: {request}")
        found["request"][server] = request
        cpu_ms = request["cpu_ms_per_request"] + queue["cpu_ms_per_job"]
        found["turns_per_s_bound"][server] = round(1000 / cpu_ms, 1) if cpu_ms > 0 else 0.0
    return found
