"""A UAI run's segment in LangGraph's words: its stream modes, its messages, its run statuses.

Pure translation, no I/O: ``langgraph`` reads and streams, this module says. A LangGraph run is
one segment of a UAI run (``ui_events``); the thread's values are ``{"messages": [...]}`` in
LangChain's message format, built from the chat's messages (the user's that started its turns,
system ones and each final answer; a question and its answer are an interrupt and its resume),
whatever framework the agent is written in.

What each stream mode gets of a segment's ``UiEvent``\\ s:

* ``values``: the thread's values when the segment starts, after each answer the agent gives, and
  at an interrupt with ``__interrupt__`` beside the messages.
* ``updates``: ``{"agent": {"messages": [message]}}`` for each answer, ``{node: {"content": ...}}``
  for each other step (``node``: the graph node that made it, for LangGraph agents, else the
  step's type),
  ``{"tools": {"messages": [tool message]}}`` for each tool result, and
  ``{"__interrupt__": [{"value", "id"}]}``.
* ``messages-tuple`` (events named ``messages``): ``[AIMessageChunk, metadata]`` per text delta.
* ``messages`` (the older form): ``messages/metadata``, then ``messages/partial`` with the message
  so far per delta, and ``messages/complete``.
* ``custom``: what the agent said besides its answer: ``{"type": "progress" | "log" | "artifact" |
  "state", ...}``.
* ``events``, ``debug``, ``tasks``, ``checkpoints``: accepted; no agent gives them here.

A failed segment ends with ``error`` ``{"error", "message"}``; every stream ends with ``end``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from uai.dialects import ui_events

STREAM_MODES = frozenset(
    {"values", "updates", "messages", "messages-tuple", "custom", "events", "debug", "tasks", "checkpoints"}
)
DEFAULT_MODES = ("values",)
# What a join that names no mode streams: every mode an agent here gives (LangGraph's background
# runs stream the union of the modes), unless the run was started with its own.
JOIN_MODES = ("values", "updates", "messages-tuple", "custom")
NODE = "agent"  # the node an answer comes from when the agent has no graph of its own
TOOLS_NODE = "tools"

# A UAI run's status → the LangGraph status of its latest segment. A segment that ended with a
# question is a success (the thread is ``interrupted``), as a LangGraph run stopped by
# ``interrupt()`` is; a cancelled run is ``interrupted``.
RUN_STATUS = {
    "queued": "pending",
    "running": "running",
    "input_required": "success",
    "succeeded": "success",
    "failed": "error",
    "cancelled": "interrupted",
}


def _message(kind: str, content: str, message_id: str, **more: Any) -> dict[str, Any]:
    """A message in LangChain's format (``type`` and the fields every message has)."""
    return {
        "type": kind,
        "content": content,
        "id": message_id,
        "name": None,
        "additional_kwargs": {},
        "response_metadata": {},
        **more,
    }


TIMED_OUT = "RunTimedOut"  # how a run that worked past its agent's time limit failed (its error's start)


def run_status(status: str, error: str | None) -> str:
    """A UAI run's status (and error) as the LangGraph status of its latest segment: a run that
    failed by working past its time limit is a ``timeout``."""
    if status == "failed" and (error or "").startswith(TIMED_OUT):
        return "timeout"
    return RUN_STATUS.get(status, "pending")


def human(content: str, message_id: str) -> dict[str, Any]:
    return _message("human", content, message_id, example=False)


def ai(content: str, message_id: str, tool_calls: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return _message(
        "ai",
        content,
        message_id,
        example=False,
        tool_calls=tool_calls or [],
        invalid_tool_calls=[],
        usage_metadata=None,
    )


def system(content: str, message_id: str) -> dict[str, Any]:
    return _message("system", content, message_id)


def tool(content: str, message_id: str, *, name: str, call_id: str) -> dict[str, Any]:
    return {
        **_message("tool", content, message_id),
        "name": name,
        "tool_call_id": call_id,
        "status": "success",
        "artifact": None,
    }


def chunk(content: str, message_id: str) -> dict[str, Any]:
    return {**ai(content, message_id), "type": "AIMessageChunk", "tool_call_chunks": []}


def interrupts(interrupt: ui_events.Interrupt) -> list[dict[str, Any]]:
    """An interrupt as LangGraph lists a thread's: what it asks and the id that answers it."""
    value = interrupt.value if interrupt.value is not None else interrupt.prompt
    return [{"value": value, "id": interrupt.id}]


def stream_modes(value: Any) -> tuple[str, ...] | None:
    """The modes a request asks (a name or a list of names; None or empty: the default);
    None when one is not a mode."""
    if value is None or value == "" or value == []:
        return DEFAULT_MODES
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(n, str) and n in STREAM_MODES for n in names):
        return None
    return tuple(dict.fromkeys(names))


