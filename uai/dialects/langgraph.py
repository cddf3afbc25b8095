"""LangGraph's Agent Server API under ``/langgraph/``: the ``langgraph-sdk`` clients (Python and
JavaScript) and the front ends built on them run any UAI agent.

The API root is ``/langgraph`` (``get_client(url=".../langgraph", api_key=token)``). The ids and
states map onto the one core:

* an **assistant** is a registered agent (``assistant_id`` = ``graph_id`` = its name);
* a **thread** is a chat (``thread_id`` = the chat's id, ``metadata`` = its metadata). A thread
  made without an assistant is a chat with the default agent until its first run names one; a
  thread's first run stamps ``graph_id`` and ``assistant_id`` into its metadata, as LangGraph's
  server does (Agent Chat UI lists threads by them);
* a **run** is a *segment* of a UAI turn (``ui_events``): the turn up to the agent's first question
  or its end, or from an answer to the next question or the end. Its ``run_id`` is the id of the
  user message that started it (the turn's message, or the answer); a run stopped by a question
  is a ``success`` and leaves its thread ``interrupted``, as ``interrupt()`` does in LangGraph;
* ``command.resume`` answers the question (for any framework: UAI's input request), ``input``
  starts a new turn (a question still open is dropped: its turn is cancelled);
* ``multitask_strategy`` is the chat's double-texting (``reject`` by default, as LangGraph's);
* the thread's values are ``{"messages": [...]}`` in LangChain's format (``langgraph_events``).

Streams (``langgraph_events``) start with ``metadata`` and number every event (``N`` or ``N:i``:
UAI's event number); ``Last-Event-ID`` resumes after one, ``-1`` replays from the start. The
``Location`` header names the run's stream, where the SDKs reconnect.

Auth: ``x-api-key: <UAI API token>`` as the SDKs send it, or ``Authorization: Bearer``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpResponse, StreamingHttpResponse
from django.urls import re_path
from rest_framework.authentication import SessionAuthentication
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from uai.agents import selectors as agent_selectors
from uai.agents.events import FINAL_ANSWER_STEP
from uai.agents.models import Agent
from uai.chats import selectors as chat_selectors
from uai.chats import services as chat_services
from uai.chats.models import Chat, Message
from uai.chats.validators import validate_chat_id
from uai.dialects import langgraph_events as lg
from uai.dialects import sse, ui_events
from uai.runs import selectors as run_selectors
from uai.runs import services as run_services
from uai.runs import streams
from uai.runs.dbcall import db
from uai.runs.models import Run
from uai.runs.stream_events import EventType
from uai.runs.waiting import release_connection
from uai_project import errors, parsers
from uai_project.api import base_url, user_id
from uai_project.auth import ApiKeyAuthentication, BearerAuthentication

VERSION = "0.4"  # the Agent Server API these routes follow
NAME_CHARS = 80
MAX_LIMIT = 1000
MAX_OFFSET = 2**31 - 1


def bad(detail: str) -> errors.InvalidInput:
    return errors.InvalidInput(detail)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _whole(value: Any, name: str, low: int, high: int, default: int) -> int:
    """A whole number of a body (JSON) or query (text) between ``low`` and ``high``."""
    if value is None or value == "":
        return default
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 12:
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise bad(f"'{name}' is a whole number between {low} and {high}.")
    return value


def _limit(value: Any, default: int = 10) -> int:
    return _whole(value, "limit", 1, MAX_LIMIT, default)


def _offset(value: Any) -> int:
    return _whole(value, "offset", 0, MAX_OFFSET, 0)


def _object(data: Any, name: str) -> dict[str, Any]:
    value = data.get(name) if isinstance(data, dict) else None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise bad(f"'{name}' is an object.")
    return value


def _body(request: Request) -> dict[str, Any]:
    data = request.data
    if data is None or data == {}:
        return {}
    if not isinstance(data, dict):
        raise bad("The body is a JSON object.")
    return dict(data)


# --- assistants -----------------------------------------------------------------------------------


def assistant(agent: Agent) -> dict[str, Any]:
    return {
        "assistant_id": agent.name,
        "graph_id": agent.name,
        "name": agent.name,
        "description": agent.description or None,
        "config": {},
        "context": {},
        "metadata": {"created_by": "system", "adapter": agent.adapter},
        "version": 1,
        "created_at": _iso(agent.created_at),
        "updated_at": _iso(agent.updated_at),
    }


def agent_of(name: Any) -> Agent:
    if not isinstance(name, str) or not name:
        raise bad("'assistant_id' names an assistant (a UAI agent).")
    try:
        return agent_selectors.agent_get(name=name)
    except errors.InvalidInput:
        raise errors.NotFound(f"Assistant {name!r} not found.") from None


# --- threads --------------------------------------------------------------------------------------


def lc_message(message: Message) -> dict[str, Any]:
    """A chat's message in LangChain's format."""
    if message.role == Message.Role.USER:
        return lg.human(message.content, message.client_message_id or str(message.id))
    if message.role == Message.Role.SYSTEM:
        return lg.system(message.content, str(message.id))
    return lg.ai(message.content, str(message.id))


def values_of(messages: list[Message]) -> dict[str, Any]:
    return {"messages": [lc_message(m) for m in messages]}


def waiting_interrupt(run: Run | None) -> ui_events.Interrupt | None:
    """The question a thread's newest turn waits on, if it does."""
    if run is None or run.status != Run.Status.INPUT_REQUIRED:
        return None
    question = len(chat_selectors.run_user_messages(run_id=run.id))
    asked = run_selectors.run_last_question(run_id=run.id)
    value = (
        asked["data"].get("value")
        if asked is not None and asked["type"] == EventType.INPUT_REQUIRED
        else None
    )
    return ui_events.interrupt_of(
        run.id, question, seq=0, prompt=run.input_prompt, tool_call=None, value=value
    )


