"""A front-end run's story (``ui_events``) in AG-UI's words: its events, their SSE frames and the
ids a client resumes after. Pure: no I/O.

An event's ``id:`` is the number of the UAI event it came from, ``N``; when one UAI event makes
several AG-UI events, the ones before the last are ``N:0``, ``N:1``… (the last is ``N``), so a
client resuming after any of them loses or repeats none.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from uai.dialects import ui_events
from uai.dialects.agui_input import bad
from uai_project import errors

PROTOCOL_VERSION = "1.0"  # the AG-UI version these events are written in
INTERRUPT_REASON = "input_required"  # an interrupt's ``reason``: the agent asked a question
ENDS = {"RUN_FINISHED", "RUN_ERROR"}  # the events that end an AG-UI run


@dataclass(frozen=True)
class Head:
    """What every run-scoped event of the stream names: its thread and the client's run id."""

    thread_id: str
    run_id: str


def said(event: ui_events.UiEvent, head: Head) -> list[dict[str, Any]]:
    """The AG-UI events (camelCase, optional fields left out) one ``UiEvent`` is."""
    match event:
        case ui_events.RunStart():
            return [
                {
                    "type": "RUN_STARTED",
                    "threadId": head.thread_id,
                    "runId": head.run_id,
                    "protocolVersion": PROTOCOL_VERSION,
                }
            ]
        case ui_events.StepStart(id=step, name=name, content=content, plan=plan):
            out: list[dict[str, Any]] = [
                {"type": "STEP_STARTED", "stepName": name, "metadata": {"content": content}}
            ]
            if plan:  # a plan is the agent's reasoning: shown as such
                text = f"{step}_text"
                out += [
                    {"type": "REASONING_START", "messageId": step},
                    {"type": "REASONING_MESSAGE_START", "messageId": text, "role": "reasoning"},
                    {"type": "REASONING_MESSAGE_CONTENT", "messageId": text, "delta": content},
                    {"type": "REASONING_MESSAGE_END", "messageId": text},
                    {"type": "REASONING_END", "messageId": step},
                ]
            return out
        case ui_events.StepEnd(name=name):
            return [{"type": "STEP_FINISHED", "stepName": name}]
        case ui_events.TextStart(id=message):
            return [{"type": "TEXT_MESSAGE_START", "messageId": message, "role": "assistant"}]
        case ui_events.TextDelta(id=message, delta=delta):
            return [{"type": "TEXT_MESSAGE_CONTENT", "messageId": message, "delta": delta}]
        case ui_events.TextEnd(id=message):
            return [{"type": "TEXT_MESSAGE_END", "messageId": message}]
        case ui_events.ToolCall(id=call, name=name, arguments=arguments):
            return [
                {"type": "TOOL_CALL_START", "toolCallId": call, "toolCallName": name},
                {"type": "TOOL_CALL_ARGS", "toolCallId": call, "delta": arguments},
                {"type": "TOOL_CALL_END", "toolCallId": call},
            ]
        case ui_events.ToolResult(id=call, result=result):
            return [
                {
                    "type": "TOOL_CALL_RESULT",
                    "messageId": f"result_{call}",
                    "toolCallId": call,
                    "content": result,
                    "role": "tool",
                }
            ]
        case ui_events.State(snapshot=snapshot, delta=None):
            return [{"type": "STATE_SNAPSHOT", "snapshot": snapshot}]
        case ui_events.State(delta=delta):
            return [{"type": "STATE_DELTA", "delta": delta}] if delta else []
        case ui_events.ArtifactOut(artifact=artifact):
            return [{"type": "CUSTOM", "name": "artifact", "value": artifact}]
        case ui_events.ProgressOut(progress=progress, current_step=current):
            return [
                {
                    "type": "CUSTOM",
                    "name": "progress",
                    "value": {"progress": progress, "currentStep": current},
                }
            ]
        case ui_events.LogOut(level=level, message=message, source=source):
            return [
                {
                    "type": "CUSTOM",
                    "name": "log",
                    "value": {"level": level, "message": message, "source": source},
                }
            ]
        case ui_events.Interrupt(id=interrupt, prompt=prompt, tool_call=tool_call):
            return [finished(head, _interrupt_outcome(interrupt, prompt, tool_call))]
        case ui_events.Finish(status="failed", error=error):
            return [run_error(errors.AgentFailed(error or "The agent failed."))]
        case ui_events.Finish(status="cancelled"):
            return [finished(head, {"type": "cancelled"})]
        case ui_events.Finish(output=output):
            done = finished(head, None)
            if output is not None:
                done["result"] = output
            return [done]
    return []


