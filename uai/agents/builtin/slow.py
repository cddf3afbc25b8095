"""``slow``: works in steps with logs and progress, can ask a question, stops when cancelled.

Input: ``{"steps": N, "delay": seconds, "ask": "question"}``, all optional, as a JSON object
(a run's input) or the same JSON as text (a chat message).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any, TypedDict

from uai.agents import events
from uai.agents.protocol import AgentContext, AgentRequest

DEFAULT_STEPS = 3
DEFAULT_DELAY_SECONDS = 1.0
MAX_STEPS = 10_000
MAX_DELAY_SECONDS = 3600.0


class SlowInput(TypedDict):
    steps: int
    delay: float
    ask: str | None


def parse_input(value: Any) -> SlowInput:
    """Read and check ``steps``, ``delay`` and ``ask`` from a run input or a message's text."""
    if isinstance(value, str):
        value = value.strip()
        try:
            value = json.loads(value) if value else {}
        except json.JSONDecodeError as exc:
            raise ValueError('slow expects a JSON object like {"steps": 3, "delay": 1}') from exc
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise ValueError('slow expects a JSON object like {"steps": 3, "delay": 1}')
    steps, delay, ask = (
        value.get("steps", DEFAULT_STEPS),
        value.get("delay", DEFAULT_DELAY_SECONDS),
        value.get("ask"),
    )
    if not isinstance(steps, int) or isinstance(steps, bool) or not 0 <= steps <= MAX_STEPS:
        raise ValueError(f"steps must be a whole number from 0 to {MAX_STEPS}")
    if not isinstance(delay, int | float) or isinstance(delay, bool) or not 0 <= delay <= MAX_DELAY_SECONDS:
        raise ValueError(f"delay must be a number of seconds from 0 to {MAX_DELAY_SECONDS:g}")
    if ask is not None and not isinstance(ask, str):
        raise ValueError("ask must be a string")
    return {"steps": steps, "delay": float(delay), "ask": ask}


def estimate_seconds(value: Any) -> float:
    """Expected duration of a run with this input."""
    try:
        params = parse_input(value)
    except ValueError:
        return 0.0
    return params["steps"] * params["delay"]


async def slow(request: AgentRequest, context: AgentContext) -> AsyncIterator[events.AgentEvent]:
    """One log line and one progress report per step; asks after the first step if told to."""
    params = parse_input(request.input)
    steps, delay, ask = params["steps"], params["delay"], params["ask"]
    answer = None
    for index in range(1, steps + 1):
        yield events.Log(f"step {index} of {steps}")
        await asyncio.sleep(delay)
        yield events.Progress(
            percent=100.0 * index / steps,
            current_step=f"step {index} of {steps}",
            remaining_seconds=(steps - index) * delay,
        )
        if ask and index == 1:
            answer = await context.ask(ask)
            yield events.Log(f"got the answer: {answer}")
    if ask and steps == 0:
        answer = await context.ask(ask)
    text = f"Done after {steps} steps."
    if answer is not None:
        text += f" You answered: {answer}"
    yield events.FinalAnswer(content=text, output={"steps": steps, "answer": answer, "text": text})
