"""What a chat id and a message's text may be: checked by the services of chats and of runs."""

from __future__ import annotations

import re

from django.conf import settings

from uai_project.errors import InvalidInput

CHAT_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
# Fixed routes beside /chat/{session_id} (and LangGraph's /threads/{thread_id}): a chat may not
# take these names.
RESERVED_CHAT_IDS = frozenset({"next", "run", "stream", "create", "search"})


def validate_chat_id(chat_id: str) -> str:
    """A client-chosen chat id: 1–64 letters, digits, ``_ . -``, not a reserved route name."""
    if not CHAT_ID_PATTERN.match(chat_id) or chat_id in RESERVED_CHAT_IDS:
        raise InvalidInput(
            "A chat id is 1 to 64 letters, digits, '_', '.' or '-' (and not next, run, stream, "
            "create or search)."
        )
    return chat_id


def validate_text(text: str) -> str:
    """A message's text within the configured length (an answer to an agent's question too)."""
    if len(text) > settings.UAI_MAX_MESSAGE_CHARS:
        raise InvalidInput(f"A message is at most {settings.UAI_MAX_MESSAGE_CHARS} characters.")
    return text