def thread_status(run: Run | None) -> str:
    if run is None:
        return "idle"
    if run.status == Run.Status.INPUT_REQUIRED:
        return "interrupted"
    if run.status in (Run.Status.QUEUED, Run.Status.RUNNING):
        return "busy"
    return "error" if run.status == Run.Status.FAILED else "idle"


def thread(chat: Chat) -> dict[str, Any]:
    return threads([chat])[0]


def threads(chats: list[Chat]) -> list[dict[str, Any]]:
    """Threads as LangGraph shows them: a query for their messages, one for their newest turns
    (and one per thread waiting on a question)."""
    said = chat_selectors.conversations(chats=chats)
    latest = chat_selectors.latest_runs(chats=chats)
    return [_thread(chat, said[chat.id], latest.get(chat.id)) for chat in chats]


def _thread(chat: Chat, messages: list[Message], latest: Run | None) -> dict[str, Any]:
    waiting = waiting_interrupt(latest)
    return {
        "thread_id": chat.id,
        "created_at": _iso(chat.created_at),
        "updated_at": _iso(chat.updated_at),
        "metadata": chat.metadata,
        "status": thread_status(latest),
        "config": {},
        "values": values_of(messages),
        "interrupts": {str(latest.id): lg.interrupts(waiting)} if latest and waiting else {},
        "error": latest.error if latest is not None and latest.status == Run.Status.FAILED else None,
    }


def state(chat: Chat) -> dict[str, Any]:
    """The thread's one state: UAI keeps messages, not checkpoints (history is this state)."""
    latest = chat_selectors.chat_latest_run(chat=chat)
    waiting = waiting_interrupt(latest)
    going = latest is not None and latest.status in Run.ACTIVE
    tasks = []
    if going and latest is not None:
        tasks.append(
            {
                "id": str(latest.id),
                "name": lg.NODE,
                "path": [],
                "error": None,
                "interrupts": lg.interrupts(waiting) if waiting else [],
                "checkpoint": None,
                "state": None,
                "result": None,
            }
        )
    checkpoint = {
        "thread_id": chat.id,
        "checkpoint_ns": "",
        "checkpoint_id": str(chat.last_seq),
        "checkpoint_map": None,
    }
    return {
        "values": values_of(chat_selectors.conversation(chat=chat)),
        "next": [lg.NODE] if going else [],
        "checkpoint": checkpoint,
        "metadata": {**chat.metadata, "step": chat.last_seq},
        "created_at": _iso(chat.updated_at),
        "parent_checkpoint": None,
        "tasks": tasks,
        "interrupts": lg.interrupts(waiting) if waiting else [],
    }


def chat_of(request: Request, thread_id: str) -> Chat:
    chat = chat_selectors.chat_find(chat_id=thread_id)
    if chat is None or chat.owner_id != request.user.pk:
        raise errors.NotFound(f"Thread {thread_id!r} not found.")
    return chat


# --- runs -----------------------------------------------------------------------------------------


def run_json(chat: Chat, segment: chat_selectors.Segment) -> dict[str, Any]:
    run = segment.turn
    status = lg.run_status(run.status, run.error) if segment.latest else "success"
    request = run.request if isinstance(run.request, dict) else {}
    found = request.get("langgraph")
    asked: dict[str, Any] = found if isinstance(found, dict) else {}
    return {
        "run_id": str(segment.message.id),
        "thread_id": chat.id,
        "assistant_id": run.agent_id,
        "created_at": _iso(segment.message.created_at),
        "updated_at": _iso(run.updated_at),
        "status": status,
        "metadata": asked.get("metadata") or {},
        "multitask_strategy": asked.get("multitask_strategy") or "reject",
        "kwargs": {},
    }


def input_text(value: Any) -> str:
    """The user's text of a run's ``input``: its last message's (``{"messages": [...]}``, LangChain's
    or OpenAI's form, text or content parts), else the input as JSON."""
    if isinstance(value, str):
        return value
    if not isinstance(value, dict):
        raise bad('\'input\' is an object, such as {"messages": [{"role": "user", "content": "Hi"}]}.')
    messages = value.get("messages")
    if isinstance(messages, dict):
        messages = [messages]
    if isinstance(messages, list) and messages:
        last = messages[-1]
        if isinstance(last, str):
            return last
        if isinstance(last, dict):
            return _content_text(last.get("content"))
        raise bad('\'input.messages\' holds messages: {"role", "content"}.')
    return json.dumps(value)


def _client_message_id(value: Any) -> str:
    """The id a client gave its input's last message (kept: its message keeps that id here)."""
    messages = value.get("messages") if isinstance(value, dict) else None
    last = messages[-1] if isinstance(messages, list) and messages else messages
    found = last.get("id") if isinstance(last, dict) else None
    return found if isinstance(found, str) else ""


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text", "") if isinstance(p, dict) else p for p in content]
        if not all(isinstance(p, str) for p in parts):
            raise bad('A message\'s content parts are text: {"type": "text", "text": "..."}.')
        return "".join(parts)
    raise bad('A message\'s \'content\' is text or a list of {"type": "text", "text"} parts.')


def resume_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


STRATEGIES = {"reject", "enqueue", "interrupt", "rollback"}


