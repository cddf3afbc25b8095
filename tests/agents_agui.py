"""Agents of the AG-UI tests (tests/test_agui*.py): each shows one part of what a front end sees.

Imported by the server process through their dotted paths, ``tests.agents_agui:<name>``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from uai.agents import events
from uai.agents.protocol import AgentContext, AgentRequest

REPORT = b"the weather report"
TICKS = 30  # the pieces ``ticker`` streams
TICK_SECONDS = 0.05


async def plans(request: AgentRequest) -> AsyncIterator[events.AgentEvent]:
    """Plans (a reasoning step), acts (a plain step), then answers in two pieces."""
    yield events.Step(events.PLANNING_STEP, "plan: look it up, then answer")
    yield events.Step(events.ACTION_STEP, "looked it up")
    yield events.TextDelta("Done: ")
    yield events.FinalAnswer(f"Done: {request.text}")


async def weather(request: AgentRequest) -> AsyncIterator[events.AgentEvent]:
    """Calls a tool of its own (a call step, then its result step, as adapters write them), then
    answers from the result."""
    arguments = json.dumps({"city": "Paris"})
    yield events.Step(
        events.ACTION_STEP,
        f"Calling tool get_weather({arguments})",
        {"tool": "get_weather", "call_id": "call_w1", "arguments": arguments},
    )
    yield events.Step(
        events.ACTION_STEP,
        "Observation from get_weather: sunny",
        {"tool": "get_weather", "call_id": "call_w1", "result": {"forecast": "sunny"}},
    )
    yield events.TextDelta("Sunny in Paris.")
    yield events.FinalAnswer("Sunny in Paris.")


async def keeper(request: AgentRequest) -> AsyncIterator[events.AgentEvent]:
    """Counts its turns in the chat's state (twice per turn: a snapshot, then a change), makes a
    file, reports progress and a log line, and answers with the state it was given."""
    count = int(request.state.get("count", 0))
    yield events.StateUpdate({**request.state, "count": count + 1})
    yield events.Progress(50, "halfway")
    yield events.Log("wrote the report", "info")
    yield events.Artifact("report.txt", REPORT, "text/plain")
    yield events.StateUpdate({**request.state, "count": count + 1, "done": True})
    yield events.FinalAnswer(f"given {json.dumps(request.state, sort_keys=True)}")


async def greeter(request: AgentRequest, context: AgentContext) -> AsyncIterator[events.AgentEvent]:
    """Says a word, asks for a name, then a city, and greets with both (one UAI run throughout)."""
    yield events.TextDelta("Hi. ")
    name = await context.ask("What is your name?")
    city = await context.ask(f"Where do you live, {name}?")
    yield events.FinalAnswer(f"Hello {name} from {city}!")


async def ticker(request: AgentRequest) -> AsyncIterator[events.AgentEvent]:
    """Streams ``TICKS`` numbered pieces a little apart (a stream to drop and resume), then answers."""
    for tick in range(TICKS):
        yield events.TextDelta(f"{tick} ")
        await asyncio.sleep(TICK_SECONDS)
    yield events.FinalAnswer("".join(f"{tick} " for tick in range(TICKS)))


async def painter(request: AgentRequest, context: AgentContext) -> AsyncIterator[events.AgentEvent]:
    """Calls the front end's ``pick_colour`` tool (one of the tools the request offers) and paints
    with the colour it answers."""
    offered = ", ".join(tool["name"] for tool in request.tools)
    colour = await context.call_tool("pick_colour", {"options": ["teal", "red"]})
    yield events.FinalAnswer(f"Painted it {colour} (offered: {offered}).")
