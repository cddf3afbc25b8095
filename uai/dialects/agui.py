"""AG-UI (CopilotKit's protocol): ``POST /ag-ui/{agent}`` runs any UAI agent and streams AG-UI events.

A thread is a UAI chat: ``threadId`` names one of the user's chats, or a new one (created for the
user with the agent of the URL). An AG-UI run is one *segment* of a UAI turn run (``ui_events``):
the turn's start up to the agent's first question or its end, or, after the k-th question was
answered, from the answer to the next question or the end. Its events come from the one
translator, ``ui_events.UiEvents``; this module only reads the request and says them in AG-UI's
words (``said``).

What a run's body asks, in turn:

* ``resume[]`` answers the interrupt that ended the previous run (``int_{run}_{k}``, the k-th
  question of UAI run ``run``): its ``payload`` (text, or any JSON as its text) is the answer
  and the same UAI run goes on; ``status: "cancelled"`` cancels that run instead.
* a last message of role ``tool`` answers the front-end tool call the waiting run made (its
  ``toolCallId``): its content is the tool's result, given to the agent the same way.
* otherwise the last message is the user's: a new turn. On a new thread the messages before it
  are the history the agent is shown; an existing thread has its own.

``tools`` (``{name, description, parameters}``) are offered to the agent for the turn
(``Run.request["tools"]``); a call to one ends the run after its ``TOOL_CALL_*`` events, the run's
outcome a success that names it in ``pendingToolCallIds``. ``state``, when not empty, becomes the
chat's state before the turn (an empty one — what a client sends until it has seen one — leaves
it as it is). ``context``, ``forwardedProps`` and ``parentRunId`` are accepted and have no effect,
but for ``forwardedProps.uai.cancelOnDisconnect: true``.

A client that leaves does not stop the run (unless it asked, with ``cancelOnDisconnect``). Its
events are read again with ``GET /ag-ui/{agent}/{threadId}/runs/{runId}/events`` (``runId``: the
one the client sent for that run, of the thread's latest turn): every event of the run after
``Last-Event-ID`` (header or ``?last_event_id=``), then live ones, to the run's end. An event's
``id:`` is the number of the UAI event it came from, ``N``; when one UAI event makes several AG-UI
events, the ones before the last are ``N:0``, ``N:1``… (the last is ``N``), so a resume loses or
repeats none.

Which AG-UI run a segment is: segment 0 keeps the client's ``runId`` in ``Run.request``
(``agui_run_id``); a later segment's answer message keeps it as its client message id (the
messages an AG-UI run brings all do, but a new thread's first, which ``chat_start`` makes).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile, UploadedFile
from django.db import IntegrityError
from django.http import StreamingHttpResponse
from django.urls import re_path
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.views import APIView

from uai.agents import selectors as agent_selectors
from uai.agents.models import Agent
from uai.chats import selectors as chat_selectors
from uai.chats import services as chat_services
from uai.chats.models import Chat
from uai.dialects import sse, ui_events
from uai.runs import selectors as run_selectors
from uai.runs import services as run_services
from uai.runs.dbcall import db
from uai.runs.models import Run
from uai.runs.stream_events import EventType
from uai.runs.waiting import release_connection
from uai_project import errors
from uai_project.api import base_url, user_id
from uai_project.schema import errors as error_responses

PROTOCOL_VERSION = "1.0"  # the AG-UI version these events are written in
CHAT_NAME_CHARS = 80  # a new thread's chat is named after the start of its first message
INTERRUPT_REASON = "input_required"  # an interrupt's ``reason``: the agent asked a question
ROLES = {"user": "user", "assistant": "agent", "system": "system", "developer": "system"}
MEDIA_PARTS = {"image", "audio", "video", "document"}
ENDS = {"RUN_FINISHED", "RUN_ERROR"}  # the events that end an AG-UI run
MAX_RUN_ID_CHARS = 200  # a run id is kept as its answer's client message id (200 characters)


# --- the request ----------------------------------------------------------------------------------


@dataclass
class Asked:
    """A ``RunAgentInput``, checked: the thread, the AG-UI run, and what it sends."""

    thread_id: str
    run_id: str
    text: str = ""
    files: list[UploadedFile] = field(default_factory=list)
    before: list[tuple[str, str]] = field(default_factory=list)
    interrupt: str | None = None  # the interrupt a ``resume`` entry answers
    cancel: bool = False  # … by cancelling it
    tool_call: str | None = None  # the front-end tool call a ``tool`` message answers
    state: dict[str, Any] | None = None
    tools: list[dict[str, Any]] = field(default_factory=list)
    cancel_on_disconnect: bool = False

    @property
    def answers(self) -> bool:
        return self.interrupt is not None or self.tool_call is not None

    def echo(self) -> dict[str, Any]:
        """What the turn's run keeps of the request (``Run.request``)."""
        return {"dialect": "ag-ui", "agui_run_id": self.run_id, "tools": self.tools}


