"""Agents of tests/test_v1_chat.py (the server imports them through their dotted paths)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from uai.agents import events
from uai.agents.protocol import AgentContext, AgentRequest


async def history(request: AgentRequest, context: AgentContext) -> AsyncIterator[events.AgentEvent]:
    """Answers with the conversation it was shown, ``role: content`` per entry, and the turn."""
    shown = [f"{h.role}: {h.content}" for h in request.history]
    yield events.FinalAnswer(content=" | ".join([*shown, f"now: {request.text}"]))


async def names_files(request: AgentRequest, context: AgentContext) -> AsyncIterator[events.AgentEvent]:
    """Answers with each file it got: name, media type and size."""
    files = [f"{f.name} {f.media_type} {f.size}" for f in request.files]
    yield events.FinalAnswer(content="; ".join(files) or "no files")


async def counted(request: AgentRequest, context: AgentContext) -> AsyncIterator[events.AgentEvent]:
    """Streams its answer in pieces and reports the tokens it used, as a model-backed agent does."""
    for piece in ("Counted ", "answer ", "here."):
        yield events.TextDelta(piece)
    yield events.Stats({"input_tokens": 11, "output_tokens": 3})
    yield events.FinalAnswer(content="Counted answer here.")