@dataclass
class Segment:
    """Says a segment's events in the asked ``modes``. ``history``: the thread's messages when the
    segment starts (a turn's user message the last; an answer that starts a later segment is an
    interrupt's resume, not a message); ``run_id``/``thread_id``: the LangGraph ids."""

    modes: tuple[str, ...]
    run_id: str
    thread_id: str
    assistant_id: str
    history: list[dict[str, Any]]
    _text: dict[str, str] = field(default_factory=dict)  # the streamed message's id → its text so far
    status: str | None = None  # how the segment ended, once it did (a RunStatus)

    def meta(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "thread_id": self.thread_id,
            "assistant_id": self.assistant_id,
            "graph_id": self.assistant_id,
            "langgraph_node": NODE,
        }

    def said(self, event: ui_events.UiEvent) -> list[tuple[str, Any]]:
        out: list[tuple[str, Any]] = []
        modes = self.modes
        if isinstance(event, ui_events.RunStart):
            if "values" in modes:
                out.append(("values", {"messages": list(self.history)}))
        elif isinstance(event, ui_events.StepStart):
            if "updates" in modes:
                out.append(("updates", {event.node or event.name: {"content": event.content}}))
        elif isinstance(event, ui_events.TextStart):
            self._text[event.id] = ""
            if "messages" in modes:
                out.append(("messages/metadata", {event.id: {"metadata": self.meta()}}))
        elif isinstance(event, ui_events.TextDelta):
            self._text[event.id] = self._text.get(event.id, "") + event.delta
            if "messages-tuple" in modes:
                out.append(("messages", [chunk(event.delta, event.id), self.meta()]))
            if "messages" in modes:
                out.append(("messages/partial", [ai(self._text[event.id], event.id)]))
        elif isinstance(event, ui_events.TextEnd):
            message = ai(self._text.pop(event.id, ""), event.id)
            self.history.append(message)
            if "messages" in modes:
                out.append(("messages/complete", [message]))
            if "updates" in modes:
                out.append(("updates", {NODE: {"messages": [message]}}))
            if "values" in modes:
                out.append(("values", {"messages": list(self.history)}))
        elif isinstance(event, ui_events.ToolCall):
            if "updates" in modes:
                call = {
                    "name": event.name,
                    "args": _arguments(event.arguments),
                    "id": event.id,
                    "type": "tool_call",
                }
                out.append(("updates", {NODE: {"messages": [ai("", f"call_{event.id}", [call])]}}))
        elif isinstance(event, ui_events.ToolResult):
            if "updates" in modes:
                message = tool(event.result, f"result_{event.id}", name=event.name, call_id=event.id)
                out.append(("updates", {TOOLS_NODE: {"messages": [message]}}))
        elif isinstance(event, ui_events.State):
            if "custom" in modes:
                out.append(("custom", {"type": "state", "state": event.snapshot}))
        elif isinstance(event, ui_events.ArtifactOut):
            if "custom" in modes:
                out.append(("custom", {"type": "artifact", **event.artifact}))
        elif isinstance(event, ui_events.ProgressOut):
            if "custom" in modes:
                out.append(
                    ("custom", {"type": "progress", "progress": event.progress, "step": event.current_step})
                )
        elif isinstance(event, ui_events.LogOut):
            if "custom" in modes:
                out.append(
                    (
                        "custom",
                        {
                            "type": "log",
                            "level": event.level,
                            "message": event.message,
                            "source": event.source,
                        },
                    )
                )
        elif isinstance(event, ui_events.Interrupt):
            self.status = "success"
            asked = interrupts(event)
            if "updates" in modes:
                out.append(("updates", {"__interrupt__": asked}))
            if "values" in modes:
                out.append(("values", {"messages": list(self.history), "__interrupt__": asked}))
        elif isinstance(event, ui_events.Finish):
            self.status = run_status(event.status, event.error)
            if event.status == "failed":
                out.append(("error", error_body("AgentError", event.error or "The agent failed.")))
        return out


def error_body(kind: str, message: str) -> dict[str, str]:
    return {"error": kind, "message": message}


def _arguments(raw: str) -> Any:
    """A tool call's arguments (JSON text) as LangChain's ``args``: an object."""
    try:
        value = json.loads(raw)
    except ValueError:
        return {"input": raw}
    return value if isinstance(value, dict) else {"input": value}
