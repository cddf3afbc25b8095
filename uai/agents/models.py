"""The agent registry's records."""

from __future__ import annotations

from django.db import models


class Agent(models.Model):
    """A registered agent: how to build it (adapter + target + options) and what it can do."""

    class Source(models.TextChoices):
        SETTINGS = "settings", "settings"
        ADMIN = "admin", "admin"
        FILE = "file", "agents file"

    name = models.SlugField(primary_key=True, max_length=64)
    adapter = models.CharField(
        max_length=200, default="python", help_text="Adapter kind (python, …) or a dotted path."
    )
    target = models.CharField(
        max_length=300, blank=True, help_text="module:attribute of the agent callable or object."
    )
    options = models.JSONField(default=dict, blank=True, help_text="Adapter-specific options.")
    description = models.TextField(blank=True)
    streams = models.BooleanField(default=False, help_text="Emits text deltas as it works.")
    accepts_files = models.BooleanField(default=False)
    asks_input = models.BooleanField(default=False)
    max_attempts = models.PositiveSmallIntegerField(
        default=1, help_text="How many times a failing run is tried in all (1 = no retry)."
    )
    retry_delay_seconds = models.PositiveIntegerField(default=0)
    timeout_seconds = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Working time one attempt may take (waiting for input does not count); "
        "empty: UAI_RUN_TIMEOUT_SECONDS; 0: no limit.",
    )
    estimated_seconds = models.PositiveIntegerField(
        default=30, help_text="Expected duration, for a run's estimated completion time."
    )
    queue = models.CharField(
        max_length=64,
        blank=True,
        help_text="procrastinate queue for this agent's work (default: 'turns' or 'runs'); "
        "route an agent to dedicated workers with `procrastinate worker --queues NAME`.",
    )
    enabled = models.BooleanField(default=True)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.ADMIN)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
