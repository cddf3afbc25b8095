"""The OpenAI Agents SDK: an ``agents.Agent`` (or a factory making one) as an agent.

The run is ``Runner.run_streamed``: output-text deltas become text deltas, each tool call is an
ActionStep (the call, then its output), a handoff is an ActionStep naming the new agent, a
reasoning summary is a PlanningStep, and ``final_output`` is the FinalAnswerStep (structured
outputs as JSON). A tool declared with ``needs_approval`` interrupts the run: UAI asks the user
(``input_required``) and resumes with the tool approved on "yes"/"y"/"approve", rejected otherwise.
Earlier user messages and answers of the chat are the run's input items; usage is recorded as
stats. Tracing is off unless ``options.tracing`` is true (it would send traces to OpenAI).
The front end's tools (``request.tools``) are function tools of a copy of the agent for the run: a
call of one is run by the front end (``context.call_tool``).

Options: ``max_turns`` (default 10), ``tracing`` (default false). Needs the ``openai_agents``
extra. The SDK's import name is ``agents``; UAI's own apps live under ``uai`` so both coexist.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

from uai.agents import events
from uai.agents.adapters import chat_messages, instance_or_factory, jsonable
from uai.agents.protocol import AgentContext, AgentRequest

APPROVALS = {"y", "yes", "approve", "approved", "ok"}
# How long a front-end tool's call waits for its call step to reach UAI before it asks anyway: the
# SDK streams the call before it runs it, but from its own task, which the adapter may not have
# read yet. (Only an SDK that streamed calls after running them would wait this long.)
HAND_OVER_WAIT_SECONDS = 5.0


def _import() -> Any:
    try:
        import agents as sdk

        sdk.Runner  # noqa: B018 — a different top-level "agents" would not have it
    except (ImportError, AttributeError) as exc:
        raise ImportError(
            "the openai_agents adapter needs the 'openai_agents' extra: pip install 'uai[openai_agents]'"
        ) from exc
    return sdk


def _field(raw: Any, name: str) -> Any:
    return raw.get(name) if isinstance(raw, dict) else getattr(raw, name, None)


class _Translator:
    """SDK stream events → UAI events; remembers tool names by call id for the outputs.
    ``client_tools``: the names of the front end's tools, whose steps say so."""

    def __init__(self, client_tools: frozenset[str] = frozenset()) -> None:
        self.tools: dict[str, str] = {}
        self.client_tools = client_tools

    def __call__(self, event: Any) -> events.AgentEvent | None:
        if event.type == "raw_response_event":
            data = event.data
            if getattr(data, "type", "") == "response.output_text.delta" and data.delta:
                return events.TextDelta(data.delta)
            return None
        if event.type == "agent_updated_stream_event":
            return None
        item = event.item
        if event.name == "tool_called":
            name = _field(item.raw_item, "name") or "tool"
            call_id = _field(item.raw_item, "call_id")
            self.tools[call_id] = name
            arguments = _field(item.raw_item, "arguments") or ""
            data = {"tool": name, "call_id": call_id, "arguments": arguments}
            return events.Step(events.ACTION_STEP, f"Calling tool {name}({arguments})", data=self._of(data))
        if event.name == "tool_output":
            call_id = _field(item.raw_item, "call_id")
            name = self.tools.get(call_id, "tool")
            data = {"tool": name, "call_id": call_id, "result": jsonable(item.output)}
            return events.Step(
                events.ACTION_STEP, f"Observation from {name}: {item.output}", data=self._of(data)
            )
        if event.name == "handoff_occured":
            target = getattr(item, "target_agent", None)
            name = getattr(target, "name", "another agent")
            return events.Step(events.ACTION_STEP, f"Handing off to {name}", data={"agent": name})
        if event.name == "reasoning_item_created":
            summary = " ".join(_field(s, "text") or "" for s in _field(item.raw_item, "summary") or [])
            return events.Step(events.PLANNING_STEP, summary) if summary.strip() else None
        return None

    def _of(self, data: dict[str, Any]) -> dict[str, Any]:
        return {**data, "client": True} if data["tool"] in self.client_tools else data


