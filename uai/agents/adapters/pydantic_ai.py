"""Pydantic AI: an ``Agent`` (or a factory making one) as an agent.

The run is driven with ``Agent.iter()``: model text parts stream as text deltas, each tool call is
an ActionStep (the call, then its result), the output is the FinalAnswerStep (structured outputs
as JSON), and usage is recorded as stats. Earlier user messages and answers of the chat are the
message history. The front end's tools (``request.tools``) are the run's tools too (a toolset of
this run): a call of one is run by the front end (``context.call_tool``). Needs the
``pydantic_ai`` extra.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterable, Awaitable, Callable, Collection
from typing import Any

from uai.agents import events
from uai.agents.adapters import chat_messages, instance_or_factory, jsonable
from uai.agents.protocol import AgentContext, AgentRequest


def _import() -> Any:
    try:
        import pydantic_ai
    except ImportError as exc:
        raise ImportError(
            "the pydantic_ai adapter needs the 'pydantic_ai' extra: pip install 'uai[pydantic_ai]'"
        ) from exc
    return pydantic_ai


def translate(event: Any, client_tools: Collection[str] = ()) -> events.AgentEvent | None:
    """A model-request or tool-call event as a UAI event (None for the ones UAI does not show);
    ``client_tools``: the names of the front end's tools, whose steps say so."""
    from pydantic_ai import messages as m

    if isinstance(event, m.PartStartEvent) and isinstance(event.part, m.TextPart):
        return events.TextDelta(event.part.content) if event.part.content else None
    if isinstance(event, m.PartDeltaEvent) and isinstance(event.delta, m.TextPartDelta):
        return events.TextDelta(event.delta.content_delta) if event.delta.content_delta else None
    if isinstance(event, m.FunctionToolCallEvent):
        part = event.part
        arguments = part.args_as_json_str()
        data: dict[str, Any] = {"tool": part.tool_name, "call_id": part.tool_call_id, "arguments": arguments}
        if part.tool_name in client_tools:
            data["client"] = True
        return events.Step(events.ACTION_STEP, f"Calling tool {part.tool_name}({arguments})", data=data)
    if isinstance(event, m.FunctionToolResultEvent):
        result = getattr(event, "result", None) or event.part  # renamed across versions
        content = getattr(result, "content", result)
        data = {"tool": result.tool_name, "call_id": result.tool_call_id, "result": jsonable(content)}
        if result.tool_name in client_tools:
            data["client"] = True
        return events.Step(events.ACTION_STEP, f"Observation from {result.tool_name}: {content}", data=data)
    return None


def client_toolset(tools: list[dict[str, Any]], context: AgentContext, shown: dict[str, str]) -> Any:
    """The front end's tools as a toolset of this run: each call waits for the front end's result
    (``context.call_tool``; the framework reports the call and the result). ``shown``: the
    arguments of the calls reported so far by id, as their steps showed them."""
    from pydantic_ai import RunContext, Tool
    from pydantic_ai.toolsets import FunctionToolset

    def front_end(name: str) -> Callable[..., Awaitable[str]]:
        async def call(ctx: RunContext[Any], **arguments: Any) -> str:
            # (Its call step was handed over before the tool runs: the framework yields every
            # call event of a response before it runs the calls.)
            text = shown.get(ctx.tool_call_id or "")
            call_id = ctx.tool_call_id
            answer = await context.call_tool(name, text or arguments, call_id=call_id, announce=False)
            return str(answer)

        return call

    functions = [
        Tool.from_schema(
            front_end(tool["name"]),
            name=tool["name"],
            description=tool.get("description") or None,
            json_schema=tool.get("parameters") or {"type": "object", "properties": {}},
            takes_ctx=True,
        )
        for tool in tools
    ]
    return FunctionToolset(functions)


def _own_tool_names(agent: Any) -> set[str]:
    """The names of the function tools the agent has itself (other toolsets list theirs only
    when asked, at run time)."""
    from pydantic_ai.toolsets import FunctionToolset

    return {name for ts in agent.toolsets if isinstance(ts, FunctionToolset) for name in ts.tools}


def _client_call(data: dict[str, Any]) -> bool:
    return bool(data.get("client")) and "arguments" in data


class PydanticAIAdapter:
    """Streams a Pydantic AI agent's run as UAI events."""

    def __init__(self, target: Any, options: dict[str, Any]) -> None:
        pydantic_ai = _import()
        self._make, _ = instance_or_factory(target, pydantic_ai.Agent, "a Pydantic AI agent")
        self.options = options

    @staticmethod
    def _history(request: AgentRequest) -> list[Any]:
        from pydantic_ai import messages as m

        history: list[Any] = []
        for message in chat_messages(request)[:-1]:  # this turn's text is the prompt
            if message["role"] == "user":
                history.append(m.ModelRequest(parts=[m.UserPromptPart(content=message["content"])]))
            else:
                history.append(m.ModelResponse(parts=[m.TextPart(content=message["content"])]))
        return history

    async def stream(
        self, request: AgentRequest, context: AgentContext
    ) -> AsyncGenerator[events.AgentEvent, None]:
        """Run the agent node by node, streaming each model request and tool call."""
        from pydantic_ai import Agent

        agent = self._make()
        extra: dict[str, Any] = {}
        client_tools: set[str] = set()
        shown: dict[str, str] = {}  # a front-end tool call's arguments by call id
        if request.tools:
            # (A front-end tool named like one of the agent's own is not offered: the agent's wins.)
            own = _own_tool_names(agent)
            offered = [tool for tool in request.tools if tool["name"] not in own]
            extra["toolsets"] = [client_toolset(offered, context, shown)]
            client_tools = {tool["name"] for tool in offered}
        history = self._history(request) or None
        async with agent.iter(request.text, message_history=history, **extra) as run:
            async for node in run:
                if Agent.is_model_request_node(node) or Agent.is_call_tools_node(node):
                    node_events: AsyncIterable[Any]
                    async with node.stream(run.ctx) as node_events:
                        async for event in node_events:
                            translated = translate(event, client_tools)
                            if translated is None:
                                continue
                            if isinstance(translated, events.Step) and _client_call(translated.data):
                                shown[translated.data["call_id"]] = translated.data["arguments"]
                            yield translated
            usage = run.usage
            yield events.Stats(
                {
                    "tokens": (usage.input_tokens or 0) + (usage.output_tokens or 0),
                    "requests": usage.requests,
                    "tool_calls": usage.tool_calls,
                }
            )
            output = jsonable(run.result.output if run.result is not None else "")
            yield events.FinalAnswer(
                content=output if isinstance(output, str) else json.dumps(output), output=output
            )
