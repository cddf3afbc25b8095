"""A smolagents agent: a ToolCallingAgent with a weather tool, on any OpenAI-compatible server."""

import os

from smolagents import OpenAIServerModel, ToolCallingAgent, tool


@tool
def get_weather(city: str) -> str:
    """The weather in a city.

    Args:
        city: the city's name.
    """
    return f"sunny in {city}"


def agent() -> ToolCallingAgent:
    """A fresh agent per run (smolagents agents keep their memory)."""
    model = OpenAIServerModel(model_id=os.environ.get("UAI_EXAMPLE_MODEL", "gpt-4o-mini"))
    return ToolCallingAgent(tools=[get_weather], model=model, max_steps=4)
