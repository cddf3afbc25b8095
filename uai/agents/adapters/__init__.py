"""Adapters: one module per framework, each turning its output into ``agents.events``."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from uai.agents import events

if TYPE_CHECKING:
    from uai.agents.protocol import AgentRequest


def instance_or_factory(target: object, kind: type, what: str) -> tuple[Callable[[], Any], bool]:
    """How to get the framework object for a run: ``(maker, shared)``.

    An instance of ``kind`` is shared by every run (``maker`` returns it); any other callable is a
    factory called per run. Anything else is refused, naming ``what`` was expected.
    """
    if isinstance(target, kind):
        return (lambda: target), True
    if callable(target):
        return target, False
    raise TypeError(f"{target!r} is not {what} (or a factory of one)")


def jsonable(value: Any) -> Any:
    """A framework's value as JSON: pydantic models dumped, other non-JSON values as text."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return str(value)
    return value


def chat_messages(request: AgentRequest) -> list[dict[str, str]]:
    """The conversation as chat messages: earlier user messages and answers, then this turn's text."""
    messages = []
    for item in request.history:
        if item.role == "user":
            messages.append({"role": "user", "content": item.content})
        elif item.step_type == events.FINAL_ANSWER_STEP:
            messages.append({"role": "assistant", "content": item.content})
    messages.append({"role": "user", "content": request.text})
    return messages
