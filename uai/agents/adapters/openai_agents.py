"""The OpenAI Agents SDK: an ``agents.Agent`` (or a factory making one) as an agent.

The run is ``Runner.run_streamed``: output-text deltas become text deltas, each tool call is an
ActionStep (the call, then its output), a handoff is an ActionStep naming the new agent, a
reasoning summary is a PlanningStep, and ``final_output`` is the FinalAnswerStep (structured
outputs as JSON). A tool declared with ``needs_approval`` interrupts the run: UAI asks the user
(``input_required``) and resumes with the tool approved on "yes"/"y"/"approve", rejected otherwise.
Earlier user messages and answers of the chat are the run's input items; usage is recorded as
stats. Tracing is off unless ``options.tracing`` is true (it would send traces to OpenAI).

Options: ``max_turns`` (default 10), ``tracing`` (default false). Needs the ``openai_agents``
extra. The SDK's import name is ``agents``; UAI's own apps live under ``uai`` so both coexist.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Any

from uai.agents import events
from uai.agents.adapters import chat_messages, instance_or_factory, jsonable
from uai.agents.protocol import AgentContext, AgentRequest

APPROVALS = {"y", "yes", "approve", "approved", "ok"}


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
    """SDK stream events → UAI events; remembers tool names by call id for the outputs."""

    def __init__(self) -> None:
        self.tools: dict[str, str] = {}

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
            return events.Step(
                events.ACTION_STEP,
                f"Calling tool {name}({arguments})",
                data={"tool": name, "call_id": call_id},
            )
        if event.name == "tool_output":
            name = self.tools.get(_field(item.raw_item, "call_id"), "tool")
            return events.Step(
                events.ACTION_STEP,
                f"Observation from {name}: {item.output}",
                data={"tool": name, "result": jsonable(item.output)},
            )
        if event.name == "handoff_occured":
            target = getattr(item, "target_agent", None)
            name = getattr(target, "name", "another agent")
            return events.Step(events.ACTION_STEP, f"Handing off to {name}", data={"agent": name})
        if event.name == "reasoning_item_created":
            summary = " ".join(_field(s, "text") or "" for s in _field(item.raw_item, "summary") or [])
            return events.Step(events.PLANNING_STEP, summary) if summary.strip() else None
        return None


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
        translate = _Translator()
        run_input: Any = chat_messages(request)
        while True:
            result = sdk.Runner.run_streamed(agent, run_input, max_turns=max_turns, run_config=config)
            try:
                async for event in result.stream_events():
                    translated = translate(event)
                    if translated is not None:
                        yield translated
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
