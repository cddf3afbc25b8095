"""The benchmark's smoke mode: every UAI figure is measured with tiny counts, so the bench never rots.

Only that the figures are numbers is checked here, not that UAI meets its targets (a loaded test
machine says little about speed); ``python bench/run.py`` measures for real.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bench import run
from tests.conftest import ROOT, process_env

pytestmark = pytest.mark.once

SMOKE_TIMEOUT_SECONDS = 300
UAI_FIGURES = {
    "memory",
    "rest_c1",
    "rest_c32",
    "ws_first_step",
    "ws_steps",
    "sse_first_chunk",
    "sse_stream",
    "openai_facade",
    "a2a_route",
    "langgraph_route",
    "queue_latency",
    "runs_1_worker",
    "runs_2_workers",
    "history_small",
    "history_big",
    "turn_long_chat",
    "ws_idle",
}


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _leaves(item)]
    return [value]


def _server_logs(since: float) -> str:
    """The end of each process log of the bench runs started since then (a 500's traceback)."""
    parts = []
    for run_dir in sorted((ROOT / "bench" / "results" / "logs").glob("*")):
        if run_dir.stat().st_mtime < since:
            continue
        for log in sorted(run_dir.glob("*.log")):
            parts.append(f"\n--- {log} ---\n{log.read_text(errors='replace')[-6000:]}")
    return "".join(parts)


def test_bench__smoke_measures_every_uai_figure(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    started = time.time()
    args = [
        sys.executable,
        "bench/run.py",
        "--smoke",
        "--only",
        "uai,floor",
        "--servers",
        "daphne",
        "--json",
        str(out),
    ]
    done = subprocess.run(
        args, cwd=ROOT, env=process_env(), capture_output=True, text=True, timeout=SMOKE_TIMEOUT_SECONDS
    )
    assert done.returncode == 0, done.stderr[-4000:] + _server_logs(started)
    results = json.loads(out.read_text())

    figures = results["uai"]["daphne"]
    assert set(figures) == UAI_FIGURES
    for name, figure in figures.items():
        leaves = _leaves(figure)
        assert leaves, name
        assert all(isinstance(v, int | float) and not isinstance(v, bool) for v in leaves), (name, figure)
    assert figures["ws_idle"]["held"] == results["meta"]["counts"]["idle_ws"]
    assert results["agent_in_process"]["p50_ms"] > 0
    assert {t["server"] for t in results["targets"]} == {"daphne"}
    assert "REST echo turn c=1" in done.stdout  # the table
    assert figures["rest_c32"]["cpu_ms_per_turn"] > 0
    assert "procrastinate alone: defer -> task start" in done.stdout  # the floor's table

    # The floor, and what it leaves a turn of the CPU a c=32 target allows on the server core.
    floor = results["floor"]
    request, queue = floor["request"]["daphne"], floor["queue"]
    assert request["c1_p50_ms"] > 0 and request["c32_per_s"] > 0 and request["cpu_ms_per_request"] > 0
    assert queue["defer_to_start_p50_ms"] > 0 and queue["jobs_per_s"] > 0 and queue["cpu_ms_per_job"] > 0
    floor_ms = request["cpu_ms_per_request"] + queue["cpu_ms_per_job"]
    assert floor["turns_per_s_bound"]["daphne"] == round(1000 / floor_ms, 1)
    results["peers"]["langgraph"] = {
        "versions": {},
        "rest_c1": {"p50_ms": 1000.0, "p99_ms": 1000.0},
        "rest_c32": {"p50_ms": 300.0, "p99_ms": 300.0, "per_s": 100.0},
    }
    checks = run.targets(results)
    c32 = next(t for t in checks if t["target"].startswith("REST echo turns/s c=32: >= 4x"))
    assert c32["limit"] == 400
    assert c32["cpu_ms_per_turn"] == {
        "budget": 2.5,
        "floor": round(1000 / floor["turns_per_s_bound"]["daphne"], 2),
        "uai": figures["rest_c32"]["cpu_ms_per_turn"],
    }
    assert "CPU ms/turn: budget 2.50" in run.render({**results, "targets": checks})


def test_bench__floor_alone_under_uvicorn(tmp_path: Path) -> None:
    """``--only floor`` measures the stack's floor without UAI's figures, here under uvicorn."""
    out = tmp_path / "bench.json"
    args = [sys.executable, "bench/run.py", "--smoke", "--only", "floor", "--servers", "uvicorn"]
    done = subprocess.run(
        [*args, "--json", str(out)],
        cwd=ROOT,
        env=process_env(),
        capture_output=True,
        text=True,
        timeout=SMOKE_TIMEOUT_SECONDS,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    results = json.loads(out.read_text())
    assert results["uai"] == {} and results["targets"] == []
    assert results["floor"]["request"]["uvicorn"]["c32_per_s"] > 0
    assert results["floor"]["turns_per_s_bound"]["uvicorn"] > 0
    assert "floor uvicorn" in done.stdout


def test_bench__paired_ab_of_two_checkouts(tmp_path: Path) -> None:
    """``bench/pair.py`` starts both sides on fresh databases and alternates their turns, in two
    rounds (each on new server processes), B with a setting of its own."""
    out = tmp_path / "pair.json"
    args = [sys.executable, "bench/pair.py", str(ROOT), "--turns", "3", "--json", str(out)]
    args += ["--rounds", "2", "--base-env", "UAI_METRICS_ENABLED=false"]
    done = subprocess.run(
        args, cwd=ROOT, env=process_env(), capture_output=True, text=True, timeout=SMOKE_TIMEOUT_SECONDS
    )
    assert done.returncode == 0, done.stderr[-4000:]
    results = json.loads(out.read_text())
    assert set(results["figures"]) == {"rest", "ws", "sse"}
    for figure, sides in results["latencies_ms"].items():
        assert set(sides) == {"A", "B"}, figure
        assert all(len(values) == 6 and all(v > 0 for v in values) for values in sides.values()), figure
        assert len(results["rounds"][figure]) == 2, figure
    assert results["meta"]["base_env"] == {"UAI_METRICS_ENABLED": "false"}
    assert "with UAI_METRICS_ENABLED=false" in done.stdout and "A - B by round" in done.stdout
    assert results["figures"]["ws"]["A"]["p50_ms"] > 0
    assert all(
        side["cpu_ms_per_turn"] > 0 for sides in results["figures"].values() for side in sides.values()
    )
    assert "WebSocket first agent_step" in done.stdout and "CPU/turn" in done.stdout  # the table
