"""Agents for the chat page's browser tests (tests/test_browser_chat.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from uai.agents import events
from uai.agents.protocol import AgentContext, AgentRequest


async def works_a_while(request: AgentRequest, context: AgentContext) -> AsyncIterator[events.AgentEvent]:
    """Reports progress and logs for a few seconds (``stop`` in the text: for a minute), makes two
    files of the same name, then answers."""
    seconds = 60 if "stop" in request.text else 2
    for i in range(4):
        yield events.Progress(25.0 * i, current_step=f"phase {i + 1} of 4")
        yield events.Log(f"log line {i + 1}")
        await asyncio.sleep(seconds / 4)
    yield events.Artifact("notes.txt", content=b"first", media_type="text/plain")
    yield events.Artifact("notes.txt", content=b"second", media_type="text/plain")
    yield events.FinalAnswer(content=f"done with {request.text}")


async def asks_a_question(request: AgentRequest, context: AgentContext) -> AsyncIterator[events.AgentEvent]:
    """Asks for a colour, then says it."""
    answer = await context.ask("Which colour?")
    yield events.FinalAnswer(content=f"you said {answer}")