def _bad(detail: str) -> errors.InvalidInput:
    return errors.InvalidInput(detail)


def _string(body: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value):
        raise _bad(f"'{name}' must be a string.")
    return value


def parse_run_input(body: Any) -> Asked:
    """A ``RunAgentInput`` body, checked (400 naming the field at fault)."""
    if not isinstance(body, dict):
        raise _bad("The request body must be a JSON object (AG-UI's RunAgentInput).")
    thread_id = chat_services.validate_chat_id(_string(body, "threadId", required=True) or "")
    run_id = _string(body, "runId", required=True) or ""
    if len(run_id) > MAX_RUN_ID_CHARS:
        raise _bad(f"'runId' is at most {MAX_RUN_ID_CHARS} characters.")
    _string(body, "parentRunId")
    asked = Asked(thread_id=thread_id, run_id=run_id)
    state = body.get("state")
    if state is not None and not isinstance(state, dict):
        raise _bad("'state' must be an object.")
    asked.state = state or None
    asked.tools = _tools(body.get("tools"))
    if body.get("context") is not None and not isinstance(body["context"], list):
        raise _bad("'context' must be an array.")
    asked.cancel_on_disconnect = _cancel_on_disconnect(body.get("forwardedProps"))
    messages = body.get("messages")
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise _bad("'messages' must be an array of messages.")
    resume = body.get("resume")
    if resume:
        _resume(asked, resume)
    else:
        _messages(asked, messages)
    return asked


def _tools(value: Any) -> list[dict[str, Any]]:
    """The front-end tools offered, as UAI passes them to agents."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise _bad("'tools' must be an array.")
    tools = []
    for index, tool in enumerate(value):
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str) or not tool["name"]:
            raise _bad(f"'tools[{index}]' needs a 'name'.")
        description = tool.get("description") or ""
        parameters = tool.get("parameters")
        if not isinstance(description, str) or (parameters is not None and not isinstance(parameters, dict)):
            raise _bad(f"'tools[{index}]': 'description' is a string, 'parameters' a JSON Schema object.")
        tools.append({"name": tool["name"], "description": description, "parameters": parameters or {}})
    return tools


def _cancel_on_disconnect(props: Any) -> bool:
    uai = props.get("uai") if isinstance(props, dict) else None
    return isinstance(uai, dict) and uai.get("cancelOnDisconnect") is True


def _resume(asked: Asked, entries: Any) -> None:
    """``resume[]``: the answer to the interrupt that ended the thread's previous run."""
    if not isinstance(entries, list) or len(entries) != 1 or not isinstance(entries[0], dict):
        raise _bad("'resume' answers the one interrupt the previous run ended with: one entry.")
    entry = entries[0]
    interrupt, status = entry.get("interruptId"), entry.get("status")
    if not isinstance(interrupt, str) or status not in ("resolved", "cancelled"):
        raise _bad("A 'resume' entry has an 'interruptId' and a 'status' (resolved or cancelled).")
    asked.interrupt = interrupt
    asked.cancel = status == "cancelled"
    payload = entry.get("payload")
    asked.text = payload if isinstance(payload, str) else "" if payload is None else json.dumps(payload)


def _messages(asked: Asked, messages: list[dict[str, Any]]) -> None:
    """The turn in ``messages``: the last one, the user's (or a tool's result)."""
    if not messages:
        raise _bad("'messages' has no message: the last one is the turn.")
    last = messages[-1]
    where = f"messages[{len(messages) - 1}]"
    if last.get("role") == "tool":
        call = last.get("toolCallId")
        if not isinstance(call, str) or not call:
            raise _bad(f"'{where}.toolCallId' must be a string.")
        asked.tool_call = call
        asked.text, _ = _content(last.get("content"), f"{where}.content", files=False)
        return
    if last.get("role") != "user":
        raise _bad("The last message is the turn: the user's, or a tool's result.")
    asked.text, asked.files = _content(last.get("content"), f"{where}.content", files=True)
    for index, message in enumerate(messages[:-1]):
        role = ROLES.get(str(message.get("role")))
        if role is None:
            continue  # tool results, activities, reasoning: the agent has them from its own run
        said, _ = _content(message.get("content"), f"messages[{index}].content", files=False)
        if said.strip():
            asked.before.append((role, said))


