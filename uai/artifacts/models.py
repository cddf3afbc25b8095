"""Artifacts: files and structured outputs of agents, and files users upload."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


def artifact_path(instance: Artifact, filename: str) -> str:
    """Stored under a generated name: the client's filename never reaches the filesystem."""
    return f"artifacts/{instance.id.hex[:2]}/{instance.id.hex}"


class Artifact(models.Model):
    """A file (or a JSON value) produced by an agent or uploaded by a user."""

    class Origin(models.TextChoices):
        AGENT = "agent"
        USER = "user"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="artifacts")
    # Indexed by the Meta index that starts with it (an index of its own only costs writes).
    chat = models.ForeignKey(
        "chats.Chat",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="artifacts",
        db_index=False,
    )
    run = models.ForeignKey(
        "runs.Run", on_delete=models.SET_NULL, null=True, blank=True, related_name="artifacts", db_index=False
    )
    message = models.ForeignKey(
        "chats.Message", on_delete=models.SET_NULL, null=True, blank=True, related_name="files"
    )
    origin = models.CharField(max_length=8, choices=Origin.choices, default=Origin.AGENT)
    name = models.CharField(max_length=255)
    media_type = models.CharField(max_length=200, default="application/octet-stream")
    size = models.BigIntegerField(default=0)
    checksum = models.CharField(max_length=64, blank=True, help_text="SHA-256 of the bytes.")
    file = models.FileField(upload_to=artifact_path, max_length=300, blank=True)
    data = models.JSONField(null=True, blank=True, help_text="A structured (JSON) artifact.")
    seq = models.BigIntegerField(null=True, blank=True)
    # Set by the EventSink: the rows of one batch share its time, and their number orders them.
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["chat", "created_at"]), models.Index(fields=["run"])]

    def __str__(self) -> str:
        return self.name
