"""The server process's garbage collector: start-up frozen, the oldest generation collected often."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import gc, json
import uai_project.asgi
print(json.dumps({"threshold": gc.get_threshold(), "frozen": gc.get_freeze_count(), "tracked": len(gc.get_objects())}))
"""

WORKER_PROBE = """
import gc, json
import django
django.setup()
from procrastinate.contrib.django import app
gc.set_threshold(700, 10, 10)
app.connector.get_worker_connector()  # as ``procrastinate worker`` and the embedded worker do
print(json.dumps({"threshold": gc.get_threshold(), "frozen": gc.get_freeze_count(), "tracked": len(gc.get_objects())}))
"""


def _load_asgi_app(probe: str = PROBE, **env: str) -> dict:
    """Import the ASGI application in a fresh interpreter, as every ASGI server does; its gc state."""
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "uai_project.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_gc__startup_frozen_and_full_collections_with_every_middle_one() -> None:
    state = _load_asgi_app()
    assert tuple(state["threshold"]) == (700, 10, 1)
    # Everything start-up built is out of the collector's way: a full collection walks the rest.
    assert state["frozen"] > 50_000
    assert state["tracked"] < state["frozen"] / 10


def test_gc__thresholds_are_a_setting_and_empty_keeps_pythons_own() -> None:
    assert tuple(_load_asgi_app(UAI_GC_THRESHOLDS="1000,20,3")["threshold"]) == (1000, 20, 3)
    state = _load_asgi_app(UAI_GC_THRESHOLDS="")
    assert tuple(state["threshold"]) == (700, 10, 10)
    assert state["frozen"] == 0


def test_gc__a_worker_process_is_tuned_as_it_starts_running_jobs() -> None:
    state = _load_asgi_app(WORKER_PROBE)
    assert tuple(state["threshold"]) == (700, 10, 1)
    assert state["frozen"] > 50_000
