"""Agents of the AI SDK facade's tests (imported by the server process through their dotted paths)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from uai.agents import events
from uai.agents.protocol import AgentContext, AgentRequest

REPORT = b"the report, in full"
TICKS = 20
TICK_SECONDS = 0.08  # longer than UAI_DELTA_FLUSH_SECONDS: each tick is a delta of its own
LONG_TICKS = 600  # a turn that outlasts any test unless it is stopped
ANSWER_TICK_SECONDS = 0.5


async def works(request: AgentRequest, context: AgentContext) -> AsyncIterator[events.AgentEvent]:
    """Plans, acts, logs, reports progress and state, makes a file, streams and answers: every
    part a turn can have but tools and questions."""
    yield events.Step(events.PLANNING_STEP, "plan: look, then write a report")
    yield events.Log("planned", "info")
    yield events.Progress(50, "looking")
    yield events.Step(events.ACTION_STEP, "looked around")
    yield events.StateUpdate({"looked": True})
    yield events.Artifact("report.txt", REPORT, "text/plain")
    yield events.TextDelta("Here is ")
    yield events.TextDelta("the report ")
    yield events.FinalAnswer(content=f"Here is the report on {request.text}.")


async def uses_a_tool(request: AgentRequest, context: AgentContext) -> AsyncIterator[events.AgentEvent]:
    """Calls a tool of its own (the tool-step convention: a call, then its result), then answers."""
    arguments = json.dumps({"city": request.text})
    yield events.Step(
        events.ACTION_STEP,
        f"Calling tool get_weather({arguments})",
        {"tool": "get_weather", "call_id": "call_weather_1", "arguments": arguments},
    )
    yield events.Step(
        events.ACTION_STEP,
        "Observation from get_weather",
        {"tool": "get_weather", "call_id": "call_weather_1", "result": {"sky": "sunny"}},
    )
    yield events.FinalAnswer(content=f"It is sunny in {request.text}.")


async def ticker(request: AgentRequest, context: AgentContext) -> AsyncIterator[events.AgentEvent]:
    """Streams its answer in TICKS pieces, a little apart (a turn long enough to break off and
    resume mid-way), with a step between two of them, then answers with the whole text."""
    pieces = [f"tick{i} " for i in range(TICKS)]
    for number, piece in enumerate(pieces):
        if number == TICKS // 2:
            yield events.Step(events.ACTION_STEP, "half way")
        yield events.TextDelta(piece)
        await asyncio.sleep(TICK_SECONDS)
    yield events.FinalAnswer(content="".join(pieces))


async def long_ticker(request: AgentRequest, context: AgentContext) -> AsyncIterator[events.AgentEvent]:
    """Streams for a minute unless it is stopped."""
    for number in range(LONG_TICKS):
        yield events.TextDelta(f"tick{number} ")
        await asyncio.sleep(0.1)
    yield events.FinalAnswer(content="never stopped")


async def asks(request: AgentRequest, context: AgentContext) -> AsyncIterator[events.AgentEvent]:
    """Works a step, asks who is asking, then answers with the name (one run, two segments)."""
    yield events.Step(events.ACTION_STEP, "wondering who asks")
    name = await context.ask("Who is asking?")
    yield events.Step(events.ACTION_STEP, f"greeting {name}")
    for piece in ("Hello ", name):  # a little apart: a reader can join the turn half way
        yield events.TextDelta(piece)
        await asyncio.sleep(ANSWER_TICK_SECONDS)
    yield events.FinalAnswer(content=f"Hello {name} (you said: {request.text})")


async def breaks(request: AgentRequest, context: AgentContext) -> AsyncIterator[events.AgentEvent]:
    """Starts to answer, then raises."""
    yield events.Step(events.ACTION_STEP, "about to break")
    yield events.TextDelta("Almost")
    raise RuntimeError("the agent broke on purpose")


async def reads_files(request: AgentRequest, context: AgentContext) -> AsyncIterator[events.AgentEvent]:
    """Answers with the names and contents of the files it was sent."""
    files = [f"{f.name}:{f.media_type}={f.read().decode()}" for f in request.files]
    yield events.FinalAnswer(content=f"{request.text} with {', '.join(files) or 'no file'}")


async def locates(request: AgentRequest, context: AgentContext) -> AsyncIterator[events.AgentEvent]:
    """Calls the front end's tool ``get_location`` (a tool it offered), then answers with its
    result, a little after (a reader can join the turn half way)."""
    offered = [tool["name"] for tool in request.tools]
    where = await context.call_tool("get_location", {"precision": "city"})
    await asyncio.sleep(ANSWER_TICK_SECONDS)
    yield events.FinalAnswer(content=f"You are in {where} (offered: {', '.join(offered)})")
