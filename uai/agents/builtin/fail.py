"""``fail``: takes one step, then raises — for testing how failures surface."""

from __future__ import annotations

from collections.abc import AsyncIterator

from uai.agents import events
from uai.agents.protocol import AgentContext, AgentRequest


class AgentFailure(RuntimeError):
    """The failure the ``fail`` agent raises on purpose."""


async def fail(request: AgentRequest, context: AgentContext) -> AsyncIterator[events.AgentEvent]:
    """Yield one ActionStep, then raise."""
    yield events.Step(events.ACTION_STEP, "Starting work that is bound to fail.")
    raise AgentFailure("The fail agent failed on purpose.")
