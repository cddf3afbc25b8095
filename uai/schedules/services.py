"""Writes of schedules: making and changing them, and firing the due ones.

A firing is one transaction: the schedule's row is locked (``SKIP LOCKED``: another worker's
tick passes it by), its Firing is recorded (unique per due time), its run is created through
``run_create`` — the same as ``POST /run/`` — and its next time is set past now. However many
workers tick at once, each due time makes one run.

Missed firings (no worker ran for a while): a schedule fires once when it is next looked at,
for the earliest time it missed, and then goes on from now — never once per missed time.
"""

from __future__ import annotations

import datetime
import logging
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from uai.agents.models import Agent
from uai.runs import services as run_services
from uai.schedules import cron
from uai.schedules.models import Firing, Schedule
from uai_project.errors import InvalidInput, UAIError

logger = logging.getLogger(__name__)

EDITABLE = ("name", "agent", "input", "cron", "timezone", "enabled")


def schedule_check(
    expression: str, tz_name: str, now: datetime.datetime | None = None
) -> tuple[str, datetime.datetime]:
    """The normalised expression and its next time after ``now``; 400 when either cannot be used
    or it fires more often than UAI_SCHEDULE_MIN_INTERVAL_SECONDS."""
    now = now or timezone.now()
    try:
        expression = cron.check(expression)
        cron.zone(tz_name)
        next_fire = cron.next_after(expression, tz_name, now)
        gap = cron.smallest_gap_seconds(expression, tz_name, now)
    except cron.CronError as exc:
        raise InvalidInput(str(exc)) from None
    minimum = settings.UAI_SCHEDULE_MIN_INTERVAL_SECONDS
    if gap < minimum:
        raise InvalidInput(
            f"Cron expression {expression!r} fires every {gap:g} s at times; "
            f"schedules fire at most every {minimum} s (UAI_SCHEDULE_MIN_INTERVAL_SECONDS)."
        )
    return expression, next_fire


def schedule_create(
    *,
    owner_id: int,
    agent: Agent,
    input: Any,
    cron_expression: str,
    tz_name: str = "UTC",
    name: str = "",
    enabled: bool = True,
) -> Schedule:
    """Make a schedule; 400 for a bad expression or zone, or one schedule over the user's limit."""
    now = timezone.now()
    expression, next_fire = schedule_check(cron_expression, tz_name, now)
    with transaction.atomic():
        # (the count under the user's row lock: two creations at once do not both pass)
        get_user_model().objects.select_for_update().filter(pk=owner_id).exists()
        if Schedule.objects.filter(owner_id=owner_id).count() >= settings.UAI_MAX_SCHEDULES_PER_USER:
            raise InvalidInput(
                f"At most {settings.UAI_MAX_SCHEDULES_PER_USER} schedules per user "
                "(UAI_MAX_SCHEDULES_PER_USER): delete one first."
            )
        return Schedule.objects.create(
            owner_id=owner_id,
            agent=agent,
            input=input,
            cron=expression,
            timezone=tz_name,
            name=name,
            enabled=enabled,
            next_fire_at=next_fire if enabled else None,
        )


def schedule_update(*, schedule: Schedule, changes: dict[str, Any]) -> Schedule:
    """Change a schedule's fields (``EDITABLE``); its next time is worked out again from now when
    its expression, zone or ``enabled`` changes (disabled: none)."""
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise InvalidInput(f"Cannot change {', '.join(sorted(unknown))}.")
    now = timezone.now()
    with transaction.atomic():
        locked = Schedule.objects.select_for_update().get(pk=schedule.pk)
        for field, value in changes.items():
            setattr(locked, field, value)
        fields = [*changes, "updated_at"]
        if {"cron", "timezone", "enabled"} & set(changes):
            expression, next_fire = schedule_check(locked.cron, locked.timezone, now)
            locked.cron = expression
            locked.next_fire_at = next_fire if locked.enabled else None
            fields += ["cron", "next_fire_at"]
        locked.save(update_fields=sorted(set(fields)))
    return locked


def schedule_delete(*, schedule: Schedule) -> None:
    """Delete a schedule; the runs it made stay (their ``schedule_id`` unset)."""
    Schedule.objects.filter(pk=schedule.pk).delete()


def schedule_fire_now(*, schedule: Schedule) -> Firing:
    """Fire a schedule once now, outside its expression (the admin's "Run now")."""
    now = timezone.now()
    with transaction.atomic():
        locked = Schedule.objects.select_for_update(of=("self",)).select_related("agent").get(pk=schedule.pk)
        return _fire(locked, fire_time=now, now=now, advance=False)


def schedule_fire_due(*, now: datetime.datetime | None = None) -> int:
    """Fire every enabled schedule due at ``now`` (default: the time of each look), each in its
    own transaction; how many fired. Schedules another worker is firing are passed by."""
    fired = 0
    while True:
        moment = now or timezone.now()
        with transaction.atomic():
            schedule = (
                Schedule.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("agent")
                .filter(enabled=True, next_fire_at__lte=moment)
                .order_by("next_fire_at")
                .first()
            )
            if schedule is None:
                return fired
            assert schedule.next_fire_at is not None  # (filtered on)
            _fire(schedule, fire_time=schedule.next_fire_at, now=moment, advance=True)
        fired += 1


def _fire(
    schedule: Schedule, *, fire_time: datetime.datetime, now: datetime.datetime, advance: bool
) -> Firing:
    """Record a firing of a locked schedule and create its run (in the caller's transaction);
    ``advance``: move its next time past now."""
    run = None
    error = ""
    try:
        with transaction.atomic():  # a savepoint: a refused run still records the firing
            run = run_services.run_create(
                owner_id=schedule.owner_id,
                agent=schedule.agent,
                input=schedule.input,
                schedule_id=schedule.pk,
            )
    except UAIError as exc:  # its agent disabled since
        error = exc.detail
        logger.warning("schedule %s made no run at %s: %s", schedule.pk, fire_time.isoformat(), error)
    except Exception:  # a fault of this schedule's run: the schedules due after it still fire
        # Its owner sees the error: what happened, not the fault's text (SQL, internals), which
        # goes to the log.
        error = "The run could not be created (a server error; its log says why)."
        logger.exception("schedule %s made no run at %s", schedule.pk, fire_time.isoformat())
    firing = Firing.objects.create(schedule=schedule, fire_time=fire_time, run=run, error=error)
    schedule.last_fired_at = fire_time
    schedule.last_error = error
    if run is not None:
        schedule.last_run = run
    fields = ["last_fired_at", "last_error", "last_run", "updated_at"]
    if advance:
        try:
            schedule.next_fire_at = cron.next_after(schedule.cron, schedule.timezone, max(now, fire_time))
        except cron.CronError as exc:  # (a zone gone from the system's database)
            schedule.enabled, schedule.next_fire_at, schedule.last_error = False, None, str(exc)
            fields.append("enabled")
        fields.append("next_fire_at")
    schedule.save(update_fields=fields)
    return firing
