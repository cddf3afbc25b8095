"""The agent of tests/test_one_chat_everywhere.py: a turn with every kind of event, or one that fails.

Imported by the server process through its dotted path, ``tests.everything_agent:everything``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from uai.agents import events
from uai.agents.protocol import AgentContext, AgentRequest

CANVAS = b"a canvas, ready for paint"


async def everything(request: AgentRequest, context: AgentContext) -> AsyncIterator[events.AgentEvent]:
    """Asked to ``fail``: a step, a warning and some text, then an exception. Otherwise: plans,
    logs, streams, acts, makes an artifact, reports a figure, asks a question and answers with
    what it was told (text streamed before and after the question, the answer its last round)."""
    if request.text == "fail":
        yield events.Step(events.ACTION_STEP, "checking the brushes")
        yield events.Log("the brushes are dry", "warning", {"brushes": 3})
        yield events.TextDelta("Trying anyway…")
        raise RuntimeError("out of paint")
    yield events.Step(events.PLANNING_STEP, "plan: prepare a canvas, ask for a colour, paint")
    yield events.Log("planned", "info", {"steps": 2})
    yield events.TextDelta("Let me ")
    yield events.TextDelta("paint. ")
    yield events.Step(events.ACTION_STEP, "canvas()")
    yield events.Artifact("canvas.txt", CANVAS, "text/plain")
    yield events.Stats({"tokens": 7})
    colour = await context.ask("Which colour?")
    yield events.Log(f"colour: {colour}", "info")
    yield events.TextDelta("Painted it ")
    yield events.TextDelta(f"{colour}.")
    yield events.FinalAnswer(content=f"Painted it {colour}.")
