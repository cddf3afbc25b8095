"""Agents of the OpenAI facade's tests (imported by the server process through their dotted paths)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from uai.agents import events
from uai.agents.protocol import AgentContext, AgentRequest

TICKS = 20
TICK_SECONDS = 0.08  # longer than UAI_DELTA_FLUSH_SECONDS: each tick is a delta of its own


async def ticker(request: AgentRequest, context: AgentContext) -> AsyncIterator[events.AgentEvent]:
    """Streams its answer in TICKS pieces, a little apart (a stream long enough to break off and
    resume mid-way), reports token counts, then answers with the whole text."""
    pieces = [f"tick{i} " for i in range(TICKS)]
    for piece in pieces:
        yield events.TextDelta(piece)
        await asyncio.sleep(TICK_SECONDS)
    yield events.Stats({"input_tokens": 3, "output_tokens": TICKS})
    yield events.FinalAnswer(content="".join(pieces))


async def asks_twice(request: AgentRequest, context: AgentContext) -> AsyncIterator[events.AgentEvent]:
    """Asks two questions in one run, then answers with both answers (one run, three responses)."""
    name = await context.ask("Who is asking?")
    place = await context.ask(f"Where are you, {name}?")
    yield events.FinalAnswer(content=f"Hello {name} in {place} (you said: {request.text})")