class _HandOver:
    """The front-end tool calls whose call steps reached UAI, by call id: a call asks the front end
    only once its step is handled, so that the step comes before the question."""

    def __init__(self) -> None:
        self._handed: dict[str, asyncio.Event] = {}

    def done(self, call_id: str) -> None:
        self._handed.setdefault(call_id, asyncio.Event()).set()

    async def wait(self, call_id: str) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(HAND_OVER_WAIT_SECONDS):
                await self._handed.setdefault(call_id, asyncio.Event()).wait()


def client_tools(
    sdk: Any, tools: list[dict[str, Any]], context: AgentContext, hand_over: _HandOver
) -> list[Any]:
    """The front end's tools as the SDK's function tools: each call waits for the front end's
    result (``context.call_tool``; the SDK reports the call and the result)."""

    def front_end(name: str) -> Callable[[Any, str], Awaitable[str]]:
        async def invoke(ctx: Any, arguments: str) -> str:
            await hand_over.wait(ctx.tool_call_id)
            answer = await context.call_tool(name, arguments, call_id=ctx.tool_call_id, announce=False)
            return str(answer)

        return invoke

    return [
        sdk.FunctionTool(
            name=tool["name"],
            description=tool.get("description") or tool["name"],
            params_json_schema=tool.get("parameters") or {"type": "object", "properties": {}},
            on_invoke_tool=front_end(tool["name"]),
            strict_json_schema=False,  # the front end's schema, as it is
        )
        for tool in tools
    ]


class OpenAIAgentsAdapter:
    """Streams an OpenAI Agents SDK run as UAI events."""

    def __init__(self, target: Any, options: dict[str, Any]) -> None:
        sdk = _import()
        self._make, _ = instance_or_factory(target, sdk.Agent, "an OpenAI Agents SDK agent")
        self.options = options

    async def stream(
        self, request: AgentRequest, context: AgentContext
    ) -> AsyncGenerator[events.AgentEvent, None]:
        """Run the agent, streaming its events; approvals it asks for go to the user."""
        sdk = _import()
        agent = self._make()
        config = sdk.RunConfig(tracing_disabled=not self.options.get("tracing", False))
        max_turns = int(self.options.get("max_turns", 10))
        hand_over = _HandOver()
        translate = _Translator()
        if request.tools:
            # (A front-end tool named like one of the agent's own is not offered: the agent's wins.)
            own = {getattr(tool, "name", None) for tool in agent.tools}
            offered = [tool for tool in request.tools if tool["name"] not in own]
            agent = agent.clone(tools=[*agent.tools, *client_tools(sdk, offered, context, hand_over)])
            translate = _Translator(frozenset(tool["name"] for tool in offered))
        run_input: Any = chat_messages(request)
        while True:
            result = sdk.Runner.run_streamed(agent, run_input, max_turns=max_turns, run_config=config)
            try:
                async for event in result.stream_events():
                    translated = translate(event)
                    if translated is not None:
                        yield translated
                        if isinstance(translated, events.Step) and translated.data.get("client"):
                            hand_over.done(translated.data["call_id"])  # (handled by now)
            finally:
                if not result.is_complete:
                    result.cancel()
            if not result.interruptions:
                break
            state = result.to_state()
            for approval in result.interruptions:
                arguments = _field(approval.raw_item, "arguments") or ""
                answer = await context.ask(f"Allow {approval.tool_name}({arguments})? (yes/no)")
                if answer.strip().lower() in APPROVALS:
                    state.approve(approval)
                else:
                    state.reject(approval)
            run_input = state
        usage = result.context_wrapper.usage
        yield events.Stats(
            {"tokens": usage.total_tokens, "requests": usage.requests},
        )
        output = jsonable(result.final_output if result.final_output is not None else "")
        yield events.FinalAnswer(
            content=output if isinstance(output, str) else json.dumps(output), output=output
        )