def _content(content: Any, where: str, *, files: bool) -> tuple[str, list[UploadedFile]]:
    """A message's text, and (``files``: the turn's) its media parts as uploads."""
    if content is None:
        return "", []
    if isinstance(content, str):
        return content, []
    if not isinstance(content, list):
        raise _bad(f"'{where}' must be a string or an array of parts.")
    texts: list[str] = []
    uploads: list[UploadedFile] = []
    for index, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind in MEDIA_PARTS:
            if files:
                uploads.append(_upload(part, f"{where}[{index}]", len(uploads) + 1))
        else:
            raise _bad(f"'{where}[{index}]' is not a text, image, audio, video or document part.")
    return "\n".join(texts), uploads


def _upload(part: dict[str, Any], where: str, number: int) -> UploadedFile:
    source = part.get("source")
    if (
        not isinstance(source, dict)
        or source.get("type") != "data"
        or not isinstance(source.get("value"), str)
    ):
        raise _bad(f"'{where}.source': UAI fetches nothing; send the file inline (a 'data' source, base64).")
    media = source.get("mimeType")
    media = media if isinstance(media, str) and media else "application/octet-stream"
    try:
        content = base64.b64decode(source["value"], validate=True)
    except (binascii.Error, ValueError):
        raise _bad(f"'{where}.source.value' is not valid base64.") from None
    metadata = part.get("metadata")
    name = metadata.get("filename") if isinstance(metadata, dict) else None
    name = name if isinstance(name, str) and name else f"{part['type']}-{number}"
    return SimpleUploadedFile(name, content, content_type=media)


# --- sending --------------------------------------------------------------------------------------


def agent_of(name: str) -> Agent:
    """The enabled agent the URL names, or 404."""
    try:
        return agent_selectors.agent_get(name=name)
    except errors.InvalidInput:
        raise errors.NotFound(f"Unknown agent {name!r}.") from None


def thread_of(user: Any, thread_id: str, agent: Agent) -> Chat | None:
    """The user's chat ``thread_id`` (None: a new one); 404 for another user's, 400 for another
    agent's."""
    chat = chat_selectors.chat_find(chat_id=thread_id)
    if chat is None:
        return None
    if chat.owner_id != user.pk:
        raise errors.NotFound("Thread not found.")
    if chat.agent_id != agent.name:
        raise _bad(f"Thread {thread_id!r} is a chat with agent {chat.agent_id!r}, not {agent.name!r}.")
    return chat


def start(*, owner_id: int, agent: Agent, asked: Asked) -> Run:
    """A new thread: its chat and first turn (its state first, when the client gave one)."""
    if asked.answers:
        raise errors.NotFound("Thread not found: there is nothing in it to answer.")
    name = " ".join(asked.text.split())[:CHAT_NAME_CHARS]
    try:
        if asked.state:
            chat = chat_services.chat_create(
                owner_id=owner_id, agent=agent, chat_id=asked.thread_id, name=name
            )
            chat_services.chat_update(chat=chat, fields={"state": asked.state})
            run, _ = chat_services.chat_send(
                chat=chat,
                text=asked.text,
                files=asked.files,
                before=asked.before,
                request=asked.echo(),
                client_message_id=asked.run_id,
            )
            return run
        _, run, _ = chat_services.chat_start(
            owner_id=owner_id,
            agent=agent,
            chat_id=asked.thread_id,
            name=name,
            text=asked.text,
            files=asked.files,
            before=asked.before,
            request=asked.echo(),
        )
    except IntegrityError:  # another request started this thread a moment ago
        raise errors.Conflict(f"Thread {asked.thread_id!r} was just started by another request.") from None
    return run


def send(*, chat: Chat, asked: Asked) -> Run | None:
    """A turn of an existing thread, or the answer to its waiting run (None: that run was
    cancelled, as ``resume`` asked)."""
    if asked.state and asked.state != chat.state:
        chat_services.chat_update(chat=chat, fields={"state": asked.state})
    if asked.interrupt is not None:
        waiting = _interrupted(chat, asked.interrupt)
        if asked.cancel:
            run_services.run_cancel(run=waiting)
            return None
        run, _ = chat_services.chat_send(
            chat=chat, text=asked.text, answering=waiting, client_message_id=asked.run_id
        )
        return run
    if asked.tool_call is not None:
        waiting = _calling(chat, asked.tool_call)
        run, _ = chat_services.chat_send(
            chat=chat, text=asked.text, answering=waiting, client_message_id=asked.run_id
        )
        return run
    run, _ = chat_services.chat_send(
        chat=chat,
        text=asked.text,
        files=asked.files,
        client_message_id=asked.run_id,
        request=asked.echo(),
    )
    return run


