"""The agent registry: settings and the admin both end in ``Agent`` rows; this builds adapters."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings

from agents.models import Agent
from agents.protocol import AgentAdapter
from uai_project.errors import InvalidInput

logger = logging.getLogger(__name__)

ADAPTER_KINDS: dict[str, str] = {
    "python": "agents.adapters.python:PythonAdapter",
}

# Fields of a settings entry that map onto Agent columns; anything else is an error.
_AGENT_FIELDS = {
    "adapter",
    "target",
    "options",
    "description",
    "streams",
    "accepts_files",
    "asks_input",
    "max_attempts",
    "retry_delay_seconds",
    "estimated_seconds",
    "enabled",
    "queue",
}

_cache: dict[tuple[str, Any], AgentAdapter] = {}


class AgentConfigError(Exception):
    """An agent's definition cannot be loaded (bad adapter, target or options)."""


def import_target(path: str) -> Any:
    """Import ``module:attribute`` (or ``module.attribute``)."""
    module_name, sep, attribute = path.partition(":")
    if not sep:
        module_name, _, attribute = path.rpartition(".")
    if not module_name or not attribute:
        raise AgentConfigError(f"{path!r} is not of the form module:attribute")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise AgentConfigError(f"cannot import {module_name!r}: {exc}") from exc
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:
            raise AgentConfigError(f"{module_name!r} has no attribute {attribute!r}") from exc
    return obj


def build_adapter(agent: Agent) -> AgentAdapter:
    """The adapter for an agent row, cached until the row changes."""
    key = (agent.name, agent.updated_at)
    adapter = _cache.get(key)
    if adapter is None:
        try:
            adapter_class = import_target(ADAPTER_KINDS.get(agent.adapter, agent.adapter))
            target = import_target(agent.target) if agent.target else None
            adapter = adapter_class(target, dict(agent.options or {}))
        except AgentConfigError as exc:
            raise AgentConfigError(f"agent {agent.name!r}: {exc}") from exc
        _cache[key] = adapter
    return adapter


def estimate_seconds(agent: Agent, run_input: Any) -> float:
    """How long a run of this agent is expected to take, for ``estimated_completion_time``."""
    path = (agent.options or {}).get("estimate")
    if path:
        try:
            estimator: Callable[[Any], float] = import_target(path)
            return float(estimator(run_input))
        except Exception:
            logger.exception("estimate of agent %s failed; using its default", agent.name)
    return float(agent.estimated_seconds)


def get_agent(name: str | None) -> Agent:
    """The enabled agent of that name (the default agent when no name is given)."""
    name = name or settings.UAI_DEFAULT_AGENT
    agent = Agent.objects.filter(name=name, enabled=True).first()
    if agent is None:
        raise InvalidInput(f"Unknown agent {name!r}.")
    return agent


def sync_settings_agents() -> list[str]:
    """Create or update the agents defined in ``settings.UAI_AGENTS``; return their names."""
    names = []
    for name, spec in settings.UAI_AGENTS.items():
        unknown = set(spec) - _AGENT_FIELDS
        if unknown:
            raise AgentConfigError(f"agent {name!r}: unknown fields {sorted(unknown)}")
        Agent.objects.update_or_create(name=name, defaults={**spec, "source": Agent.Source.SETTINGS})
        names.append(name)
    return names


def sync_settings_agents_after_migrate(**kwargs: Any) -> None:
    """``post_migrate`` hook: the settings agents exist as soon as the schema does."""
    sync_settings_agents()
