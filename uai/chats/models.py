"""Chats and their messages."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


def new_chat_id() -> str:
    """A server-made chat id (a UUID, which every dialect accepts)."""
    return str(uuid.uuid4())


# How much of a chat's first user message a list shows of it (``preview`` of ``GET /chat/``).
PREVIEW_CHARS = 80
# How much of it the list reads: whitespace runs fold to one space, so more than it shows.
PREVIEW_READ_CHARS = 4 * PREVIEW_CHARS


class Chat(models.Model):
    """A conversation (a session, conversation or workflow in the seeds)."""

    class Status(models.TextChoices):
        IDLE = "idle"
        RUNNING = "running"
        STOPPED = "stopped"

    class DoubleTexting(models.TextChoices):
        """What a message does when it arrives while the chat's turn is going (LangGraph's
        ``multitask_strategy`` values)."""

        ENQUEUE = "enqueue"  # its turn runs after the others
        REJECT = "reject"  # refused (409, with the going turn's id)
        INTERRUPT = "interrupt"  # the going turns are cancelled (what they did stays); its turn runs
        ROLLBACK = "rollback"  # the going turns are cancelled and deleted; its turn runs

    id = models.CharField(primary_key=True, max_length=64, default=new_chat_id)
    # Indexed by the Meta index that starts with it (an index of its own only costs writes).
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chats", db_index=False
    )
    agent = models.ForeignKey("agents.Agent", on_delete=models.PROTECT, related_name="chats")
    name = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    mode = models.CharField(max_length=32, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.IDLE)
    state = models.JSONField(default=dict, blank=True, help_text="What the agent keeps between turns.")
    metadata = models.JSONField(default=dict, blank=True)
    tags = models.JSONField(default=list, blank=True)
    # Blank: the server's UAI_DOUBLE_TEXTING.
    double_texting = models.CharField(max_length=16, choices=DoubleTexting.choices, blank=True, default="")
    # The last sequence number handed out in this chat's event stream (see runs.sink).
    last_seq = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "-created_at"])]

    def __str__(self) -> str:
        return self.name or self.id


class Message(models.Model):
    """One entry of a chat: a user's message or one step of the agent's work."""

    class Role(models.TextChoices):
        USER = "user"
        AGENT = "agent"
        SYSTEM = "system"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Indexed by message_unique_chat_seq. An index of chat_id alone would only cost writes, and with
    # stale statistics the planner took it for "the newest 50" and sorted the whole chat.
    chat = models.ForeignKey(Chat, on_delete=models.CASCADE, related_name="messages", db_index=False)
    run = models.ForeignKey(
        "runs.Run", on_delete=models.SET_NULL, null=True, blank=True, related_name="messages"
    )
    seq = models.BigIntegerField()
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.TextField(blank=True)
    step_type = models.CharField(max_length=64, null=True, blank=True)
    client_message_id = models.CharField(max_length=200, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # Set by the EventSink: the rows of one batch share its time, and their number orders them.
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["chat", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["chat", "seq"], name="message_unique_chat_seq"),
        ]
        # chatData?afterTimestamp= (seed 002's polling): read what is newer, not the whole chat.
        indexes = [models.Index(fields=["chat", "created_at"], name="message_chat_created")]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:60]}"
