"""Reads of agents: the ones clients may pick, by name."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from uai.agents import registry
from uai.agents.models import Agent
from uai_project.errors import InvalidInput


def agent_get(*, name: str | None) -> Agent:
    """The enabled agent of that name (the default agent when no name is given); 400 for any other."""
    name = name or settings.UAI_DEFAULT_AGENT
    agent = Agent.objects.filter(name=name, enabled=True).first()
    if agent is None:
        raise InvalidInput(f"Unknown agent {name!r}.")
    return agent


def agent_list() -> list[Agent]:
    """The agents clients can pick, by name."""
    return list(Agent.objects.filter(enabled=True).order_by("name"))


def agent_described(*, agent: Agent) -> dict[str, Any] | None:
    """What the agent's framework tells of it, where its adapter can (LangGraph: its graph's
    nodes and edges, its input, output and context schemas): ``{"graph", "schemas"}``; None for
    an adapter that cannot, or an agent that cannot be built here (its framework not installed).
    Builds the adapter (its first build imports the framework)."""
    try:
        adapter = registry.build_adapter(agent)
    except (registry.AgentConfigError, ImportError):
        return None
    describe = getattr(adapter, "describe", None)
    return describe() if callable(describe) else None
