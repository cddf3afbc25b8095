"""procrastinate alone, as UAI's worker runs it but without UAI: a no-op async task.

    python -m bench.floor_app.queue CONNINFO --turns N --jobs M --concurrency C

Prints one JSON object: ``defer_to_start`` (one job at a time, an idle worker listening: from the
``defer`` call to the task's first line, p50/p99 ms) and ``drain`` (``M`` jobs queued, then
drained by one worker of ``C`` slots: jobs/s between the 10th and 90th percentile of finishing
times, and this process's CPU per job). The database must be empty: the schema is applied here.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
from typing import Any

import procrastinate

from bench import common

QUEUE = "floor"
IDLE_BETWEEN_TURNS_SECONDS = 0.005  # the worker goes back to waiting on LISTEN between turns


def make_app(conninfo: str, started: asyncio.Queue[float], finished: list[float]) -> procrastinate.App:
    """The app and its one task, which reports when it starts and finishes."""
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo))

    @app.task(name="noop", queue=QUEUE)
    async def noop(deferred_at: float = 0.0) -> None:
        now = time.perf_counter()
        if deferred_at:
            started.put_nowait(now - deferred_at)
        finished.append(now)

    return app


async def measure(conninfo: str, *, turns: int, jobs: int, concurrency: int) -> dict[str, Any]:
    """Both figures, on one app."""
    started: asyncio.Queue[float] = asyncio.Queue()
    finished: list[float] = []
    app = make_app(conninfo, started, finished)
    noop = app.tasks["noop"]
    async with app.open_async():
        await app.schema_manager.apply_schema_async()

        worker = asyncio.create_task(
            app.run_worker_async(queues=[QUEUE], concurrency=1, install_signal_handlers=False)
        )
        latencies = []
        for i in range(turns + 10):
            await noop.defer_async(deferred_at=time.perf_counter())
            seconds = await asyncio.wait_for(started.get(), common.REQUEST_TIMEOUT_SECONDS)
            if i >= 10:  # warm-up: the worker's first fetches plan the statements
                latencies.append(seconds)
            await asyncio.sleep(IDLE_BETWEEN_TURNS_SECONDS)
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker

        finished.clear()
        await noop.batch_defer_async(*({} for _ in range(jobs)))
        cpu = time.process_time()
        await app.run_worker_async(
            queues=[QUEUE], concurrency=concurrency, wait=False, install_signal_handlers=False
        )
        cpu = time.process_time() - cpu
    times = sorted(finished)
    low, high = times[len(times) // 10], times[len(times) * 9 // 10]
    return {
        "defer_to_start": common.latency_summary(latencies),
        "drain": {
            "per_s": round(0.8 * len(times) / (high - low), 1) if high > low else 0.0,
            "cpu_ms_per_job": round(cpu * 1000 / len(times), 3),
            "concurrency": concurrency,
        },
    }


def main() -> None:
    """Measure; print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("conninfo")
    parser.add_argument("--turns", type=int, required=True)
    parser.add_argument("--jobs", type=int, required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    args = parser.parse_args()
    figures = asyncio.run(
        measure(args.conninfo, turns=args.turns, jobs=args.jobs, concurrency=args.concurrency)
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