def _interrupted(chat: Chat, raw: str) -> Run:
    """The run of the thread waiting on interrupt ``raw``; 400 when none is."""
    refused = _bad(f"No interrupt of this thread waits under id {raw!r}.")
    parsed = ui_events.parse_interrupt_id(raw)
    if parsed is None:
        raise refused
    run_id, question = parsed
    run = run_selectors.run_find(run_id=run_id)
    if run is None or run.chat_id != chat.id or run.status != Run.Status.INPUT_REQUIRED:
        raise refused
    if len(chat_selectors.run_user_messages(run_id=run.id)) != question:
        raise refused  # an earlier question, answered already
    return run


def _calling(chat: Chat, call_id: str) -> Run:
    """The run of the thread waiting for the result of front-end tool call ``call_id``."""
    run = chat_selectors.chat_latest_run(chat=chat)
    if run is not None and run.status == Run.Status.INPUT_REQUIRED:
        asked = [e for e in run_selectors.run_events(run_id=run.id) if e["type"] == EventType.INPUT_REQUIRED]
        tool_call = asked[-1]["data"].get("tool_call") if asked else None
        if isinstance(tool_call, dict) and tool_call.get("id") == call_id:
            return run
    raise _bad(f"No tool call of this thread waits for a result under id {call_id!r}.")


def segment_of(run: Run) -> int:
    """The segment the run's latest user message started (its k-th answer starts segment k)."""
    return len(chat_selectors.run_user_messages(run_id=run.id)) - 1


def find_segment(chat: Chat, agui_run_id: str) -> tuple[Run, int]:
    """The UAI run and segment of the thread's latest turn that the client's run ``agui_run_id``
    was; 404 when none was."""
    run = chat_selectors.chat_latest_run(chat=chat)
    if run is not None:
        if (run.request or {}).get("agui_run_id") == agui_run_id:
            return run, 0
        answers = chat_selectors.run_user_messages(run_id=run.id)[1:]
        for index, message in enumerate(answers, start=1):
            if message.client_message_id == agui_run_id:
                return run, index
    raise errors.NotFound("Run not found.")


# --- the stream -----------------------------------------------------------------------------------


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
            return [_finished(head, _interrupt_outcome(interrupt, prompt, tool_call))]
        case ui_events.Finish(status="failed", error=error):
            return [run_error(errors.AgentFailed(error or "The agent failed."))]
        case ui_events.Finish(status="cancelled"):
            return [_finished(head, {"type": "cancelled"})]
        case ui_events.Finish(output=output):
            finished = _finished(head, None)
            if output is not None:
                finished["result"] = output
            return [finished]
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


def _finished(head: Head, outcome: dict[str, Any] | None) -> dict[str, Any]:
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
        raise _bad("Last-Event-ID is an event id of this stream: N or N:i.")
    return Cursor(int(number), int(part) if colon else None)


async def agui_events(
    run_id: Any, segment: int, head: Head, *, base: str, after: Cursor, cancel_on_disconnect: bool = False
) -> AsyncIterator[bytes]:
    """The AG-UI events of one segment of a run after ``after``, stored then live, to its end."""
    after_seq = after.seq - 1 if after.part is not None else after.seq
    ended = False
    try:
        async for told in ui_events.follow_segment(run_id, segment, base_url=base, after_seq=after_seq):
            if told is None:
                yield sse.KEEPALIVE
                continue
            if isinstance(told, ui_events.Broken):
                ended = True
                yield frame(None, run_error(told.error))
                return
            seq = told[0].seq  # (one UAI event's: all the same)
            events = [event for one in told for event in said(one, head)]
            ended = ended or any(e["type"] in ENDS for e in events)
            skip = after.part + 1 if after.part is not None and seq == after.seq else 0
            for event_id, event in list(numbered(seq, events))[skip:]:
                yield frame(event_id, event)
    finally:
        if not ended and cancel_on_disconnect:
            await db(_cancel_quietly, run_id=run_id)


