"""OpenAI Agents SDK agents for the tests, on the SDK's own ScriptedModel (agents.testing)."""

from __future__ import annotations

import asyncio
from typing import Any

from agents import Agent, function_tool
from agents.testing import ModelCall, ModelStep, ScriptedModel, assistant_message, function_call
from openai.types.responses import ResponseOutputMessage, ResponseOutputText


def streamed_message(*parts: str) -> ResponseOutputMessage:
    """An assistant message in several parts: the scripted model streams one delta per part."""
    content = [ResponseOutputText(text=p, type="output_text", annotations=[], logprobs=[]) for p in parts]
    return ResponseOutputMessage(
        id="msg", type="message", role="assistant", status="completed", content=content
    )


def weather_script(call: ModelCall) -> list[Any]:
    last = call.input[-1]
    if last.get("type") == "function_call_output":
        return [streamed_message("It is ", "sunny ", "in Paris.")]
    if "weather" in last["content"]:
        return [function_call("get_weather", {"city": "Paris"}, call_id="c1")]
    earlier = sum(1 for item in call.input if item.get("role") == "user") - 1
    return [streamed_message(f"{earlier} earlier, ", "you said: ", last["content"])]


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def weather_agent() -> Agent:
    model = ScriptedModel([ModelStep.respond(weather_script), ModelStep.respond(weather_script)])
    return Agent(name="weather", instructions="Answer briefly.", model=model, tools=[get_weather])


def delete_script(call: ModelCall) -> list[Any]:
    last = call.input[-1]
    if last.get("type") == "function_call_output":
        return [assistant_message(f"Result: {last['output']}")]
    return [function_call("delete_file", {"path": last["content"]}, call_id="c1")]


@function_tool(needs_approval=True)
def delete_file(path: str) -> str:
    """Delete a file (asks the user first)."""
    return f"deleted {path}"


def careful_agent() -> Agent:
    model = ScriptedModel([ModelStep.respond(delete_script), ModelStep.respond(delete_script)])
    return Agent(name="careful", model=model, tools=[delete_file])


@function_tool
async def crawl(site: str) -> str:
    """Crawl a site (takes a minute)."""
    await asyncio.sleep(60)
    return "done"


def slow_agent() -> Agent:
    model = ScriptedModel([[function_call("crawl", {"site": "example.org"}, call_id="c1")]])
    return Agent(name="crawler", model=model, tools=[crawl])
