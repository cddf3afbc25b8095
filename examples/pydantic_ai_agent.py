"""A Pydantic AI agent with a weather tool, on any OpenAI-compatible server."""

import os

from pydantic_ai import Agent
from pydantic_ai.models.openai import OpenAIChatModel


def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def agent() -> Agent:
    """A factory: the model, and its API key, are needed only when the agent runs."""
    model = OpenAIChatModel(os.environ.get("UAI_EXAMPLE_MODEL", "gpt-4o-mini"))
    return Agent(model, instructions="Answer briefly.", tools=[get_weather])
