"""Agents of the A2A facade's tests (imported by the server process through their dotted paths)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from uai.agents import events
from uai.agents.protocol import AgentContext, AgentRequest

REPORT = b"the A2A report, in full"
TICKS = 12
TICK_SECONDS = 0.12  # longer than UAI_DELTA_FLUSH_SECONDS: each tick is a delta of its own
LONG_TICKS = 600  # a task that outlasts any test unless it is cancelled


async def works(request: AgentRequest, context: AgentContext) -> AsyncIterator[events.AgentEvent]:
    """Plans, acts, makes a file, streams its answer in pieces and answers."""
    yield events.Step(events.PLANNING_STEP, "plan: look, then report")
    yield events.Step(events.ACTION_STEP, "looked around")
    yield events.Artifact("report.txt", REPORT, "text/plain")
    yield events.TextDelta("Here is ")
    yield events.TextDelta("the report ")
    yield events.FinalAnswer(content=f"Here is the report on {request.text}.")


async def ticker(request: AgentRequest, context: AgentContext) -> AsyncIterator[events.AgentEvent]:
    """Streams TICKS pieces a little apart (a stream to drop and resume half way), a step between."""
    pieces = [f"tick{i} " for i in range(TICKS)]
    for number, piece in enumerate(pieces):
        if number == TICKS // 2:
            yield events.Step(events.ACTION_STEP, "half way")
        yield events.TextDelta(piece)
        await asyncio.sleep(TICK_SECONDS)
    yield events.FinalAnswer(content="".join(pieces))


async def slow(request: AgentRequest, context: AgentContext) -> AsyncIterator[events.AgentEvent]:
    """Streams for a minute unless it is cancelled."""
    yield events.Step(events.ACTION_STEP, "starting a long job")
    for number in range(LONG_TICKS):
        yield events.TextDelta(f"tick{number} ")
        await asyncio.sleep(0.1)
    yield events.FinalAnswer(content="never cancelled")


async def asks(request: AgentRequest, context: AgentContext) -> AsyncIterator[events.AgentEvent]:
    """Asks for a colour, then answers with it (one run)."""
    yield events.Step(events.ACTION_STEP, "needs a colour")
    colour = await context.ask("Which colour?")
    yield events.FinalAnswer(content=f"Painted it {colour} (asked: {request.text})")


async def hesitates(request: AgentRequest, context: AgentContext) -> AsyncIterator[events.AgentEvent]:
    """Starts an answer, then asks (one event says two responses: the answer's end, the question)."""
    yield events.TextDelta("Let me see… ")
    colour = await context.ask("Which colour?")
    yield events.FinalAnswer(content=f"Let me see… {colour}.")
