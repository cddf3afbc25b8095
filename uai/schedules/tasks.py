"""procrastinate tasks of schedules: the tick that fires the due ones (it only calls services).

A periodic job every UAI_SCHEDULE_TICK_SECONDS on the maintenance queue. Every worker's
periodic deferrer defers it, and procrastinate keeps one job per tick time (its periodic defers
are unique per task and time); the job's transactions keep one run per firing even if two
ticks overlap.
"""

from __future__ import annotations

from django.conf import settings
from procrastinate.contrib.django import app

from uai.runs.dbcall import db
from uai.runs.queues import MAINTENANCE_QUEUE
from uai.schedules import services

TICK_TASK_NAME = "uai.fire_schedules"


def tick_cron(seconds: int) -> str:
    """The procrastinate cron of a tick every ``seconds`` (dividing 60): seconds are its 6th field."""
    return "* * * * *" if seconds == 60 else f"* * * * * */{seconds}"


@app.periodic(cron=tick_cron(settings.UAI_SCHEDULE_TICK_SECONDS), periodic_id="uai-fire-schedules")
@app.task(name=TICK_TASK_NAME, queue=MAINTENANCE_QUEUE)
async def fire_schedules(timestamp: int) -> None:
    """Fire the schedules that are due: one run each."""
    await db(services.schedule_fire_due)
