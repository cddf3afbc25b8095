"""Runs (every agent execution), their logs and figures, and the event log behind every stream."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class Run(models.Model):
    """One execution of an agent: a long-running task, or one turn of a chat.

    Lifecycle::

        queued → running ⇄ input_required → succeeded | failed | cancelled
                 running → queued (a failed attempt that will be retried, or a dead worker's job)
    """

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        INPUT_REQUIRED = "input_required"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    class Kind(models.TextChoices):
        TASK = "task"
        TURN = "turn"

    ACTIVE = (Status.QUEUED, Status.RUNNING, Status.INPUT_REQUIRED)
    TERMINAL = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)
    # What a caller waiting on a turn waits for: its end, or a question it must answer first.
    TURN_ENDS = (*TERMINAL, Status.INPUT_REQUIRED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Indexed by the Meta index that starts with it (an index of its own only costs writes).
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="runs", db_index=False
    )
    agent = models.ForeignKey("agents.Agent", on_delete=models.PROTECT, related_name="runs")
    chat = models.ForeignKey(  # indexed by (chat, status)
        "chats.Chat", on_delete=models.CASCADE, null=True, blank=True, related_name="runs", db_index=False
    )
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.TASK)
    # The schedule whose firing made this run (uai.schedules); kept, unset, when it is deleted.
    # Indexed by run_schedule_created (most runs have none).
    schedule = models.ForeignKey(
        "schedules.Schedule",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="runs",
        db_index=False,
    )
    input = models.JSONField(default=dict, blank=True)
    # How a dialect was asked for this run, beyond its input (an OpenAI response's instructions,
    # metadata, background…): what that dialect echoes back. Never shown to the agent.
    request = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    progress = models.FloatField(default=0.0, help_text="Percent, 0 to 100.")
    current_step = models.CharField(max_length=200, blank=True)
    output = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    input_prompt = models.TextField(blank=True, help_text="The question the agent is waiting on.")
    # Input handed in while the run waits; the executor takes it and clears it.
    pending_input = models.JSONField(null=True, blank=True)
    estimated_completion_time = models.DateTimeField(null=True, blank=True)
    job_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    # Attempts held against the agent's max_attempts: those that failed (the agent raised, timed
    # out, or its worker died). An attempt interrupted by a shutdown or an outage is not one.
    failed_attempts = models.PositiveIntegerField(default=0)
    # Sequence numbers of a run without a chat (a chat's runs use the chat's numbers).
    last_seq = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["owner", "-created_at"]),
            models.Index(fields=["status"]),
            models.Index(fields=["chat", "status"]),
            models.Index(
                fields=["schedule", "-created_at"],
                condition=models.Q(schedule__isnull=False),
                name="run_schedule_created",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.agent_id} run {self.id} ({self.status})"

    @property
    def is_terminal(self) -> bool:
        return self.status in self.TERMINAL


class Log(models.Model):
    """A log line of a chat or a run, from the agent or from a client."""

    class Level(models.TextChoices):
        DEBUG = "debug"
        INFO = "info"
        WARNING = "warning"
        ERROR = "error"
        CRITICAL = "critical"

    class Source(models.TextChoices):
        AGENT = "agent"
        CLIENT = "client"
        SYSTEM = "system"

    # Indexed by the Meta index that starts with it (an index of its own only costs writes).
    chat = models.ForeignKey(
        "chats.Chat", on_delete=models.CASCADE, null=True, blank=True, related_name="logs", db_index=False
    )
    run = models.ForeignKey(
        Run, on_delete=models.CASCADE, null=True, blank=True, related_name="logs", db_index=False
    )
    seq = models.BigIntegerField()
    level = models.CharField(max_length=16, choices=Level.choices, default=Level.INFO)
    message = models.TextField()
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.AGENT)
    data = models.JSONField(default=dict, blank=True)
    # Set by the EventSink: the rows of one batch share its time, and their number orders them.
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["seq", "id"]
        indexes = [
            models.Index(fields=["run", "seq"]),
            models.Index(fields=["chat", "seq"]),
            models.Index(fields=["chat", "created_at"], name="log_chat_created"),  # chatData?afterTimestamp=
        ]

    def __str__(self) -> str:
        return f"[{self.level}] {self.message[:80]}"


class Stat(models.Model):
    """Figures of one turn or run: tokens, durations, …"""

    # Indexed by stat_chat_created, which starts with it.
    chat = models.ForeignKey(
        "chats.Chat", on_delete=models.CASCADE, null=True, blank=True, related_name="stats", db_index=False
    )
    run = models.ForeignKey(Run, on_delete=models.CASCADE, null=True, blank=True, related_name="stats")
    seq = models.BigIntegerField()
    name = models.CharField(max_length=64, default="run")
    data = models.JSONField(default=dict)
    # Set by the EventSink: the rows of one batch share its time, and their number orders them.
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["seq", "id"]
        indexes = [models.Index(fields=["chat", "created_at"], name="stat_chat_created")]  # chatData

    def __str__(self) -> str:
        return f"{self.name} {self.data}"


class Event(models.Model):
    """One numbered event of a chat's or a run's stream: what live clients saw, kept for resume."""

    # Indexed by event_unique_chat_seq (``chat_id = x`` implies its condition) and (run, seq).
    chat = models.ForeignKey(
        "chats.Chat", on_delete=models.CASCADE, null=True, blank=True, related_name="events", db_index=False
    )
    run = models.ForeignKey(
        Run, on_delete=models.CASCADE, null=True, blank=True, related_name="events", db_index=False
    )
    seq = models.BigIntegerField()
    type = models.CharField(max_length=32)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["seq"]
        constraints = [
            models.UniqueConstraint(
                fields=["chat", "seq"],
                condition=models.Q(chat__isnull=False),
                name="event_unique_chat_seq",
            ),
            models.UniqueConstraint(
                fields=["run", "seq"],
                condition=models.Q(chat__isnull=True),
                name="event_unique_run_seq",
            ),
        ]
        indexes = [models.Index(fields=["run", "seq"])]

    def __str__(self) -> str:
        return f"#{self.seq} {self.type}"
