"""The one event vocabulary every adapter speaks.

Adapters turn their framework's output into these; the executor hands each to the EventSink.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PLANNING_STEP = "PlanningStep"
ACTION_STEP = "ActionStep"
FINAL_ANSWER_STEP = "FinalAnswerStep"
INPUT_REQUEST_STEP = "InputRequestStep"  # the agent's question, as a chat shows it among its steps


@dataclass(frozen=True, slots=True)
class Step:
    """One step of the agent's work (seed 001's ``agent_step``)."""

    step_type: str
    content: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of text as the agent produces it (a token or a few)."""

    text: str


@dataclass(frozen=True, slots=True)
class Log:
    """A log line."""

    message: str
    level: str = "info"
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Artifact:
    """A file (``content`` bytes) or a structured value (``data``) the agent produced."""

    name: str
    content: bytes | None = None
    media_type: str = "application/octet-stream"
    data: Any = None


@dataclass(frozen=True, slots=True)
class Progress:
    """How far the work is: percent 0–100, the current step, optionally seconds still to go."""

    percent: float
    current_step: str = ""
    remaining_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class StateUpdate:
    """The state the agent wants to keep for the next turn of the chat."""

    state: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Stats:
    """Figures of this turn or run (tokens, timings…)."""

    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class FinalAnswer:
    """The agent's answer: the ``FinalAnswerStep``. ``output`` is the run's output (default: text)."""

    content: str
    output: Any = None


AgentEvent = Step | TextDelta | Log | Artifact | Progress | StateUpdate | Stats | FinalAnswer


def as_answer(event: AgentEvent) -> AgentEvent:
    """A ``Step`` of the answer's type (seed 001's ``FinalAnswerStep``, as docs show steps) is the
    ``FinalAnswer``; any other event is itself."""
    if isinstance(event, Step) and event.step_type == FINAL_ANSWER_STEP:
        return FinalAnswer(content=event.content)
    return event


EVENT_TYPES = (Step, TextDelta, Log, Artifact, Progress, StateUpdate, Stats, FinalAnswer)
