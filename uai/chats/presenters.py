"""The one JSON shape of chats and messages, for REST responses and stream events alike."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from uai.artifacts.models import Artifact
from uai.artifacts.presenters import artifact_data
from uai.chats.models import PREVIEW_CHARS, PREVIEW_READ_CHARS, Chat, Message
from uai.runs.stream_events import MessageData


def message_data(message: Message, *, base_url: str = "", files: list[Artifact] | None = None) -> MessageData:
    """A message with its attached files (prefetch ``files`` when presenting many)."""
    if files is None:
        files = list(message.files.all()) if message.pk else []
    return {
        "id": str(message.id),
        "chat_id": message.chat_id,
        "run_id": str(message.run_id) if message.run_id else None,
        "seq": message.seq,
        "role": message.role,
        "content": message.content,
        "step_type": message.step_type,
        "message_id": message.client_message_id or None,
        "created_at": message.created_at.isoformat() if message.created_at else None,
        "files": [artifact_data(a, base_url=base_url) for a in files],
    }


def chat_data(chat: Chat) -> dict[str, Any]:
    """A chat's fields (``session_id`` is its id, as seed 000 names it)."""
    return {
        "session_id": chat.id,
        "id": chat.id,
        "agent": chat.agent_id,
        "name": chat.name,
        "description": chat.description,
        "mode": chat.mode,
        "status": chat.status,
        "metadata": chat.metadata,
        "tags": chat.tags,
        "state": chat.state,
        # The strategy its messages follow: its own, else the server's.
        "double_texting": chat.double_texting or settings.UAI_DOUBLE_TEXTING,
        "created_at": chat.created_at.isoformat() if chat.created_at else None,
        "updated_at": chat.updated_at.isoformat() if chat.updated_at else None,
    }


def chat_list_data(chat: Chat) -> dict[str, Any]:
    """A chat in a list (``selectors.chat_list``): its fields, and ``preview``, the start of its
    first message (one line, "…" where it was cut; "" before one) — a title for a chat nobody
    named, whatever API it was made through."""
    read = getattr(chat, "preview", None) or ""  # (at most PREVIEW_READ_CHARS + 1: more is cut)
    text = " ".join(read[:PREVIEW_READ_CHARS].split())
    if len(text) > PREVIEW_CHARS or len(read) > PREVIEW_READ_CHARS:
        text = text[:PREVIEW_CHARS].rstrip() + "…"
    return {**chat_data(chat), "preview": text}
