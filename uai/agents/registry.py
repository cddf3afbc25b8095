"""The agent registry: settings and the admin both end in ``Agent`` rows; this builds adapters."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError

from uai.agents.models import Agent
from uai.agents.protocol import AgentAdapter

logger = logging.getLogger(__name__)

ADAPTER_KINDS: dict[str, str] = {
    "python": "uai.agents.adapters.python:PythonAdapter",
    "openai_chat": "uai.agents.adapters.openai_chat:OpenAIChatAdapter",
    "langgraph": "uai.agents.adapters.langgraph:LangGraphAdapter",
    "smolagents": "uai.agents.adapters.smolagents:SmolagentsAdapter",
    "pydantic_ai": "uai.agents.adapters.pydantic_ai:PydanticAIAdapter",
    "openai_agents": "uai.agents.adapters.openai_agents:OpenAIAgentsAdapter",
    "a2a": "uai.agents.adapters.a2a:A2AAdapter",
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
    "timeout_seconds",
    "estimated_seconds",
    "enabled",
    "queue",
}

# Limits an adapter kind takes from settings unless its entry's options set them: option ->
# setting. Adapters read no settings (STYLE rule 5); the registry hands them their defaults.
SETTING_OPTIONS: dict[str, dict[str, str]] = {
    "a2a": {
        "timeout_seconds": "UAI_A2A_TIMEOUT_SECONDS",
        "stream_idle_seconds": "UAI_A2A_STREAM_IDLE_SECONDS",
        "cancel_seconds": "UAI_A2A_CANCEL_SECONDS",
        "card_ttl_seconds": "UAI_A2A_CARD_TTL_SECONDS",
        "poll_seconds": "UAI_A2A_POLL_SECONDS",
    },
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
    except Exception as exc:  # the module's own code failed (SyntaxError, NameError, …): say so
        raise AgentConfigError(f"importing {module_name!r} failed: {type(exc).__name__}: {exc}") from exc
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
            adapter = _construct(agent)
        except AgentConfigError as exc:
            raise AgentConfigError(f"agent {agent.name!r}: {exc}") from exc
        _cache[key] = adapter
    return adapter


def cached_adapter(agent: Agent) -> AgentAdapter | None:
    """The adapter already built for this version of the row, or None (building it imports its
    framework: seconds of CPU, which a caller on an event loop does in a thread)."""
    return _cache.get((agent.name, agent.updated_at))


def adapter_options(agent: Agent) -> dict[str, Any]:
    """The options an adapter is built with: its kind's limits from settings, then the entry's."""
    defaults = {
        option: getattr(settings, setting)
        for option, setting in SETTING_OPTIONS.get(agent.adapter, {}).items()
    }
    return {**defaults, **(agent.options or {})}


def _construct(agent: Agent) -> AgentAdapter:
    adapter_class = import_target(ADAPTER_KINDS.get(agent.adapter, agent.adapter))
    target = import_target(agent.target) if agent.target else None
    try:
        adapter: AgentAdapter = adapter_class(target, adapter_options(agent))
    except ImportError as exc:  # a framework adapter whose extra is not installed
        raise AgentConfigError(str(exc)) from exc
    except (TypeError, ValueError) as exc:
        raise AgentConfigError(f"adapter {agent.adapter!r} refused {agent.target!r}: {exc}") from exc
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


def load_agents_file(path: str) -> dict[str, dict[str, Any]]:
    """The ``[agents.NAME]`` tables of a TOML file, checked; AgentConfigError names what is wrong."""
    import re
    import tomllib

    try:
        with open(path, "rb") as handle:
            document = tomllib.load(handle)
    except OSError as exc:
        raise AgentConfigError(f"agents file {path}: cannot read it: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise AgentConfigError(f"agents file {path}: not valid TOML: {exc}") from exc
    tables = document.get("agents", {})
    if not isinstance(tables, dict) or set(document) - {"agents"}:
        raise AgentConfigError(f"agents file {path}: expected only [agents.NAME] tables")
    specs: dict[str, dict[str, Any]] = {}
    for name, spec in tables.items():
        where = f"agents file {path}: agent {name!r}"
        if not re.fullmatch(r"[-a-zA-Z0-9_]{1,64}", name):
            raise AgentConfigError(f"{where}: a name is 1 to 64 letters, digits, '-' or '_'")
        if not isinstance(spec, dict):
            raise AgentConfigError(f"{where}: expected a table")
        unknown = set(spec) - _AGENT_FIELDS
        if unknown:
            raise AgentConfigError(f"{where}: unknown fields {sorted(unknown)}")
        if not isinstance(spec.get("adapter"), str) or not spec["adapter"]:
            raise AgentConfigError(f"{where}: 'adapter' is required (a string)")
        needs_target = spec["adapter"] == "python"
        if not isinstance(spec.get("target", ""), str) or (needs_target and not spec.get("target")):
            raise AgentConfigError(f"{where}: 'target' is required (a string: module:attribute)")
        if not isinstance(spec.get("options", {}), dict):
            raise AgentConfigError(f"{where}: [agents.{name}.options] must be a table")
        specs[name] = spec
    return specs


def declared_agents() -> dict[str, tuple[dict[str, Any], str]]:
    """Agents defined in settings and in ``UAI_AGENTS_FILE`` (the file wins on a shared name)."""
    declared: dict[str, tuple[dict[str, Any], str]] = {
        name: (spec, Agent.Source.SETTINGS) for name, spec in settings.UAI_AGENTS.items()
    }
    if settings.UAI_AGENTS_FILE:
        for name, spec in load_agents_file(settings.UAI_AGENTS_FILE).items():
            declared[name] = (spec, Agent.Source.FILE)
    return declared


def check_declared_agents() -> None:
    """Build every declared agent once, so a bad adapter or target fails at start-up."""
    for name, (spec, _source) in declared_agents().items():
        unknown = set(spec) - _AGENT_FIELDS
        if unknown:
            raise AgentConfigError(f"agent {name!r}: unknown fields {sorted(unknown)}")
        row = Agent(name=name, **spec)
        try:
            # The fields' own checks (a bool, a whole number ≥ 0…): a wrong type in the agents
            # file passed here and then stopped `migrate` with Django's message, naming nobody.
            row.full_clean(exclude=["source", "created_at", "updated_at"], validate_unique=False)
        except ValidationError as exc:
            problems = "; ".join(f"{field}: {' '.join(errors)}" for field, errors in exc.message_dict.items())
            raise AgentConfigError(f"agent {name!r}: {problems}") from exc
        try:
            _construct(row)
        except AgentConfigError as exc:
            raise AgentConfigError(f"agent {name!r}: {exc}") from exc
        except Exception as exc:
            raise AgentConfigError(f"agent {name!r}: {type(exc).__name__}: {exc}") from exc


def sync_settings_agents() -> list[str]:
    """Create or update the agents declared in settings and the agents file; return their names."""
    names = []
    for name, (spec, source) in declared_agents().items():
        unknown = set(spec) - _AGENT_FIELDS
        if unknown:
            raise AgentConfigError(f"agent {name!r}: unknown fields {sorted(unknown)}")
        Agent.objects.update_or_create(name=name, defaults={**spec, "source": source})
        names.append(name)
    return names


def sync_settings_agents_after_migrate(**kwargs: Any) -> None:
    """``post_migrate`` hook: the declared agents exist as soon as the schema does."""
    sync_settings_agents()


_rows: dict[str, Agent] = {}


def agent_row(name: str, updated_at: Any) -> Agent:
    """The agent row of that name as of ``updated_at``: kept per process, read again when it changed.

    The executor learns ``updated_at`` from the statement that starts a run, so a run costs no
    separate read of its agent unless an operator edited it since.
    """
    agent = _rows.get(name)
    if agent is None or agent.updated_at != updated_at:
        agent = Agent.objects.get(pk=name)
        _rows[name] = agent
    return agent