def begin(
    request: Request,
    thread_id: str | None,
    body: dict[str, Any],
    *,
    stateless: bool = False,
    modes: tuple[str, ...] | None = None,
) -> tuple[Chat, chat_selectors.Segment]:
    """Start the run a body asks on a thread (a new one for ``thread_id`` None or, with
    ``if_not_exists: create``, one not there yet)."""
    agent = agent_of(body.get("assistant_id"))
    metadata = _object(body, "metadata")
    config, context = _object(body, "config"), _object(body, "context")
    strategy = body.get("multitask_strategy") or "reject"
    if not isinstance(strategy, str) or strategy not in STRATEGIES:
        raise bad(f"'multitask_strategy' is one of {', '.join(sorted(STRATEGIES))}, not {strategy!r}.")
    command = _object(body, "command")  # (it wins over an ``input`` beside it, as in LangGraph)
    asked: dict[str, Any] = {"langgraph": {"metadata": metadata, "multitask_strategy": strategy}}
    if modes is not None:
        asked["langgraph"]["stream_mode"] = list(modes)
    if config:
        asked["config"] = config
    if context:
        asked["context"] = context
    chat = chat_selectors.chat_find(chat_id=thread_id) if thread_id is not None else None
    if chat is not None and chat.owner_id != request.user.pk:
        raise errors.NotFound(f"Thread {thread_id!r} not found.")
    if chat is None and thread_id is not None and body.get("if_not_exists") != "create":
        raise errors.NotFound(f"Thread {thread_id!r} not found.")
    if command.get("resume") is not None:
        if chat is None:
            raise errors.NotFound("Thread not found: there is nothing in it to resume.")
        latest = chat_selectors.chat_latest_run(chat=chat)
        if latest is None or latest.status != Run.Status.INPUT_REQUIRED:
            raise errors.Conflict("The thread has no interrupt to resume.")
        value = command["resume"]
        run, message = chat_services.chat_send(
            chat=chat,
            text=resume_text(value),
            answering=latest,
            answer_value=None if isinstance(value, str) else value,
        )
        return chat, _segment(chat, message, run)
    if command:
        raise bad("Of a 'command', UAI answers 'resume' only (an interrupt's answer).")
    if body.get("input") is None:
        # (a run with neither goes on from a checkpoint in LangGraph: a front end's "regenerate")
        raise bad(
            "Give 'input' (the user's message) or 'command': {\"resume\": ...}. UAI keeps a "
            "thread's messages, not checkpoints: a run from a checkpoint (regenerate, edit, branch) "
            "is not possible; send the message again as 'input'."
        )
    text = input_text(body["input"])
    client_id = _client_message_id(body["input"])
    stamp = {"graph_id": agent.name, "assistant_id": agent.name}
    if chat is None:
        if thread_id is not None:
            validate_chat_id(thread_id)
        try:
            chat, run, message = chat_services.chat_start(
                owner_id=user_id(request),
                agent=agent,
                chat_id=thread_id or _new_id(),
                name=" ".join(text.split())[:NAME_CHARS],
                text=text,
                request=asked,
                metadata={**stamp, **({"stateless": True} if stateless else {})},
                client_message_id=client_id,
            )
        except IntegrityError:
            raise errors.Conflict(f"Thread {thread_id!r} was just made by another request.") from None
        return chat, _segment(chat, message, run)
    _bind(chat, agent, stamp)
    # New input on an interrupted thread starts over: the question is left unanswered.
    try:
        run, message = chat_services.chat_send(
            chat=chat,
            text=text,
            request=asked,
            double_texting=strategy,
            client_message_id=client_id,
            drop_question=True,
        )
    except errors.Conflict as refused:  # ``reject``: the turn going, named by its LangGraph run id
        going = refused.extra.get("run_id")
        segment = chat_selectors.segment_at(chat=chat, run_id=going, index=-1) if going else None
        if segment is not None:
            refused.extra["run_id"] = str(segment.message.id)
        raise
    return chat, _segment(chat, message, run)


def _new_id() -> str:
    return str(uuid.uuid4())


def _bind(chat: Chat, agent: Agent, stamp: dict[str, str]) -> None:
    """A thread's assistant: the one its first run names (the chat's agent until then: the
    default); a later run naming another is a 400."""
    if chat.agent_id != agent.name:
        if chat_selectors.chat_latest_run(chat=chat) is not None:
            raise bad(f"Thread {chat.id!r} runs assistant {chat.agent_id!r}, not {agent.name!r}.")
        chat_services.chat_update(chat=chat, fields={"agent": agent})
    if any(chat.metadata.get(k) != v for k, v in stamp.items()) and "graph_id" not in chat.metadata:
        chat_services.chat_update(chat=chat, fields={"metadata": {**chat.metadata, **stamp}})


def _segment(chat: Chat, message: Message, run: Run) -> chat_selectors.Segment:
    found = chat_selectors.segment_get(chat=chat, message_id=str(message.id))
    if found is None:  # rolled back at once by a newer message
        raise errors.Gone(chat_services.ROLLED_BACK)
    return found


def find_run(chat: Chat, run_id: str) -> chat_selectors.Segment:
    found = chat_selectors.segment_get(chat=chat, message_id=run_id)
    if found is None:
        raise errors.NotFound(f"Run {run_id!r} not found.")
    return found


def story(chat: Chat, segment: chat_selectors.Segment, modes: tuple[str, ...]) -> lg.Segment:
    base = [lc_message(m) for m in chat_selectors.conversation(chat=chat, upto_seq=segment.message.seq)]
    return lg.Segment(
        modes=modes,
        run_id=str(segment.message.id),
        thread_id=chat.id,
        assistant_id=segment.turn.agent_id,
        history=base,
    )


# --- streams --------------------------------------------------------------------------------------


