"""Pydantic AI agents for the tests, on its own FunctionModel (scripted, streamed)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from pydantic_ai import Agent
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, FunctionModel


async def weather_script(messages: list[Any], info: AgentInfo) -> AsyncIterator[Any]:
    last = messages[-1].parts[-1]
    if last.part_kind == "user-prompt" and "weather" in last.content:
        yield {0: DeltaToolCall(name="get_weather", json_args='{"city": "Paris"}', tool_call_id="c1")}
        return
    if last.part_kind == "user-prompt":
        earlier = sum(1 for msg in messages for p in msg.parts if p.part_kind == "user-prompt") - 1
        yield f"{earlier} earlier, "
        yield "you said: "
        yield last.content
        return
    for piece in ["It is ", "sunny ", "in Paris."]:
        yield piece


async def slow_script(messages: list[Any], info: AgentInfo) -> AsyncIterator[str]:
    for _ in range(1000):
        await asyncio.sleep(0.05)
        yield "."


def weather_agent() -> Agent:
    agent = Agent(FunctionModel(stream_function=weather_script))

    @agent.tool_plain
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"sunny in {city}"

    return agent


slow_agent = Agent(FunctionModel(stream_function=slow_script))