def _cancel_quietly(*, run_id: Any) -> None:
    """Cancel the run a client left (it asked for that), unless it ended meanwhile."""
    run = run_selectors.run_find(run_id=run_id)
    if run is not None and not run.is_terminal:
        try:
            run_services.run_cancel(run=run)
        except errors.Conflict:
            pass  # it ended meanwhile


async def cancelled_events(head: Head) -> AsyncIterator[bytes]:
    """A run whose ``resume`` cancelled the interrupted UAI run: started, and ended so."""
    yield frame(None, said(ui_events.RunStart(0, "", None), head)[0])
    yield frame(None, _finished(head, {"type": "cancelled"}))


# --- views ----------------------------------------------------------------------------------------


RunAgentInputIn = inline_serializer(
    "AgUiRunAgentInput",
    fields={
        "threadId": serializers.CharField(help_text="A UAI chat id: one of yours, or a new one."),
        "runId": serializers.CharField(help_text="The client's id of this run (resume by it)."),
        "messages": serializers.ListField(
            child=serializers.DictField(),
            help_text="The last one is the turn: the user's, or a tool's result.",
        ),
        "state": serializers.DictField(required=False, help_text="Not empty: the chat's state from now on."),
        "tools": serializers.ListField(child=serializers.DictField(), required=False),
        "context": serializers.ListField(child=serializers.DictField(), required=False),
        "forwardedProps": serializers.JSONField(
            required=False,
            help_text="`{uai: {cancelOnDisconnect: true}}`: a client that leaves stops the run.",
        ),
        "resume": serializers.ListField(
            child=serializers.DictField(), required=False, help_text="`[{interruptId, status, payload}]`"
        ),
    },
)

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


class AgentRunView(APIView):
    parser_classes = [JSONParser]  # AG-UI's clients send JSON; any other body is a 415

    @extend_schema(
        request=RunAgentInputIn,
        responses={
            (200, "text/event-stream"): AGUI_SSE,
            **error_responses(
                {
                    404: "No such agent, or the thread is another user's.",
                    409: "The interrupt or tool call was answered meanwhile, or the thread was just "
                    "started by another request.",
                }
            ),
        },
        tags=["ag-ui"],
        operation_id="agui_run",
    )
    def post(self, request: Request, agent: str) -> StreamingHttpResponse:
        """Run the agent on a thread (AG-UI's RunAgentInput): its AG-UI events, as they come."""
        asked = parse_run_input(request.data)
        found = agent_of(agent)
        chat = thread_of(request.user, asked.thread_id, found)
        if chat is None:
            run: Run | None = start(owner_id=user_id(request), agent=found, asked=asked)
        else:
            run = send(chat=chat, asked=asked)
        head = Head(thread_id=asked.thread_id, run_id=asked.run_id)
        if run is None:
            return sse.response(cancelled_events(head))
        segment = segment_of(run)
        base = base_url(request)
        release_connection()  # the stream must not hold this request's connection
        return sse.response(
            agui_events(
                run.id,
                segment,
                head,
                base=base,
                after=Cursor(),
                cancel_on_disconnect=asked.cancel_on_disconnect,
            )
        )


class RunEventsView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("Last-Event-ID", str, OpenApiParameter.HEADER, pattern=EVENT_ID["pattern"]),
            OpenApiParameter("last_event_id", str, pattern=EVENT_ID["pattern"]),
        ],
        responses={
            (200, "text/event-stream"): AGUI_SSE,
            **error_responses({404: "No such agent, thread of this user's, or run of its latest turn."}),
        },
        tags=["ag-ui"],
        operation_id="agui_run_events",
    )
    def get(self, request: Request, agent: str, thread_id: str, run_id: str) -> StreamingHttpResponse:
        """A run's AG-UI events again, after ``Last-Event-ID``, then live ones, to its end."""
        after = parse_cursor(
            request.headers.get("Last-Event-ID") or request.query_params.get("last_event_id")
        )
        chat = thread_of(request.user, thread_id, agent_of(agent))
        if chat is None:
            raise errors.NotFound("Thread not found.")
        run, segment = find_segment(chat, run_id)
        base = base_url(request)
        release_connection()
        return sse.response(agui_events(run.id, segment, Head(thread_id, run_id), base=base, after=after))


urlpatterns = [
    re_path(r"^(?P<agent>[^/]+)/?$", AgentRunView.as_view(), name="agui-run"),
    re_path(
        r"^(?P<agent>[^/]+)/(?P<thread_id>[^/]+)/runs/(?P<run_id>[^/]+)/events/?$",
        RunEventsView.as_view(),
        name="agui-run-events",
    ),
]
