"""A UAI turn's events as a front end sees them: one translator under AG-UI and the AI SDK's stream.

Both front-end protocols tell the same story — a run starts, the agent works in steps, text
streams as a message, tools are called and answer, the state changes, files appear, and the run
ends or stops to ask — in their own words. ``UiEvents`` tells it once, from the run's numbered
events; ``agui`` and ``ai_sdk`` only encode what it says.

A front-end run is one *segment* of a UAI run R, as an OpenAI response is
(``openai_response_events``): segment 0 runs from R's first event to its first question or its
end; segment k (k ≥ 1) from R's k-th ``input`` event (the answer to its k-th question) to the next
question or the end. A question ends a segment with an ``Interrupt``; the answer starts the next.

``UiEvents`` does no I/O and is deterministic: fed the same events it says the same, with the same
ids, so a stream resumed after event N is the replay with what came from events up to N left
out. Every ``UiEvent`` carries ``seq``, the number of the UAI event it came from.

A segment's story::

    RunStart  →  (StepStart StepEnd | TextStart TextDelta… TextEnd | ToolCall | ToolResult
                  | State | ArtifactOut | ProgressOut | LogOut)…  →  Interrupt | Finish
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.conf import settings
from django.db import DatabaseError

from uai.agents import events as ev
from uai.dialects.answer_text import unsaid
from uai.runs import selectors as run_selectors
from uai.runs import streams
from uai.runs.dbcall import db
from uai.runs.stream_events import EventType, StreamEvent
from uai_project import errors
from uai_project.errors import outage

logger = logging.getLogger(__name__)

# A run's status → how its front-end run ends.
ENDINGS = frozenset({"succeeded", "failed", "cancelled"})


@dataclass(frozen=True, slots=True)
class RunStart:
    seq: int
    run_id: str
    chat_id: str | None


@dataclass(frozen=True, slots=True)
class StepStart:
    """A step of the agent's work that is neither its answer nor a tool call (``name``: its type,
    ``PlanningStep``, ``ActionStep`` or a framework's own; ``plan``: it is a plan)."""

    seq: int
    id: str
    name: str
    content: str
    plan: bool
    node: str = ""  # the graph node that made it, where the framework has nodes (LangGraph)


@dataclass(frozen=True, slots=True)
class StepEnd:
    seq: int
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class TextStart:
    seq: int
    id: str


@dataclass(frozen=True, slots=True)
class TextDelta:
    seq: int
    id: str
    delta: str


@dataclass(frozen=True, slots=True)
class TextEnd:
    seq: int
    id: str


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A tool the agent called: its own (``client`` False; a ``ToolResult`` follows), or one the
    front end offered and runs itself (``client``: the segment ends with an ``Interrupt`` that
    waits for its result)."""

    seq: int
    id: str
    name: str
    arguments: str  # JSON
    client: bool


@dataclass(frozen=True, slots=True)
class ToolResult:
    seq: int
    id: str
    name: str
    result: str


@dataclass(frozen=True, slots=True)
class State:
    """The chat's state after the agent changed it: ``snapshot``, and ``delta`` (JSON Patch) from
    the one before in this segment (None for the first: send the snapshot)."""

    seq: int
    snapshot: dict[str, Any]
    delta: list[dict[str, Any]] | None


@dataclass(frozen=True, slots=True)
class ArtifactOut:
    """A file or value the agent made (``artifact``: its metadata, ``download_url`` absolute)."""

    seq: int
    artifact: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ProgressOut:
    seq: int
    progress: float
    current_step: str


@dataclass(frozen=True, slots=True)
class LogOut:
    seq: int
    level: str
    message: str
    source: str


@dataclass(frozen=True, slots=True)
class Interrupt:
    """The agent asks and waits: the segment ends. ``tool_call`` (``id``, ``name``,
    ``arguments``): what it waits for is a front-end tool's result, not a person's answer."""

    seq: int
    id: str
    prompt: str
    tool_call: dict[str, str] | None
    value: Any = None  # the question as a JSON value, when the agent gave one


@dataclass(frozen=True, slots=True)
class Finish:
    seq: int
    status: str  # succeeded | failed | cancelled
    error: str | None
    output: Any


UiEvent = (
    RunStart
    | StepStart
    | StepEnd
    | TextStart
    | TextDelta
    | TextEnd
    | ToolCall
    | ToolResult
    | State
    | ArtifactOut
    | ProgressOut
    | LogOut
    | Interrupt
    | Finish
)


def interrupt_id(run_id: uuid.UUID | str, question: int) -> str:
    """The id of a run's ``question``-th question (1, 2, …): what answers it names."""
    return f"int_{_hex(run_id)}_{question}"


