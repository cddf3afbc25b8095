"""The conversation cache: a chat's recent history in Django's cache (Redis when configured).

PostgreSQL stays the record: a miss (or a flushed cache) reads the table and fills the cache again,
so losing the cache loses nothing.
"""

from __future__ import annotations

import functools
from typing import Any

from django.conf import settings
from django.core.cache import BaseCache, caches

from uai.chats.models import Message

Row = tuple[int, str, str, str | None]  # seq, role, content, step_type


@functools.cache
def _store() -> BaseCache:
    """One cache client for the process. The executor's database calls each run in a fresh copy
    of the context, where ``django.core.cache.cache`` would build a new client every time — with
    Redis, two new connections per turn."""
    return caches.create_connection("default")


def _key(chat_id: str) -> str:
    return f"conversation:{chat_id}"


def _load(chat_id: str) -> list[Row]:
    rows = (
        Message.objects.filter(chat_id=chat_id)
        .order_by("-seq")
        .values_list("seq", "role", "content", "step_type")[: settings.UAI_HISTORY_MESSAGES]
    )
    return [tuple(r) for r in reversed(rows)]  # type: ignore[misc]


def history(chat_id: str, *, before_seq: int) -> list[Row]:
    """The chat's recent messages before ``before_seq`` (oldest first), cache first."""
    rows: list[Row] | None = _store().get(_key(chat_id))
    if rows is None:
        rows = refresh(chat_id)
    else:
        newest = rows[-1][0] if rows else 0
        # Messages written since the cache was filled (by another surface) make it stale.
        if Message.objects.filter(chat_id=chat_id, seq__gt=newest, seq__lt=before_seq).exists():
            rows = refresh(chat_id)
    return [r for r in rows if r[0] < before_seq]


def refresh(chat_id: str) -> list[Row]:
    """Read the chat's recent messages from the table into the cache."""
    rows = _load(chat_id)
    _store().set(_key(chat_id), rows, timeout=settings.UAI_CONVERSATION_CACHE_SECONDS)
    return rows


def forget(chat_id: str) -> Any:
    """Drop a chat from the cache (it was deleted, or messages were removed)."""
    return _store().delete(_key(chat_id))
