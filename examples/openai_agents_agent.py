"""An OpenAI Agents SDK agent with a weather tool, on any OpenAI-compatible server."""

import os

from agents import Agent, OpenAIChatCompletionsModel, function_tool
from openai import AsyncOpenAI


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def agent() -> Agent:
    """A factory: the model, and its API key, are needed only when the agent runs."""
    model = os.environ.get("UAI_EXAMPLE_MODEL", "gpt-4o-mini")
    return Agent(
        name="weather",
        instructions="Answer briefly.",
        model=OpenAIChatCompletionsModel(model=model, openai_client=AsyncOpenAI()),
        tools=[get_weather],
    )
