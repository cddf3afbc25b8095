"""Schedules: an agent run on a cron expression, in a time zone, and each of its firings."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class Schedule(models.Model):
    """A user's agent, its input, and when to run it: a cron expression read in ``timezone``.

    Lifecycle of one firing (``services.schedule_fire_due``, every UAI_SCHEDULE_TICK_SECONDS)::

        next_fire_at ≤ now → one transaction: the row locked (SKIP LOCKED), a Firing recorded,
        a run created and deferred, next_fire_at moved past now → committed together
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Indexed by the Meta index that starts with it.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="schedules", db_index=False
    )
    agent = models.ForeignKey("agents.Agent", on_delete=models.CASCADE, related_name="schedules")
    name = models.CharField(max_length=200, blank=True)
    input = models.JSONField(default=dict, blank=True, help_text="Each run's input, as POST /run/ takes it.")
    cron = models.CharField(
        max_length=200, help_text="5 fields (minute hour day month weekday), or 6 with seconds last."
    )
    timezone = models.CharField(max_length=64, default="UTC", help_text="An IANA zone: Europe/Paris.")
    enabled = models.BooleanField(default=True)
    next_fire_at = models.DateTimeField(null=True, blank=True, help_text="Empty while disabled.")
    last_fired_at = models.DateTimeField(null=True, blank=True)
    last_run = models.ForeignKey(
        "runs.Run", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    last_error = models.TextField(blank=True, help_text="Why the last firing made no run.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["owner", "-created_at"]),
            # The tick's query: the enabled schedules that are due.
            models.Index(fields=["next_fire_at"], condition=models.Q(enabled=True), name="schedule_due"),
        ]

    def __str__(self) -> str:
        return self.name or f"{self.agent_id} at {self.cron!r} ({self.timezone})"


class Firing(models.Model):
    """One firing of a schedule: the time it was due, and the run it made (or why none)."""

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="firings", db_index=False)
    fire_time = models.DateTimeField(help_text="The time the cron expression gave.")
    run = models.ForeignKey("runs.Run", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-fire_time"]
        constraints = [
            # Each due time fires once, however many workers tick at once.
            models.UniqueConstraint(fields=["schedule", "fire_time"], name="firing_unique_time"),
        ]

    def __str__(self) -> str:
        return f"{self.schedule_id} at {self.fire_time.isoformat()}"