def parse_interrupt_id(raw: str) -> tuple[uuid.UUID, int] | None:
    """(run id, question number) of an interrupt id; None when it is not one."""
    prefix, _, rest = raw.partition("_")
    hex_part, _, number = rest.partition("_")
    if prefix != "int" or len(hex_part) != 32 or not number.isascii() or not number.isdigit():
        return None
    try:
        run_id = uuid.UUID(hex=hex_part)
    except ValueError:
        return None
    return (run_id, int(number)) if 0 < int(number) < 10**9 else None


def _hex(value: uuid.UUID | str) -> str:
    return value.hex if isinstance(value, uuid.UUID) else uuid.UUID(str(value)).hex


def _chat_id(event: StreamEvent) -> str | None:
    chat = event.get("chat_id")  # (a stream's own markers have none)
    return chat if isinstance(chat, str) else None


def _json_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


class UiEvents:
    """Feeds on one run's events (``feed``), in order; says its segment's ``UiEvent``\\ s."""

    def __init__(self, run_id: uuid.UUID | str, segment: int = 0, *, base_url: str = "") -> None:
        self.run_id = _hex(run_id)
        self.segment = segment
        self.base_url = base_url
        self.started = False
        self.done = False
        self._inputs = 0  # answers (``input`` events) seen before the segment
        self._text: str | None = None  # the id of the text message being streamed
        self._streamed: list[str] = []  # every delta of the segment
        self._round_start = 0  # the index in _streamed of the current round's first delta
        self._state: dict[str, Any] | None = None
        self._calls: dict[str, list[str]] = {}  # tool name → ids of its calls not yet answered

    def feed(self, event: StreamEvent) -> list[UiEvent]:
        """What one of the run's events says (nothing before or after the segment)."""
        if self.done:
            return []
        out: list[UiEvent] = []
        seq = event["seq"]
        if not self.started:
            if self.segment > 0:
                if event["type"] == EventType.INPUT:
                    self._inputs += 1
                    if self._inputs == self.segment:
                        self.started = True
                        out.append(RunStart(seq, str(uuid.UUID(self.run_id)), _chat_id(event)))
                return out  # the answer itself is input, not output
            self.started = True
            out.append(RunStart(seq, str(uuid.UUID(self.run_id)), _chat_id(event)))
        if event["type"] == EventType.DELTA:
            if event["data"]["text"]:
                self._delta(seq, event["data"]["text"], out)
        elif event["type"] == EventType.STEP:
            step = event["data"]
            if step["step_type"] == ev.FINAL_ANSWER_STEP:
                self._answer(seq, step["content"], out)
            else:
                self._step(seq, step["step_type"], step["content"], step.get("data") or {}, out)
        elif event["type"] == EventType.STATE:
            self._on_state(seq, dict(event["data"]["state"] or {}), out)
        elif event["type"] == EventType.ARTIFACT:
            if event["data"]["origin"] != "user":  # (a user's upload is input, not output)
                artifact: dict[str, Any] = dict(event["data"])
                if artifact["download_url"].startswith("/"):
                    artifact["download_url"] = self.base_url + artifact["download_url"]
                out.append(ArtifactOut(seq, artifact))
        elif event["type"] == EventType.PROGRESS:
            progress = event["data"]
            out.append(ProgressOut(seq, float(progress["progress"]), progress["current_step"]))
        elif event["type"] == EventType.LOG:
            log = event["data"]
            out.append(LogOut(seq, log["level"], log["message"], log["source"]))
        elif event["type"] == EventType.INPUT_REQUIRED:
            asked = event["data"]
            self._ask(seq, asked["prompt"], asked.get("tool_call"), out, asked.get("value"))
        elif event["type"] == EventType.STATUS:
            status = event["data"]
            if status["status"] == "input_required":  # (its question came first, unless that was lost)
                self._ask(seq, status["input_prompt"] or "", None, out)
            elif status["status"] in ENDINGS:
                self._close_text(seq, out)
                out.append(Finish(seq, status["status"], status["error"] or None, status["output"]))
                self.done = True
        return out

    # --- the parts of the story -------------------------------------------------------------------

    def _delta(self, seq: int, text: str, out: list[UiEvent]) -> None:
        if self._text is None:
            self._text = f"msg_{self.run_id}_{seq}"
            self._round_start = len(self._streamed)
            out.append(TextStart(seq, self._text))
        self._streamed.append(text)
        out.append(TextDelta(seq, self._text, text))

    def _close_text(self, seq: int, out: list[UiEvent]) -> None:
        if self._text is not None:
            out.append(TextEnd(seq, self._text))
            self._text = None

    def _answer(self, seq: int, content: str, out: list[UiEvent]) -> None:
        """The agent's answer: the part its deltas did not say (``answer_text.unsaid``), then the
        text's end."""
        rest = unsaid(content, self._streamed, self._round_start)
        if rest:
            self._delta(seq, rest, out)
        self._close_text(seq, out)

    def _step(self, seq: int, name: str, content: str, data: dict[str, Any], out: list[UiEvent]) -> None:
        self._close_text(seq, out)
        tool = data.get("tool")
        if isinstance(tool, str) and tool:
            if "result" in data:
                call = data.get("call_id") or self._answered(tool)
                if data.get("client"):
                    return  # a front-end tool's result: the front end gave it, and has it
                if call is None:  # a result whose call was not shown: both at once
                    call = f"call_{self.run_id}_{seq}"
                    out.append(ToolCall(seq, call, tool, _json_text(data.get("arguments", "{}")), False))
                out.append(ToolResult(seq, str(call), tool, _json_text(data["result"])))
            else:
                call = str(data.get("call_id") or f"call_{self.run_id}_{seq}")
                self._calls.setdefault(tool, []).append(call)
                arguments = _json_text(data.get("arguments", "{}"))
                out.append(ToolCall(seq, call, tool, arguments, bool(data.get("client"))))
            return
        step = f"step_{self.run_id}_{seq}"
        node = data.get("node")
        node = node if isinstance(node, str) else ""
        out.append(StepStart(seq, step, name, content, name == ev.PLANNING_STEP, node))
        out.append(StepEnd(seq, step, name))

    def _answered(self, tool: str) -> str | None:
        """The oldest unanswered call of ``tool`` (for an adapter whose results carry no call id)."""
        pending = self._calls.get(tool)
        return pending.pop(0) if pending else None

    def _on_state(self, seq: int, state: dict[str, Any], out: list[UiEvent]) -> None:
        delta = None if self._state is None else json_patch(self._state, state)
        self._state = state
        out.append(State(seq, state, delta))

    def _ask(self, seq: int, prompt: str, tool_call: Any, out: list[UiEvent], value: Any = None) -> None:
        self._close_text(seq, out)
        out.append(
            interrupt_of(
                self.run_id, self.segment + 1, seq=seq, prompt=prompt, tool_call=tool_call, value=value
            )
        )
        self.done = True