class Cursor:
    """Where a client resumes: after all of UAI event ``seq``'s events (``part`` None) or after
    the ``part``-th of them; ``seq`` -1: from the start."""

    def __init__(self, raw: str | None) -> None:
        self.seq, self.part = 0, None
        if not raw or raw == "-1":
            return
        number, colon, part = raw.partition(":")
        ok = number.isascii() and number.isdigit() and len(number) <= 18
        ok = ok and (not colon or (part.isascii() and part.isdigit() and len(part) <= 6))
        if not ok:
            raise bad("Last-Event-ID is an event id of this stream: N or N:i (or -1: from the start).")
        self.seq, self.part = int(number), (int(part) if colon else None)


def frame(event_id: str | None, event: str, data: Any) -> bytes:
    return sse.encode(event_id, data, event)


async def events(
    run_id: Any,
    index: int,
    told: lg.Segment,
    *,
    base: str,
    after: Cursor,
    cancel_on_disconnect: bool,
    on_end: Callable[[], Any] | None = None,
) -> AsyncIterator[bytes]:
    """A segment's LangGraph events after ``after``, stored then live, to its end."""
    yield frame(None, "metadata", {"run_id": told.run_id, "attempt": 1})
    ended = False
    try:
        async for said in ui_events.follow_segment(run_id, index, base_url=base):
            if said is None:
                yield sse.KEEPALIVE
                continue
            if isinstance(said, ui_events.Broken):
                ended = True
                yield frame(None, "error", lg.error_body(type(said.error).__name__, said.error.detail))
                return
            ended = ended or any(isinstance(e, ui_events.Finish | ui_events.Interrupt) for e in said)
            seq = said[0].seq
            out = [pair for one in said for pair in told.said(one)]
            if seq < after.seq or (seq == after.seq and after.part is None):
                continue
            skip = after.part + 1 if after.part is not None and seq == after.seq else 0
            for index_in, (name, data) in enumerate(out):
                if index_in < skip:
                    continue
                event_id = str(seq) if index_in == len(out) - 1 else f"{seq}:{index_in}"
                yield frame(event_id, name, data)
        yield frame(None, "end", {"run_id": told.run_id, "status": told.status or "success"})
    finally:
        if not ended and cancel_on_disconnect:
            await db(run_services.run_cancel_if_going, run_id=run_id)
        if on_end is not None:  # (also when the client left: a stateless run's thread is unread)
            await db(on_end)


@dataclass
class _Told:
    """A segment of a thread's turn as a thread stream follows it: its ``UiEvents`` (fed from
    the segment's first event) and, once something of it is to be sent, its translator."""

    ui: ui_events.UiEvents
    index: int  # which segment of its turn
    story: lg.Segment | None = None
    said: list[ui_events.UiEvent] = field(default_factory=list)  # before the story was made
    gone: bool = False  # its message went (rolled back): nothing of it is said


async def thread_events(
    chat: Chat, modes: tuple[str, ...], *, base: str, after: tuple[int, int | None]
) -> AsyncIterator[bytes]:
    """A thread's runs: each segment's ``metadata``, then its events in ``modes``, after the
    cursor ``after`` (UAI event number, and the index among those it made; None: all of them).

    The thread's events are read from its start every time, so what each one says and its id
    (``N`` or ``N:i``) never depend on where a client joined: a resumed stream is the replay with
    what came up to its cursor left out. Segments that end before the cursor are followed (to
    know where the next starts) but not translated."""
    cursor, part = after
    told: dict[str, _Told] = {}
    begun: dict[str, int] = {}  # turn → segments begun
    try:
        async for event in streams.follow(
            chat_id=chat.id,
            after_seq=0,
            idle_seconds=settings.UAI_STREAM_KEEPALIVE_SECONDS,
            chat_born=chat.created_at,
        ):
            if event is None:
                yield sse.KEEPALIVE
                continue
            run_id = event.get("run_id")
            if event["type"] == EventType.PAST_END or not isinstance(run_id, str):
                continue
            seq, out = event["seq"], []
            one = told.get(run_id)
            if one is None or (one.ui.done and event["type"] == EventType.INPUT):
                index = begun.get(run_id, -1) + 1
                begun[run_id] = index
                one = told[run_id] = _Told(ui_events.UiEvents(run_id, 0, base_url=base), index)
            said = one.ui.feed(event)
            if one.gone or not said:
                continue
            if seq < cursor or (seq == cursor and part is None):
                if one.story is None:
                    one.said.extend(said)
                else:
                    for each in said:
                        one.story.said(each)
                continue
            if one.story is None:
                one.story = await db(_story_of, chat=chat, run_id=run_id, index=one.index, modes=modes)
                if one.story is None:
                    one.gone = True
                    continue
                for each in one.said:  # what came before the cursor, to know the values
                    one.story.said(each)
                one.said = []
            if isinstance(said[0], ui_events.RunStart):
                out.append(("metadata", {"run_id": one.story.run_id, "attempt": 1}))
            out.extend(named for each in said for named in one.story.said(each))
            skip = part + 1 if part is not None and seq == cursor else 0
            for index, (name, data) in enumerate(out):
                if index >= skip:
                    yield frame(str(seq) if index == len(out) - 1 else f"{seq}:{index}", name, data)
    except (streams.StreamOverflow, streams.ChatGone) as exc:
        yield frame(None, "error", lg.error_body(type(exc).__name__, exc.detail))


def _story_of(*, chat: Chat, run_id: str, index: int, modes: tuple[str, ...]) -> lg.Segment | None:
    """The translator of the ``index``-th segment of a turn of the chat; None when its message
    went."""
    segment = chat_selectors.segment_at(chat=chat, run_id=run_id, index=index)
    return None if segment is None else story(chat, segment, modes)


