"""A UAI turn's events as the AI SDK's UI message stream parts (pure: no I/O, deterministic).

The assistant message of a turn run R is one AI SDK ``UIMessage`` whose id is R's id. What
``ui_events.UiEvents`` says of R becomes the stream parts ``useChat`` assembles it from::

    start (messageId)  →  start-step  →  reasoning-* (a step) | text-* | tool-input-available /
    tool-output-available (the agent's tools) | file (an artifact) | data-state | data-progress
    and data-log (transient)…  →  finish-step  →  finish | error, finish | abort

A question of the agent ends the stream with a ``uai_input`` tool call the front end answers
(``addToolOutput``; a front-end tool's call is that tool's), ``finish`` with ``tool-calls``.
The answer continues the same run in a new step of the same message.

``RunParts`` tells segments ``first`` to ``last`` of R (segments as in ``ui_events``): one for a
``POST``'s stream; all of them for a resumed one, since ``DefaultChatTransport`` rebuilds the
message from a resumed stream's first part — so between two segments a replay says the answer
(``tool-output-available``) the client had given, and the message comes out as it was.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from uai.dialects import ui_events
from uai.runs.stream_events import EventType, StreamEvent

QUESTION_TOOL = "uai_input"  # the tool call an agent's question is shown as
STOPPED = "The turn was stopped."
DEFAULT_ERROR = "The agent failed."

Part = dict[str, Any]


def message_id(run_id: uuid.UUID | str, segment: int = 0) -> str:
    """The id of the assistant message a stream writes: its run's (``segment``: a segment that
    started from a user's message rather than a tool output writes a message of its own)."""
    run = str(uuid.UUID(str(run_id)))
    return run if segment == 0 else f"{run}_{segment}"


def waiting_call(interrupt: ui_events.Interrupt) -> tuple[str, str]:
    """(tool call id, tool name) of the call a question is shown as: what its answer names."""
    if interrupt.tool_call is not None:
        return interrupt.tool_call["id"], interrupt.tool_call["name"]
    return interrupt.id, QUESTION_TOOL


