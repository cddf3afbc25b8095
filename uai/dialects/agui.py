"""AG-UI (CopilotKit's protocol): ``POST /ag-ui/{agent}`` runs any UAI agent and streams AG-UI events.

A thread is a UAI chat: ``threadId`` names one of the user's chats, or a new one (created for the
user with the agent of the URL). An AG-UI run is one *segment* of a UAI turn run (``ui_events``):
the turn's start up to the agent's first question or its end, or, after the k-th question was
answered, from the answer to the next question or the end. Its events come from the one
translator, ``ui_events.UiEvents``: this module sends what a request asks (``agui_input`` reads
it) and streams the story in AG-UI's words (``agui_events``).

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
one the client sent for that run, of any turn of the thread): every event of the run after
``Last-Event-ID`` (header or ``?last_event_id=``; ``N`` or ``N:i``, see ``agui_events``), then
live ones, to the run's end: none lost, none repeated.

Which AG-UI run a segment is: the user message that started it (the turn's, or the answer that
went on with it) keeps the client's ``runId`` as its client message id.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from django.db import IntegrityError
from django.http import StreamingHttpResponse
from django.urls import re_path
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.views import APIView

from uai.agents import selectors as agent_selectors
from uai.agents.models import Agent
from uai.chats import selectors as chat_selectors
from uai.chats import services as chat_services
from uai.chats.models import Chat
from uai.dialects import agui_events, agui_input, sse, ui_events
from uai.runs import selectors as run_selectors
from uai.runs import services as run_services
from uai.runs.dbcall import db
from uai.runs.models import Run
from uai.runs.stream_events import EventType
from uai.runs.waiting import release_connection
from uai_project import errors, parsers
from uai_project.api import base_url, user_id
from uai_project.schema import errors as error_responses

CHAT_NAME_CHARS = 80  # a new thread's chat is named after the start of its first message


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
        raise agui_input.bad(
            f"Thread {thread_id!r} is a chat with agent {chat.agent_id!r}, not {agent.name!r}."
        )
    return chat


def start(*, owner_id: int, agent: Agent, asked: agui_input.Asked) -> Run:
    """A new thread: its chat (with the client's state) and first turn, committed together."""
    if asked.answers:
        raise errors.NotFound("Thread not found: there is nothing in it to answer.")
    try:
        _, run, _ = chat_services.chat_start(
            owner_id=owner_id,
            agent=agent,
            chat_id=asked.thread_id,
            name=" ".join(asked.text.split())[:CHAT_NAME_CHARS],
            text=asked.text,
            files=asked.files,
            before=asked.before,
            request=asked.echo(),
            state=asked.state or None,
            client_message_id=asked.run_id,
        )
    except IntegrityError:  # another request started this thread a moment ago
        raise errors.Conflict(f"Thread {asked.thread_id!r} was just started by another request.") from None
    return run


def send(*, chat: Chat, asked: agui_input.Asked) -> Run | None:
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
    refused = agui_input.bad(f"No interrupt of this thread waits under id {raw!r}.")
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
        asked = run_selectors.run_last_question(run_id=run.id)
        tool_call = (
            asked["data"].get("tool_call") if asked and asked["type"] == EventType.INPUT_REQUIRED else None
        )
        if isinstance(tool_call, dict) and tool_call.get("id") == call_id:
            return run
    raise agui_input.bad(f"No tool call of this thread waits for a result under id {call_id!r}.")


def segment_of(run: Run) -> int:
    """The segment the run's latest user message started (its k-th answer starts segment k)."""
    return len(chat_selectors.run_user_messages(run_id=run.id)) - 1


def find_segment(chat: Chat, agui_run_id: str) -> tuple[Run, int]:
    """The UAI run and segment that the client's run ``agui_run_id`` of the thread was (the user
    message that started it keeps that id); 404 when none was."""
    found = chat_selectors.turn_of_client_message(chat=chat, client_message_id=agui_run_id)
    if found is None:
        raise errors.NotFound("Run not found.")
    return found


# --- the stream -----------------------------------------------------------------------------------


async def run_stream(
    run_id: Any,
    segment: int,
    head: agui_events.Head,
    *,
    base: str,
    after: agui_events.Cursor,
    cancel_on_disconnect: bool = False,
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
                yield agui_events.frame(None, agui_events.run_error(told.error))
                return
            seq = told[0].seq  # (one UAI event's: all the same)
            events = [event for one in told for event in agui_events.said(one, head)]
            ended = ended or any(e["type"] in agui_events.ENDS for e in events)
            skip = after.part + 1 if after.part is not None and seq == after.seq else 0
            for event_id, event in list(agui_events.numbered(seq, events))[skip:]:
                yield agui_events.frame(event_id, event)
    finally:
        if not ended and cancel_on_disconnect:
            await db(run_services.run_cancel_if_going, run_id=run_id)


async def cancelled_events(head: agui_events.Head) -> AsyncIterator[bytes]:
    """A run whose ``resume`` cancelled the interrupted UAI run: started, and ended so."""
    yield agui_events.frame(None, agui_events.said(ui_events.RunStart(0, "", None), head)[0])
    yield agui_events.frame(None, agui_events.finished(head, {"type": "cancelled"}))


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


class AgentRunView(APIView):
    parser_classes = [parsers.JSONParser]  # AG-UI's clients send JSON; any other body is a 415

    @extend_schema(
        request=RunAgentInputIn,
        responses={
            (200, "text/event-stream"): agui_events.AGUI_SSE,
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
        asked = agui_input.parse_run_input(request.data)
        found = agent_of(agent)
        chat = thread_of(request.user, asked.thread_id, found)
        if chat is None:
            run: Run | None = start(owner_id=user_id(request), agent=found, asked=asked)
        else:
            run = send(chat=chat, asked=asked)
        head = agui_events.Head(thread_id=asked.thread_id, run_id=asked.run_id)
        if run is None:
            return sse.response(cancelled_events(head))
        segment = segment_of(run)
        base = base_url(request)
        release_connection()  # the stream must not hold this request's connection
        return sse.response(
            run_stream(
                run.id,
                segment,
                head,
                base=base,
                after=agui_events.Cursor(),
                cancel_on_disconnect=asked.cancel_on_disconnect,
            )
        )


class RunEventsView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "Last-Event-ID", str, OpenApiParameter.HEADER, pattern=agui_events.EVENT_ID["pattern"]
            ),
            OpenApiParameter("last_event_id", str, pattern=agui_events.EVENT_ID["pattern"]),
        ],
        responses={
            (200, "text/event-stream"): agui_events.AGUI_SSE,
            **error_responses({404: "No such agent, thread of this user's, or run of it."}),
        },
        tags=["ag-ui"],
        operation_id="agui_run_events",
    )
    def get(self, request: Request, agent: str, thread_id: str, run_id: str) -> StreamingHttpResponse:
        """A run's AG-UI events again, after ``Last-Event-ID``, then live ones, to its end."""
        after = agui_events.parse_cursor(
            request.headers.get("Last-Event-ID") or request.query_params.get("last_event_id")
        )
        chat = thread_of(request.user, thread_id, agent_of(agent))
        if chat is None:
            raise errors.NotFound("Thread not found.")
        run, segment = find_segment(chat, run_id)
        base = base_url(request)
        release_connection()
        return sse.response(
            run_stream(run.id, segment, agui_events.Head(thread_id, run_id), base=base, after=after)
        )


urlpatterns = [
    re_path(r"^(?P<agent>[^/]+)/?$", AgentRunView.as_view(), name="agui-run"),
    re_path(
        r"^(?P<agent>[^/]+)/(?P<thread_id>[^/]+)/runs/(?P<run_id>[^/]+)/events/?$",
        RunEventsView.as_view(),
        name="agui-run-events",
    ),
]