def _interrupt_outcome(interrupt: str, prompt: str, tool_call: dict[str, str] | None) -> dict[str, Any]:
    """A question: an interrupt the next run's ``resume`` answers. A front-end tool call: a
    success that leaves the call for the front end (its result comes in the next run's messages)."""
    if tool_call is not None:
        return {"type": "success", "pendingToolCallIds": [tool_call["id"]]}
    return {
        "type": "interrupt",
        "interrupts": [{"id": interrupt, "reason": INTERRUPT_REASON, "message": prompt}],
    }


def finished(head: Head, outcome: dict[str, Any] | None) -> dict[str, Any]:
    """``RUN_FINISHED``: the run succeeded (no ``outcome``), stopped to ask, or was cancelled."""
    finished: dict[str, Any] = {"type": "RUN_FINISHED", "threadId": head.thread_id, "runId": head.run_id}
    if outcome is not None:
        finished["outcome"] = outcome
    return finished


def run_error(error: errors.UAIError) -> dict[str, Any]:
    """A run that cannot go on (its agent failed, the stream broke): ``RUN_ERROR``, last."""
    return {"type": "RUN_ERROR", "message": error.detail, "code": error.code.value}


def frame(event_id: str | None, data: dict[str, Any]) -> bytes:
    """One SSE event: ``data:`` only, as AG-UI's clients read it, and its ``id:`` for resuming."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}data: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def numbered(seq: int, events: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The ids of the AG-UI events one UAI event ``seq`` made: ``seq:i``, the last one ``seq``."""
    for index, event in enumerate(events):
        yield (str(seq) if index == len(events) - 1 else f"{seq}:{index}"), event


@dataclass(frozen=True)
class Cursor:
    """Where a client resumes: after all of UAI event ``seq`` (``part`` None), or after the AG-UI
    event ``part`` of the ones it made."""

    seq: int = 0
    part: int | None = None


def parse_cursor(raw: str | None) -> Cursor:
    """A ``Last-Event-ID``: ``N`` or ``N:i``; 400 for anything else."""
    if not raw:
        return Cursor()
    number, colon, part = raw.partition(":")
    ok = number.isascii() and number.isdigit() and len(number) <= 18
    ok = ok and (not colon or (part.isascii() and part.isdigit() and len(part) <= 6))
    if not ok:
        raise bad("Last-Event-ID is an event id of this stream: N or N:i.")
    return Cursor(int(number), int(part) if colon else None)


# --- the OpenAPI schema of one event of the stream ------------------------------------------------

AGUI_EVENT_TYPES = [
    "RUN_STARTED",
    "RUN_FINISHED",
    "RUN_ERROR",
    "STEP_STARTED",
    "STEP_FINISHED",
    "REASONING_START",
    "REASONING_MESSAGE_START",
    "REASONING_MESSAGE_CONTENT",
    "REASONING_MESSAGE_END",
    "REASONING_END",
    "TEXT_MESSAGE_START",
    "TEXT_MESSAGE_CONTENT",
    "TEXT_MESSAGE_END",
    "TOOL_CALL_START",
    "TOOL_CALL_ARGS",
    "TOOL_CALL_END",
    "TOOL_CALL_RESULT",
    "STATE_SNAPSHOT",
    "STATE_DELTA",
    "CUSTOM",
]
EVENT_ID = {
    "type": "string",
    "pattern": "^[0-9]+(:[0-9]+)?$",
    "description": "`N`, or `N:i`: resume after it.",
}
AGUI_SSE = {
    "description": "One AG-UI event: `data:` the event as JSON (AG-UI's camelCase); `id:` where it is "
    "in the run, to resume after (none on a `RUN_ERROR` that ends a stream that cannot go on).",
    "type": "object",
    "required": ["data"],
    "properties": {
        "id": EVENT_ID,
        "event": {"const": "message"},
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
            "contentSchema": {
                "type": "object",
                "required": ["type"],
                "properties": {"type": {"type": "string", "enum": AGUI_EVENT_TYPES}},
            },
        },
    },
}
