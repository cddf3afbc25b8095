"""The JSON shape of schedules."""

from __future__ import annotations

from typing import Any

from uai.schedules.models import Schedule


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


def schedule_data(schedule: Schedule) -> dict[str, Any]:
    """A schedule: what it runs, when next, and its last firing."""
    return {
        "id": str(schedule.id),
        "name": schedule.name,
        "agent": schedule.agent_id,
        "input": schedule.input,
        "cron": schedule.cron,
        "timezone": schedule.timezone,
        "enabled": schedule.enabled,
        "next_fire_at": _iso(schedule.next_fire_at),
        "last_fired_at": _iso(schedule.last_fired_at),
        "last_run_id": str(schedule.last_run_id) if schedule.last_run_id else None,
        "last_error": schedule.last_error or None,
        "created_at": _iso(schedule.created_at),
        "updated_at": _iso(schedule.updated_at),
    }