def interrupt_of(
    run_id: uuid.UUID | str, question: int, *, seq: int, prompt: str, tool_call: Any, value: Any = None
) -> Interrupt:
    """The ``Interrupt`` of a run's ``question``-th question (its ``input_required`` event ``seq``):
    what a segment ends with, and what a dialect finds a waiting run waits on."""
    call = None
    if isinstance(tool_call, dict) and tool_call.get("id") and tool_call.get("name"):
        call = {
            "id": str(tool_call["id"]),
            "name": str(tool_call["name"]),
            "arguments": _json_text(tool_call.get("arguments", "{}")),
        }
    return Interrupt(seq, interrupt_id(run_id, question), prompt, call, value)


# --- what a front end offers --------------------------------------------------------------------------

NO_PARAMETERS = {"type": "object", "properties": {}}  # a tool that takes nothing, as models expect it


def offered_tools(value: Any) -> list[dict[str, Any]]:
    """A front end's tools (``[{name, description, parameters}]``, ``parameters`` a JSON Schema
    object) checked and as agents get them (``AgentRequest.tools``); 400 for anything else."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise errors.InvalidInput("'tools' is a list of {name, description, parameters}.")
    tools = []
    for index, tool in enumerate(value):
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str) or not tool["name"]:
            raise errors.InvalidInput(f"tools[{index}] needs a 'name'.")
        description = tool.get("description") or ""
        parameters = tool.get("parameters") or NO_PARAMETERS
        if not isinstance(description, str) or not isinstance(parameters, dict):
            raise errors.InvalidInput(
                f"tools[{index}]: 'description' is a string, 'parameters' a JSON Schema object."
            )
        tools.append({"name": tool["name"], "description": description, "parameters": parameters})
    return tools


# --- JSON Patch (RFC 6902) between two states ---------------------------------------------------------


def json_patch(before: Any, after: Any, path: str = "") -> list[dict[str, Any]]:
    """The operations that turn ``before`` into ``after``: objects key by key, anything else
    replaced whole."""
    if isinstance(before, dict) and isinstance(after, dict):
        ops: list[dict[str, Any]] = []
        for key in before:
            if key not in after:
                ops.append({"op": "remove", "path": f"{path}/{_pointer(key)}"})
        for key, value in after.items():
            where = f"{path}/{_pointer(key)}"
            if key not in before:
                ops.append({"op": "add", "path": where, "value": value})
            elif not _same(before[key], value):
                ops.extend(json_patch(before[key], value, where))
        return ops
    return [] if _same(before, after) else [{"op": "replace", "path": path, "value": after}]


def _same(one: Any, other: Any) -> bool:
    """Equal as JSON (Python's ``True == 1`` is not)."""
    return one is other or json.dumps(one, sort_keys=True, default=str) == json.dumps(
        other, sort_keys=True, default=str
    )


def _pointer(key: str) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


# --- following a segment live --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Broken:
    """The stream cannot go on (the reader fell behind, the run or its chat was deleted, the
    database went away): the encoder says ``error`` in its protocol's words, and ends."""

    error: errors.UAIError


Told = TypeVar("Told")


async def follow_told(
    run_id: uuid.UUID | str,
    tell: Callable[[StreamEvent], list[Told]],
    done: Callable[[], bool],
    *,
    run_gone: str = "The run was deleted.",
    chat_gone: str = "The chat was deleted.",
    resume_hint: str = "resume the stream",
) -> AsyncIterator[list[Told] | Broken | None]:
    """What ``tell`` says of each of a run's events, stored then live, until ``done()``: one list
    per UAI event that said anything, None while nothing happens (a keep-alive is due), a
    ``Broken`` last when the stream cannot go on (its detail in the protocol's words:
    ``run_gone``, ``chat_gone``, how to ``resume``). The one place a translated stream of a run
    (AG-UI, the AI SDK, an OpenAI response) ends early."""
    try:
        async for event in streams.follow(
            run_id=run_id, after_seq=0, idle_seconds=settings.UAI_STREAM_KEEPALIVE_SECONDS
        ):
            if event is None:
                if await db(run_selectors.run_find, run_id=run_id) is None:
                    yield Broken(errors.Gone(run_gone))
                    return
                yield None
                continue
            said = tell(event)
            if said:
                yield said
            if done():
                return
    except streams.StreamOverflow as exc:
        yield Broken(exc)
    except streams.ChatGone:
        yield Broken(errors.Gone(chat_gone))
    except DatabaseError as error:
        if outage(error) is None:
            raise  # a bug, not an outage
        logger.warning("a translated stream's database went away; ending it with its error event")
        yield Broken(errors.Unavailable(f"The database is unreachable for a moment; {resume_hint}."))


def follow_segment(
    run_id: uuid.UUID | str, segment: int = 0, *, base_url: str = "", after_seq: int = 0
) -> AsyncIterator[list[UiEvent] | Broken | None]:
    """A segment's ``UiEvent``\\ s (``follow_told``), those of UAI events numbered above
    ``after_seq`` (a list's ``seq`` is the resume point once all of it is sent)."""
    translator = UiEvents(run_id, segment, base_url=base_url)

    def tell(event: StreamEvent) -> list[UiEvent]:
        return [e for e in translator.feed(event) if e.seq > after_seq]

    return follow_told(run_id, tell, lambda: translator.done)
