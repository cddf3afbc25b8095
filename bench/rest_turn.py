"""Chat-turn latency over REST: starts a UAI server, runs echo turns, prints p50/p99 and turns/s.

    .venv/bin/python bench/rest_turn.py [--turns 200] [--concurrency 1 32] [--server daphne]

Uses DATABASE_URL/REDIS_URL like the server (embedded PostgreSQL when unset). Loopback only;
every process it starts is stopped at the end. Issue 7 grows this into the full benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run_turns(url: str, token: str, turns: int, concurrency: int) -> tuple[list[float], float]:
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=60) as client:
        sessions = [(await client.post("/chat/", json={})).json()["session_id"] for _ in range(concurrency)]
        for session in sessions:  # warm up
            await client.post(f"/chat/{session}", json={"text": "warm"})
        latencies: list[float] = []
        per_worker = turns // concurrency

        async def worker(session: str) -> None:
            for i in range(per_worker):
                started = time.perf_counter()
                response = await client.post(f"/chat/{session}", json={"text": f"hello {i}"})
                latencies.append(time.perf_counter() - started)
                assert response.status_code == 200, response.text

        started = time.perf_counter()
        await asyncio.gather(*(worker(s) for s in sessions))
        return latencies, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--server", default=os.environ.get("UAI_SERVER", "daphne"))
    args = parser.parse_args()

    env = dict(os.environ, UAI_LOG_LEVEL="WARNING")
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    token = (
        subprocess.run(
            [sys.executable, "manage.py", "create_token", "bench"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--port", str(port), "--server", args.server],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("server did not start")
            time.sleep(0.2)
        print(f"REST echo turn, {args.server}, {os.cpu_count()} cores, {args.turns} turns")
        print(f"{'concurrency':>11} {'p50 ms':>8} {'p99 ms':>8} {'turns/s':>8}")
        for concurrency in args.concurrency:
            latencies, elapsed = asyncio.run(run_turns(url, token, args.turns, concurrency))
            print(
                f"{concurrency:>11} {percentile(latencies, 0.5) * 1000:>8.1f} "
                f"{percentile(latencies, 0.99) * 1000:>8.1f} {len(latencies) / elapsed:>8.1f}"
            )
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
