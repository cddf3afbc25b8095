"""Reads of schedules, always scoped to the asking user."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from uai.runs.models import Run
from uai.schedules.models import Firing, Schedule
from uai_project.api import parse_uuid
from uai_project.errors import NotFound


def schedule_list(*, user: Any) -> list[Schedule]:
    """The user's schedules, newest first."""
    return list(Schedule.objects.filter(owner=user).order_by("-created_at"))


def schedule_get(*, user: Any, schedule_id: str) -> Schedule:
    """The user's schedule, or 404."""
    schedule = Schedule.objects.filter(pk=parse_uuid(schedule_id, "Schedule"), owner=user).first()
    if schedule is None:
        raise NotFound("Schedule not found.")
    return schedule


def schedule_runs(*, schedule: Schedule) -> list[Run]:
    """The runs a schedule made, newest first (at most UAI_MAX_RUN_LIST)."""
    return list(Run.objects.filter(schedule=schedule).order_by("-created_at")[: settings.UAI_MAX_RUN_LIST])


def firing_list(*, schedule: Schedule, limit: int = 100) -> list[Firing]:
    """A schedule's newest firings."""
    return list(Firing.objects.filter(schedule=schedule).order_by("-fire_time")[:limit])