async def result(
    run_id: Any, index: int, told: lg.Segment, *, base: str, on_end: Callable[[], Any] | None = None
) -> AsyncIterator[bytes]:
    """What ``wait``/``join`` answer: the thread's values once the segment ends (with
    ``__interrupt__`` when it asks, ``__error__`` when it failed); newlines until then, which a
    JSON reader skips and which keep the connection open."""
    values: dict[str, Any] = {"messages": list(told.history)}
    failed: dict[str, Any] | None = None
    try:
        yield b""
        async for said in ui_events.follow_segment(run_id, index, base_url=base):
            if said is None:
                yield b"\n"
                continue
            if isinstance(said, ui_events.Broken):
                failed = lg.error_body(type(said.error).__name__, said.error.detail)
                break
            for one in said:
                for name, data in told.said(one):
                    if name == "values":
                        values = data
                    elif name == "error":
                        failed = data
    finally:
        if on_end is not None:  # (also when the client left)
            await db(on_end)
    yield json.dumps({"__error__": failed} if failed else values).encode()


def stream_response(
    request: Request, chat: Chat, segment: chat_selectors.Segment, modes: tuple[str, ...], **options: Any
) -> StreamingHttpResponse:
    told = story(chat, segment, modes)
    base = base_url(request)
    release_connection()
    response = sse.response(events(segment.turn.id, segment.index, told, base=base, **options))
    where = f"/threads/{chat.id}/runs/{segment.message.id}"
    response["Location"] = f"{where}/stream"
    response["Content-Location"] = where
    return response


def result_response(
    request: Request, chat: Chat, segment: chat_selectors.Segment, on_end: Callable[[], Any] | None = None
) -> StreamingHttpResponse:
    told = story(chat, segment, ("values",))
    base = base_url(request)
    release_connection()
    response = StreamingHttpResponse(
        result(segment.turn.id, segment.index, told, base=base, on_end=on_end),
        content_type="application/json",
    )
    where = f"/threads/{chat.id}/runs/{segment.message.id}"
    response["Location"] = f"{where}/join"
    response["Content-Location"] = where
    return response


def modes_of(value: Any) -> tuple[str, ...]:
    modes = lg.stream_modes(value)
    if modes is None:
        raise bad(f"'stream_mode' is one or more of {', '.join(sorted(lg.STREAM_MODES))}.")
    return modes


def query_modes(request: Request, segment: chat_selectors.Segment | None = None) -> tuple[str, ...]:
    """``stream_mode`` of a query: repeated (the SDKs) or a JSON list. None given: the modes the
    run was streamed in when it started, else every mode (``JOIN_MODES``)."""
    raw = [v for v in request.query_params.getlist("stream_mode") if v]
    if len(raw) == 1 and raw[0].startswith("["):
        try:
            return modes_of(json.loads(raw[0]))
        except ValueError:
            raise bad("'stream_mode' is a mode or a JSON list of modes.") from None
    if raw:
        return modes_of(raw)
    asked = (
        segment.turn.request.get("langgraph") if segment and isinstance(segment.turn.request, dict) else None
    )
    started = asked.get("stream_mode") if isinstance(asked, dict) else None
    return modes_of(started) if started else lg.JOIN_MODES


def _delete_later(chat_id: str) -> Callable[[], None]:
    """A stateless run's end: its thread is deleted (its turn cancelled first, if the client left
    before it ended)."""

    def delete() -> None:
        chat = chat_selectors.chat_find(chat_id=chat_id)
        if chat is not None:
            chat_services.chat_delete(chat=chat)

    return delete


# --- views ----------------------------------------------------------------------------------------


class LangGraphView(APIView):
    authentication_classes = [ApiKeyAuthentication, BearerAuthentication, SessionAuthentication]
    parser_classes = [parsers.JSONParser]  # LangGraph's clients send JSON; any other body is a 415
    schema = None  # LangGraph's own API reference documents these routes


class InfoView(LangGraphView):
    permission_classes: list[Any] = []
    authentication_classes: list[Any] = []

    def get(self, request: Request) -> Response:
        """What this server is (the SDKs' and UIs' first call)."""
        return Response(
            {"version": VERSION, "flags": {"assistants": True, "crons": False, "langsmith": False}}
        )


class AssistantSearchView(LangGraphView):
    def post(self, request: Request) -> Response:
        """Assistants (UAI's agents), by ``graph_id``/``name``."""
        body = _body(request)
        limit, offset = _limit(body.get("limit")), _offset(body.get("offset"))
        wanted = body.get("graph_id") or body.get("name")
        agents = [a for a in agent_selectors.agent_list() if not wanted or a.name == wanted]
        metadata = _object(body, "metadata")
        found = [assistant(a) for a in agents]
        found = [a for a in found if all(a["metadata"].get(k) == v for k, v in metadata.items())]
        return Response(found[offset : offset + limit])


class AssistantCountView(LangGraphView):
    def post(self, request: Request) -> Response:
        body = _body(request)
        wanted = body.get("graph_id") or body.get("name")
        return Response(sum(1 for a in agent_selectors.agent_list() if not wanted or a.name == wanted))


class AssistantView(LangGraphView):
    def get(self, request: Request, assistant_id: str) -> Response:
        return Response(assistant(agent_of(assistant_id)))


MESSAGES_SCHEMA = {
    "type": "object",
    "properties": {"messages": {"type": "array", "items": {"type": "object"}}},
}
OBJECT_SCHEMA = {"type": "object", "properties": {}}