def _json(text: str) -> Any:
    """A tool's arguments or result as the JSON they are; text that is not JSON as text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _answer_output(text: str, *, tool: bool) -> Any:
    """An answer as the tool output the client gave: a question's is text; a front-end tool's
    object or array came as JSON text (anything else as it was)."""
    if not tool:
        return text
    value = _json(text)
    return value if isinstance(value, dict | list) else text


class RunParts:
    """Feeds on one run's events (``feed``), in order; says the parts of segments ``first`` to
    ``last``, written to the message ``message_id``."""

    def __init__(
        self, run_id: uuid.UUID | str, *, first: int, last: int, message_id: str, base_url: str = ""
    ) -> None:
        self.run_id = run_id
        self.last = last
        self.message_id = message_id
        self.base_url = base_url
        self.done = False
        self.segment = first
        self._translator = ui_events.UiEvents(run_id, first, base_url=base_url)
        self._started = False  # ``start`` was said
        self._inputs: list[StreamEvent] = []  # the run's answers so far (what starts a segment)
        self._asked: ui_events.Interrupt | None = None  # a replayed question whose answer comes next

    def feed(self, event: StreamEvent) -> list[Part]:
        """The parts one of the run's events makes (none outside the segments)."""
        if self.done:
            return []
        if event["type"] == EventType.INPUT:
            self._inputs.append(event)
            if self._asked is not None:
                return self._answered(self._asked, event)
        if self._asked is not None:
            return []  # between a question and its answer: nothing to say
        out: list[Part] = []
        for said in self._translator.feed(event):
            out.extend(self._parts(said))
        return out

    def _answered(self, asked: ui_events.Interrupt, answer: StreamEvent) -> list[Part]:
        """A replayed question's answer, as the tool output the client gave; the next segment."""
        call, _ = waiting_call(asked)
        text = str(answer["data"].get("text") or "")
        output = _answer_output(text, tool=asked.tool_call is not None)
        out: list[Part] = [{"type": "tool-output-available", "toolCallId": call, "output": output}]
        self._asked = None
        self.segment += 1
        self._translator = ui_events.UiEvents(self.run_id, self.segment, base_url=self.base_url)
        for earlier in self._inputs:  # (it starts at the segment-th answer)
            for said in self._translator.feed(earlier):
                out.extend(self._parts(said))
        return out

    # --- one UiEvent's parts ----------------------------------------------------------------------

    def _parts(self, said: ui_events.UiEvent) -> list[Part]:
        if isinstance(said, ui_events.RunStart):
            return self._start()
        if isinstance(said, ui_events.StepStart):
            meta = {"uai": {"stepType": said.name}}
            parts: list[Part] = [{"type": "reasoning-start", "id": said.id, "providerMetadata": meta}]
            if said.content:
                parts.append({"type": "reasoning-delta", "id": said.id, "delta": said.content})
            return parts
        if isinstance(said, ui_events.StepEnd):
            return [{"type": "reasoning-end", "id": said.id}]
        if isinstance(said, ui_events.TextStart):
            return [{"type": "text-start", "id": said.id}]
        if isinstance(said, ui_events.TextDelta):
            return [{"type": "text-delta", "id": said.id, "delta": said.delta}]
        if isinstance(said, ui_events.TextEnd):
            return [{"type": "text-end", "id": said.id}]
        if isinstance(said, ui_events.ToolCall):
            return [self._tool_call(said)]
        if isinstance(said, ui_events.ToolResult):
            # The agent's own tool: run by UAI (``providerExecuted``), not by the front end.
            result = {"type": "tool-output-available", "toolCallId": said.id, "output": _json(said.result)}
            return [result | {"providerExecuted": True, "dynamic": True}]
        if isinstance(said, ui_events.State):
            # One part with an id: each state replaces the one before in the message.
            return [{"type": "data-state", "id": "state", "data": said.snapshot}]
        if isinstance(said, ui_events.ArtifactOut):
            return [self._file(said.artifact)]
        if isinstance(said, ui_events.ProgressOut):
            data = {"progress": said.progress, "currentStep": said.current_step}
            return [{"type": "data-progress", "id": "progress", "data": data, "transient": True}]
        if isinstance(said, ui_events.LogOut):
            data = {"level": said.level, "message": said.message, "source": said.source}
            return [{"type": "data-log", "data": data, "transient": True}]
        if isinstance(said, ui_events.Interrupt):
            return self._question(said)
        if isinstance(said, ui_events.Finish):
            return self._finish(said)
        return []

    def _start(self) -> list[Part]:
        """A segment's first parts: the message's start (once a stream), a step's."""
        parts: list[Part] = []
        if not self._started:
            self._started = True
            parts.append({"type": "start", "messageId": self.message_id})
        parts.append({"type": "start-step"})
        return parts

    def _tool_call(self, said: ui_events.ToolCall) -> Part:
        call: Part = {
            "type": "tool-input-available",
            "toolCallId": said.id,
            "toolName": said.name,
            "input": _json(said.arguments),
        }
        if said.client:
            return call  # the front end's own tool, which it runs: its static tool part
        # The agent's: UAI runs it; ``providerExecuted`` so that no client runs it (nor waits to
        # send its result: ``lastAssistantMessageIsCompleteWithToolCalls`` leaves it out).
        return call | {"providerExecuted": True, "dynamic": True}

    def _file(self, artifact: dict[str, Any]) -> Part:
        meta = {"artifactId": artifact["id"], "name": artifact["name"], "size": artifact["size"]}
        return {
            "type": "file",
            "url": artifact["download_url"],
            "mediaType": artifact["media_type"] or "application/octet-stream",
            "providerMetadata": {"uai": meta},
        }

    def _question(self, said: ui_events.Interrupt) -> list[Part]:
        """The agent asks: a ``uai_input`` call (a front-end tool's call was said already); the
        stream ends, unless it replays a question that was answered."""
        parts: list[Part] = []
        if said.tool_call is None:
            call, _ = waiting_call(said)
            parts.append(
                {
                    "type": "tool-input-available",
                    "toolCallId": call,
                    "toolName": QUESTION_TOOL,
                    "input": {"question": said.prompt},
                }
            )
        parts.append({"type": "finish-step"})
        if self.segment < self.last:
            self._asked = said
            return parts
        self.done = True
        return [*parts, {"type": "finish", "finishReason": "tool-calls"}]

    def _finish(self, said: ui_events.Finish) -> list[Part]:
        self.done = True
        if said.status == "succeeded":
            return [{"type": "finish-step"}, {"type": "finish", "finishReason": "stop"}]
        if said.status == "failed":
            return [
                {"type": "error", "errorText": said.error or DEFAULT_ERROR},
                {"type": "finish-step"},
                {"type": "finish", "finishReason": "error"},
            ]
        # Stopped: as the AI SDK's own server says an aborted stream ends.
        return [{"type": "finish-step"}, {"type": "abort", "reason": STOPPED}]
