"""Bench-only agents, registered by ``bench/agents.toml`` (``UAI_AGENTS_FILE``) for the bench's server.

Each does as little as possible, so what is measured is UAI's own work around it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from uai.agents import events
from uai.agents.protocol import AgentContext, AgentRequest

DEFAULT_COUNT = 100


def _count(request: AgentRequest) -> int:
    """How many events to emit: the message's text as a number."""
    return int(request.text) if request.text.strip().isdigit() else DEFAULT_COUNT


async def steps(request: AgentRequest, context: AgentContext) -> AsyncIterator[events.AgentEvent]:
    """Emit N ``ActionStep``s (N is the message's text), then answer."""
    for i in range(_count(request)):
        yield events.Step(events.ACTION_STEP, f"step {i}")
    yield events.FinalAnswer(content="done")


async def deltas(request: AgentRequest, context: AgentContext) -> AsyncIterator[str]:
    """Stream N two-character text deltas as fast as UAI takes them (the text is the answer)."""
    for _ in range(_count(request)):
        yield "x "


async def noop(request: AgentRequest, context: AgentContext) -> None:
    """Do nothing: a run that only costs UAI's bookkeeping."""