def _generic_graph(agent: Agent) -> dict[str, Any]:
    """An agent without a graph of its own: a start, the agent and an end."""
    nodes = [
        {"id": "__start__", "type": "schema", "data": "__start__"},
        {"id": lg.NODE, "type": "runnable", "data": {"name": agent.name}},
        {"id": "__end__", "type": "schema", "data": "__end__"},
    ]
    edges = [{"source": "__start__", "target": lg.NODE}, {"source": lg.NODE, "target": "__end__"}]
    return {"nodes": nodes, "edges": edges}


class AssistantGraphView(LangGraphView):
    def get(self, request: Request, assistant_id: str) -> Response:
        """The assistant's graph: a LangGraph agent's own, else start → agent → end."""
        agent = agent_of(assistant_id)
        described = agent_selectors.agent_described(agent=agent)
        return Response(described["graph"] if described else _generic_graph(agent))


class AssistantSchemasView(LangGraphView):
    def get(self, request: Request, assistant_id: str) -> Response:
        """The assistant's schemas: a LangGraph agent's graph's own, else ``{messages}``."""
        agent = agent_of(assistant_id)
        described = agent_selectors.agent_described(agent=agent)
        schemas = (described or {}).get("schemas") or {}
        return Response(
            {
                "graph_id": agent.name,
                "input_schema": schemas.get("input_schema") or MESSAGES_SCHEMA,
                "output_schema": schemas.get("output_schema") or MESSAGES_SCHEMA,
                "state_schema": schemas.get("state_schema") or MESSAGES_SCHEMA,
                "config_schema": OBJECT_SCHEMA,
                "context_schema": schemas.get("context_schema") or OBJECT_SCHEMA,
            }
        )


class ThreadListView(LangGraphView):
    def post(self, request: Request) -> Response:
        """Make a thread (``thread_id``, ``metadata``, ``graph_id``, ``if_exists``: ``raise`` or
        ``do_nothing``)."""
        body = _body(request)
        metadata = _object(body, "metadata")
        thread_id, graph = body.get("thread_id"), body.get("graph_id")
        if_exists = body.get("if_exists") or "raise"
        if thread_id is not None and not isinstance(thread_id, str):
            raise bad("'thread_id' is a string.")
        if if_exists not in ("raise", "do_nothing"):
            raise bad("'if_exists' is raise or do_nothing.")
        if graph is not None:
            metadata = {**metadata, "graph_id": agent_of(graph).name}
        agent = agent_of(metadata["graph_id"]) if isinstance(metadata.get("graph_id"), str) else None
        try:
            chat = chat_services.chat_create(
                owner_id=user_id(request), agent=agent, chat_id=thread_id or _new_id(), metadata=metadata
            )
        except errors.Conflict:  # the id is taken: by this user's thread, or another's
            found = chat_selectors.chat_find(chat_id=str(thread_id))
            if found is None or found.owner_id != request.user.pk or if_exists != "do_nothing":
                raise errors.Conflict(f"Thread {thread_id!r} already exists.") from None
            chat = found
        return Response(thread(chat))


class ThreadSearchView(LangGraphView):
    def post(self, request: Request) -> Response:
        """The user's threads whose metadata holds ``metadata``, by ``status``, newest first."""
        body = _body(request)
        limit, offset = _limit(body.get("limit")), _offset(body.get("offset"))
        ids = body.get("ids")
        if ids is not None and not (isinstance(ids, list) and all(isinstance(i, str) for i in ids)):
            raise bad("'ids' is a list of thread ids.")
        status = body.get("status")
        if status is not None and status not in ("idle", "busy", "interrupted", "error"):
            raise bad("'status' is idle, busy, interrupted or error.")
        metadata = _object(body, "metadata")
        chats = chat_selectors.chat_search(
            user=request.user,
            metadata=metadata,
            ids=ids,
            limit=MAX_LIMIT if status else limit,
            offset=0 if status else offset,
        )
        found = threads(chats)
        if status:
            found = [t for t in found if t["status"] == status][offset : offset + limit]
        return Response(found)


class ThreadView(LangGraphView):
    def get(self, request: Request, thread_id: str) -> Response:
        return Response(thread(chat_of(request, thread_id)))

    def patch(self, request: Request, thread_id: str) -> Response:
        """Merge ``metadata`` into the thread's."""
        chat = chat_of(request, thread_id)
        metadata = _object(_body(request), "metadata")
        chat_services.chat_update(chat=chat, fields={"metadata": {**chat.metadata, **metadata}})
        return Response(thread(chat))

    def delete(self, request: Request, thread_id: str) -> HttpResponse:
        chat_services.chat_delete(chat=chat_of(request, thread_id))
        return HttpResponse(status=204)


def state_at(chat: Chat, checkpoint_id: Any) -> dict[str, Any]:
    """The thread's state at a checkpoint: UAI keeps only the current one (its id: the thread's
    last event number), so any other is not found."""
    if str(checkpoint_id) != str(chat.last_seq):
        raise errors.NotFound(
            f"Checkpoint {checkpoint_id!r} not found: UAI keeps a thread's current state only "
            f"(checkpoint {chat.last_seq})."
        )
    return state(chat)


