"""Reads of agents: the ones clients may pick, by name."""

from __future__ import annotations

from django.conf import settings

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
