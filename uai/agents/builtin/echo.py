"""``echo``: replies with the user's text and returns each uploaded file as an artifact."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from uai.agents import events
from uai.agents.protocol import AgentContext, AgentRequest


async def echo(request: AgentRequest, context: AgentContext) -> AsyncIterator[events.AgentEvent]:
    """Echo the text back; hand every file back as an artifact."""
    for file in request.files:
        content = await asyncio.to_thread(file.read)
        yield events.Artifact(name=file.name, content=content, media_type=file.media_type)
    yield events.FinalAnswer(content=request.text)