class ThreadStateView(LangGraphView):
    def get(self, request: Request, thread_id: str) -> Response:
        return Response(state(chat_of(request, thread_id)))

    def post(self, request: Request, thread_id: str) -> Response:
        """Add ``values.messages`` to the thread (as the user's, the agent's or system messages);
        other values go into the chat's state."""
        chat = chat_of(request, thread_id)
        values = _object(_body(request), "values")
        messages = values.pop("messages", None) or []
        if isinstance(messages, dict):
            messages = [messages]
        if not isinstance(messages, list):
            raise bad("'values.messages' is a list of messages.")
        rows: list[tuple[str, str, str | None]] = []
        for message in messages:
            if not isinstance(message, dict):
                raise bad('\'values.messages\' holds messages: {"type" or "role", "content"}.')
            kind = message.get("type") or message.get("role")
            text = _content_text(message.get("content", ""))
            if kind in ("human", "user"):
                rows.append((Message.Role.USER, text, None))
            elif kind in ("ai", "assistant"):
                rows.append((Message.Role.AGENT, text, FINAL_ANSWER_STEP))
            elif kind == "system":
                rows.append((Message.Role.SYSTEM, text, None))
            else:
                raise bad(f"A message's type is human, ai or system, not {kind!r}.")
        with transaction.atomic():
            if rows:
                chat_services.messages_add(chat=chat, messages=rows)
            if values:
                chat_services.chat_update(chat=chat, fields={"state": {**chat.state, **values}})
        chat = chat_of(request, thread_id)  # (as the writes left it)
        return Response({"checkpoint": state(chat)["checkpoint"]})


class ThreadStateAtView(LangGraphView):
    def get(self, request: Request, thread_id: str, checkpoint_id: str) -> Response:
        """The thread's state at ``checkpoint_id`` (only its current one is kept)."""
        return Response(state_at(chat_of(request, thread_id), checkpoint_id))


class ThreadStateAtCheckpointView(LangGraphView):
    def post(self, request: Request, thread_id: str) -> Response:
        """The thread's state at ``checkpoint.checkpoint_id`` (only its current one is kept)."""
        checkpoint = _object(_body(request), "checkpoint")
        return Response(state_at(chat_of(request, thread_id), checkpoint.get("checkpoint_id")))


class ThreadHistoryView(LangGraphView):
    def get(self, request: Request, thread_id: str) -> Response:
        _limit(request.query_params.get("limit"))
        return Response([state(chat_of(request, thread_id))])

    def post(self, request: Request, thread_id: str) -> Response:
        _limit(_body(request).get("limit"))
        return Response([state(chat_of(request, thread_id))])


class RunListView(LangGraphView):
    def get(self, request: Request, thread_id: str) -> Response:
        """The thread's runs, newest first (``status``, ``limit``, ``offset``)."""
        chat = chat_of(request, thread_id)
        limit, offset = _limit(request.query_params.get("limit")), _offset(request.query_params.get("offset"))
        status = request.query_params.get("status")
        runs = [run_json(chat, s) for s in chat_selectors.chat_segments(chat=chat)]
        if status:
            runs = [r for r in runs if r["status"] == status]
        return Response(runs[offset : offset + limit])

    def post(self, request: Request, thread_id: str) -> Response:
        """Start a run in the background."""
        chat, segment = begin(request, thread_id, _body(request))
        response = Response(run_json(chat, segment))
        response["Content-Location"] = f"/threads/{chat.id}/runs/{segment.message.id}"
        return response


class RunStreamView(LangGraphView):
    def post(self, request: Request, thread_id: str | None = None) -> StreamingHttpResponse:
        """Start a run and stream it in the asked ``stream_mode``\\ s."""
        body = _body(request)
        modes = modes_of(body.get("stream_mode"))
        _on_disconnect(body)
        stateless = thread_id is None
        chat, segment = begin(request, thread_id, body, stateless=stateless, modes=modes)
        on_end = _delete_later(chat.id) if stateless and _on_completion(body) == "delete" else None
        return stream_response(
            request,
            chat,
            segment,
            modes,
            after=Cursor(None),
            cancel_on_disconnect=body.get("on_disconnect") == "cancel",
            on_end=on_end,
        )


def _on_completion(body: dict[str, Any]) -> str:
    value = body.get("on_completion") or "delete"
    if value not in ("delete", "keep"):
        raise bad("'on_completion' is delete or keep.")
    return str(value)


def _on_disconnect(body: dict[str, Any]) -> None:
    if body.get("on_disconnect") not in (None, "cancel", "continue"):
        raise bad("'on_disconnect' is cancel or continue.")


class RunWaitView(LangGraphView):
    def post(self, request: Request, thread_id: str | None = None) -> StreamingHttpResponse:
        """Start a run and answer the thread's values once it ends."""
        body = _body(request)
        stateless = thread_id is None
        chat, segment = begin(request, thread_id, body, stateless=stateless)
        on_end = _delete_later(chat.id) if stateless and _on_completion(body) == "delete" else None
        return result_response(request, chat, segment, on_end)


class RunView(LangGraphView):
    def get(self, request: Request, thread_id: str, run_id: str) -> Response:
        chat = chat_of(request, thread_id)
        return Response(run_json(chat, find_run(chat, run_id)))

    def delete(self, request: Request, thread_id: str, run_id: str) -> HttpResponse:
        chat = chat_of(request, thread_id)
        segment = find_run(chat, run_id)
        if not segment.latest:
            raise errors.Conflict("A turn's runs go together: delete its newest run, which deletes them all.")
        if not segment.turn.is_terminal:
            raise errors.Conflict("The run is still going: cancel it first.")
        run_services.run_delete(run=segment.turn)
        return HttpResponse(status=204)


class RunJoinView(LangGraphView):
    def get(self, request: Request, thread_id: str, run_id: str) -> StreamingHttpResponse:
        """The thread's values once the run ends."""
        chat = chat_of(request, thread_id)
        return result_response(request, chat, find_run(chat, run_id))


