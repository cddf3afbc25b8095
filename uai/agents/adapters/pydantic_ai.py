"""Pydantic AI: an ``Agent`` (or a factory making one) as an agent.

The run is driven with ``Agent.iter()``: model text parts stream as text deltas, each tool call is
an ActionStep (the call, then its result), the output is the FinalAnswerStep (structured outputs
as JSON), and usage is recorded as stats. Earlier user messages and answers of the chat are the
message history. Needs the ``pydantic_ai`` extra.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterable
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


def translate(event: Any) -> events.AgentEvent | None:
    """A model-request or tool-call event as a UAI event (None for the ones UAI does not show)."""
    from pydantic_ai import messages as m

    if isinstance(event, m.PartStartEvent) and isinstance(event.part, m.TextPart):
        return events.TextDelta(event.part.content) if event.part.content else None
    if isinstance(event, m.PartDeltaEvent) and isinstance(event.delta, m.TextPartDelta):
        return events.TextDelta(event.delta.content_delta) if event.delta.content_delta else None
    if isinstance(event, m.FunctionToolCallEvent):
        part = event.part
        return events.Step(
            events.ACTION_STEP,
            f"Calling tool {part.tool_name}({part.args_as_json_str()})",
            data={"tool": part.tool_name, "call_id": part.tool_call_id},
        )
    if isinstance(event, m.FunctionToolResultEvent):
        result = getattr(event, "result", None) or event.part  # renamed across versions
        content = getattr(result, "content", result)
        return events.Step(
            events.ACTION_STEP,
            f"Observation from {result.tool_name}: {content}",
            data={"tool": result.tool_name, "result": jsonable(content)},
        )
    return None


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
        async with agent.iter(request.text, message_history=self._history(request) or None) as run:
            async for node in run:
                if Agent.is_model_request_node(node) or Agent.is_call_tools_node(node):
                    node_events: AsyncIterable[Any]
                    async with node.stream(run.ctx) as node_events:
                        async for event in node_events:
                            translated = translate(event)
                            if translated is not None:
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
