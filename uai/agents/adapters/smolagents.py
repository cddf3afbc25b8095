"""smolagents: a ``CodeAgent`` or ``ToolCallingAgent`` (or a factory making one) as an agent.

Its streamed steps map one to one onto seed 001's names: ``PlanningStep`` (the plan),
``ActionStep`` (the code or tool call with its execution logs and observations) and
``FinalAnswerStep``; streamed model output (``stream_outputs=True``) becomes text deltas.
smolagents is synchronous: it runs in a thread of its own and stops at the next step once the
run is cancelled. Give a factory (a function returning a fresh agent) so runs never share an
agent's memory; an agent instance is used by one run at a time. Needs the ``smolagents`` extra.
"""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncGenerator, Iterator
from typing import Any

from uai.agents import events
from uai.agents.adapters import instance_or_factory
from uai.agents.adapters.python import PythonAdapter
from uai.agents.protocol import AgentContext, AgentRequest


def _import() -> Any:
    try:
        import smolagents
    except ImportError as exc:
        raise ImportError(
            "the smolagents adapter needs the 'smolagents' extra: pip install 'uai[smolagents]'"
        ) from exc
    return smolagents


def _output(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return str(value)
    return value


def translate(step: Any) -> events.AgentEvent | None:
    """One smolagents stream item as a UAI event (None for the ones UAI does not show)."""
    from smolagents.memory import ActionStep, FinalAnswerStep, PlanningStep
    from smolagents.models import ChatMessageStreamDelta

    if isinstance(step, PlanningStep):
        return events.Step(events.PLANNING_STEP, step.plan.strip())
    if isinstance(step, ActionStep):
        parts = []
        if step.code_action:
            parts.append(f"Code:\n{step.code_action.strip()}")
        elif step.tool_calls:
            parts.extend(f"Calling {c.name}({json.dumps(c.arguments, default=str)})" for c in step.tool_calls)
        if step.observations:
            parts.append(step.observations.strip())
        if step.error is not None:
            parts.append(f"Error: {step.error}")
        data = {"step_number": step.step_number}
        if step.token_usage is not None:
            data["tokens"] = step.token_usage.total_tokens
        return events.Step(events.ACTION_STEP, "\n".join(parts) or str(step.model_output or ""), data=data)
    if isinstance(step, FinalAnswerStep):
        output = _output(step.output)
        return events.FinalAnswer(
            content=output if isinstance(output, str) else json.dumps(output), output=output
        )
    if isinstance(step, ChatMessageStreamDelta) and step.content:
        return events.TextDelta(step.content)
    return None


class SmolagentsAdapter:
    """Runs a smolagents agent's streamed run as UAI events."""

    def __init__(self, target: Any, options: dict[str, Any]) -> None:
        smolagents = _import()
        self._make, shared = instance_or_factory(target, smolagents.MultiStepAgent, "a smolagents agent")
        # One agent instance keeps one memory: runs sharing it take turns.
        self._lock: threading.Lock | None = threading.Lock() if shared else None
        self.options = options
        self._python = PythonAdapter(self._steps, options)

    def _steps(self, request: AgentRequest, context: AgentContext) -> Iterator[events.AgentEvent]:
        agent = self._make()
        if self._lock is not None:
            self._lock.acquire()
        try:
            for step in agent.run(request.text, stream=True, reset=True):
                if context.cancelled:
                    agent.interrupt()
                    return
                event = translate(step)
                if event is not None:
                    yield event
        finally:
            if self._lock is not None:
                self._lock.release()

    async def stream(
        self, request: AgentRequest, context: AgentContext
    ) -> AsyncGenerator[events.AgentEvent, None]:
        """The agent's steps, from its own thread."""
        async for event in self._python.stream(request, context):
            yield event