class RunJoinStreamView(LangGraphView):
    def get(self, request: Request, thread_id: str, run_id: str) -> StreamingHttpResponse:
        """A run's events again after ``Last-Event-ID`` (-1: all of them), then live ones."""
        after = Cursor(request.headers.get("Last-Event-ID") or request.query_params.get("last_event_id"))
        chat = chat_of(request, thread_id)
        segment = find_run(chat, run_id)
        cancel = request.query_params.get("cancel_on_disconnect", "").lower() in ("1", "true")
        cancel = cancel and segment.latest  # (an earlier segment's end is not the turn's)
        return stream_response(
            request, chat, segment, query_modes(request, segment), after=after, cancel_on_disconnect=cancel
        )


class ThreadStreamView(LangGraphView):
    def get(self, request: Request, thread_id: str) -> StreamingHttpResponse:
        """Follow a thread: every run's events from now on, or after ``Last-Event-ID`` (-1: from
        the thread's start)."""
        raw = request.headers.get("Last-Event-ID") or request.query_params.get("last_event_id")
        after = Cursor(raw)
        modes = query_modes(request) if request.query_params.getlist("stream_mode") else lg.JOIN_MODES
        chat = chat_of(request, thread_id)
        if raw == "-1":
            start: tuple[int, int | None] = (0, None)
        elif raw:
            start = (after.seq, after.part)
        else:
            start = (chat.last_seq, None)  # what is stored when the request came is past
        base = base_url(request)
        release_connection()
        return sse.response(thread_events(chat, modes, base=base, after=start))


class RunCancelView(LangGraphView):
    def post(self, request: Request, thread_id: str, run_id: str) -> HttpResponse:
        """Cancel a run (``action``: ``interrupt`` keeps what it did, ``rollback`` deletes its
        turn). The run is cancelled at once: ``wait=1`` answers as soon as without it. A run
        that ended is a 409, but for ``rollback`` of a turn's newest (which deletes it)."""
        action = request.query_params.get("action") or "interrupt"
        if action not in ("interrupt", "rollback"):
            raise bad("'action' is interrupt or rollback.")
        chat = chat_of(request, thread_id)
        segment = find_run(chat, run_id)
        run = segment.turn
        if action == "rollback" and chat_selectors.chat_latest_run(chat=chat) != run:
            raise errors.Conflict("Only the thread's newest turn can be rolled back.")
        if not segment.latest or (run.is_terminal and action == "interrupt"):
            status = lg.RUN_STATUS.get(run.status, run.status) if segment.latest else "success"
            raise errors.Conflict(f"Run already {status}.")
        with transaction.atomic():
            run_services.run_cancel_if_going(run_id=run.id)
            if action == "rollback":
                chat_services.roll_back(chat, [run.id])
        return HttpResponse(status=204)


def _id(pattern: str) -> str:
    return rf"(?P<{pattern}>[^/]+)"


THREAD = r"^threads/" + _id("thread_id")
RUN = THREAD + r"/runs/" + _id("run_id")

urlpatterns = [
    re_path(r"^info/?$", InfoView.as_view(), name="langgraph-info"),
    re_path(r"^assistants/search/?$", AssistantSearchView.as_view(), name="langgraph-assistant-search"),
    re_path(r"^assistants/count/?$", AssistantCountView.as_view(), name="langgraph-assistant-count"),
    re_path(
        r"^assistants/" + _id("assistant_id") + r"/?$", AssistantView.as_view(), name="langgraph-assistant"
    ),
    re_path(
        r"^assistants/" + _id("assistant_id") + r"/graph/?$",
        AssistantGraphView.as_view(),
        name="langgraph-assistant-graph",
    ),
    re_path(
        r"^assistants/" + _id("assistant_id") + r"/schemas/?$",
        AssistantSchemasView.as_view(),
        name="langgraph-assistant-schemas",
    ),
    re_path(r"^threads/?$", ThreadListView.as_view(), name="langgraph-threads"),
    re_path(r"^threads/search/?$", ThreadSearchView.as_view(), name="langgraph-thread-search"),
    re_path(r"^runs/stream/?$", RunStreamView.as_view(), name="langgraph-stateless-stream"),
    re_path(r"^runs/wait/?$", RunWaitView.as_view(), name="langgraph-stateless-wait"),
    re_path(THREAD + r"/?$", ThreadView.as_view(), name="langgraph-thread"),
    re_path(THREAD + r"/state/?$", ThreadStateView.as_view(), name="langgraph-thread-state"),
    re_path(
        THREAD + r"/state/checkpoint/?$",
        ThreadStateAtCheckpointView.as_view(),
        name="langgraph-thread-state-checkpoint",
    ),
    re_path(
        THREAD + r"/state/" + _id("checkpoint_id") + r"/?$",
        ThreadStateAtView.as_view(),
        name="langgraph-thread-state-at",
    ),
    re_path(THREAD + r"/stream/?$", ThreadStreamView.as_view(), name="langgraph-thread-stream"),
    re_path(THREAD + r"/history/?$", ThreadHistoryView.as_view(), name="langgraph-thread-history"),
    re_path(THREAD + r"/runs/?$", RunListView.as_view(), name="langgraph-runs"),
    re_path(THREAD + r"/runs/stream/?$", RunStreamView.as_view(), name="langgraph-run-stream"),
    re_path(THREAD + r"/runs/wait/?$", RunWaitView.as_view(), name="langgraph-run-wait"),
    re_path(RUN + r"/?$", RunView.as_view(), name="langgraph-run"),
    re_path(RUN + r"/join/?$", RunJoinView.as_view(), name="langgraph-run-join"),
    re_path(RUN + r"/stream/?$", RunJoinStreamView.as_view(), name="langgraph-run-join-stream"),
    re_path(RUN + r"/cancel/?$", RunCancelView.as_view(), name="langgraph-run-cancel"),
]
