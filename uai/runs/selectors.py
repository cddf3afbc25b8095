"""Reads of runs and logs, always scoped to the asking user."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from uai.runs.models import Log, Run
from uai_project.api import parse_uuid
from uai_project.errors import NotFound


def run_get(*, user: Any, run_id: str) -> Run:
    """The user's run, or 404."""
    run = Run.objects.filter(pk=parse_uuid(run_id, "Run"), owner=user).first()
    if run is None:
        raise NotFound("Run not found.")
    return run


def run_list(*, user: Any) -> QuerySet[Run]:
    """The user's runs, newest first."""
    return Run.objects.filter(owner=user).order_by("-created_at")


def log_list(*, run: Run, after_id: int | None = None) -> list[Log]:
    """A run's logs in order (the agent's and the clients'), optionally after a log id."""
    qs = Log.objects.filter(run_id=run.id)
    if after_id is not None:
        anchor = Log.objects.filter(run_id=run.id, pk=after_id).values_list("seq", flat=True).first()
        if anchor is None:
            raise NotFound("Log not found.")
        qs = qs.filter(seq__gt=anchor)
    return list(qs.order_by("seq", "id"))


def log_newest(*, run_id: Any, after_seq: int, limit: int = 50) -> list[Log]:
    """A run's newest log lines after ``after_seq`` (at most ``limit``), oldest first."""
    rows = Log.objects.filter(run_id=run_id, seq__gt=after_seq).order_by("-seq", "-id")[:limit]
    return list(reversed(rows))
