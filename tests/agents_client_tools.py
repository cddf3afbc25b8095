"""Agents that call a front-end tool (``request.tools``), one per framework that takes tools at run
time: plain Python (async and sync), Pydantic AI on its FunctionModel, the OpenAI Agents SDK on its
ScriptedModel. (The OpenAI-compatible model's agent is tests.openai_server's script: it calls
``get_weather`` when offered it.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from agents import Agent as SDKAgent
from agents.testing import ModelCall, ModelStep, ScriptedModel, assistant_message, function_call
from pydantic_ai import Agent as PAIAgent
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, FunctionModel

from uai.agents.protocol import AgentContext, AgentRequest

TOOL = "get_location"
ARGUMENTS = {"precision": "city"}


async def locates(request: AgentRequest, context: AgentContext) -> str:
    """Asks the front end where the user is, with the first tool it offers."""
    offered = [tool["name"] for tool in request.tools]
    where = await context.call_tool(offered[0] if offered else TOOL, ARGUMENTS)
    return f"You are in {where} (offered: {', '.join(offered)})"


def locates_sync(request: AgentRequest, context: AgentContext) -> str:
    """The same from a worker thread."""
    where = context.call_tool_sync(request.tools[0]["name"], ARGUMENTS)
    return f"You are in {where}"


async def asks(request: AgentRequest, context: AgentContext) -> str:
    """A plain question, for comparison."""
    name = await context.ask("Who is asking?")
    return f"Hello {name}"


async def _pai_script(messages: list[Any], info: AgentInfo) -> AsyncIterator[Any]:
    last = messages[-1].parts[-1]
    if last.part_kind == "user-prompt":
        offered = [tool.name for tool in info.function_tools]
        assert offered == [TOOL], offered  # the front end's tool reached the model
        yield {0: DeltaToolCall(name=TOOL, json_args='{"precision": "city"}', tool_call_id="pai_1")}
        return
    yield f"You are in {last.content}"


def pai_locator() -> PAIAgent:
    return PAIAgent(FunctionModel(stream_function=_pai_script))


def _sdk_script(call: ModelCall) -> list[Any]:
    last = call.input[-1]
    if last.get("type") == "function_call_output":
        return [assistant_message(f"You are in {last['output']}")]
    return [function_call(TOOL, ARGUMENTS, call_id="sdk_1")]


def sdk_locator() -> SDKAgent:
    model = ScriptedModel([ModelStep.respond(_sdk_script), ModelStep.respond(_sdk_script)])
    return SDKAgent(name="locator", model=model)
