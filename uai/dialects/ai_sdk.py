"""The AI SDK's UI message stream (``useChat``): ``POST /ai-sdk/{agent}``, resume and stop.

What ``DefaultChatTransport`` sends and reads, over a UAI chat of the signed-in user:

- ``POST /ai-sdk/{agent}`` — ``{id, messages, trigger, messageId}``: ``id`` is a UAI chat id (a
  new one becomes the user's chat with ``agent``; another user's is not found). The last
  message is the turn: a user's message (its text parts, its ``data:`` URL file parts as
  uploads), or the assistant message whose tool part answers the agent's question (its
  ``addToolOutput``). An optional ``tools`` lists the front end's tools (``name``,
  ``description``, ``parameters``) for the agents that take them. The answer is the turn's UI
  message stream (``ai_sdk_parts``) with ``x-vercel-ai-ui-message-stream: v1``, ``[DONE]`` last.
- ``GET /ai-sdk/{agent}/{chatId}/stream`` — the chat's active turn (its last run, while it
  goes or waits for an answer) replayed from its first part and followed live: the
  transport rebuilds the message from a resumed stream's start, and UAI's numbered events make
  the replay exact. 204 when no turn is active (or the chat is not there yet).
- ``POST /ai-sdk/{agent}/{chatId}/stop`` — cancels the active turn: its streams end with
  ``abort`` within moments. (``useChat``'s ``stop()`` only drops the connection: the run goes on
  and can be resumed.)

A request refused before its stream starts answers ``{"detail": …}`` with a 4xx; a stream
that cannot go on ends with an ``error`` part and ``[DONE]``.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import mimetypes
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile, UploadedFile
from django.db import IntegrityError
from django.http import StreamingHttpResponse
from django.urls import re_path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from uai.agents import selectors as agent_selectors
from uai.agents.models import Agent
from uai.chats import selectors as chat_selectors
from uai.chats import services as chat_services
from uai.chats.models import Chat
from uai.dialects import sse, ui_events
from uai.dialects.ai_sdk_parts import RunParts, message_id, waiting_call
from uai.runs import selectors as run_selectors
from uai.runs.models import Run
from uai.runs.stream_events import EventType
from uai.runs.waiting import release_connection
from uai_project import errors
from uai_project.api import base_url, user_id
from uai_project.schema import errors as schema_errors

logger = logging.getLogger(__name__)

HEADER = "x-vercel-ai-ui-message-stream"  # what tells the transport this is a UI message stream
VERSION = "v1"
DONE = b"data: [DONE]\n\n"
TRIGGERS = ("submit-message", "regenerate-message")
CHAT_NAME_CHARS = 60  # a new chat is named after the start of its first message
ROLES = {"user": "user", "assistant": "agent", "system": "system"}
ANSWERED = ("output-available", "output-error")  # a tool part's states that carry its result
DATA_URL = re.compile(r"^data:(?P<media>[^;,]*)(?P<params>(;[^;,]*)*),(?P<data>.*)$", re.DOTALL)


# --- the request -----------------------------------------------------------------------------------


@dataclass
class Asked:
    """A chat request, checked: the chat, and the turn it sends or the answers it gives."""

    chat_id: str
    text: str = ""
    files: list[UploadedFile] = field(default_factory=list)
    before: list[tuple[str, str]] = field(default_factory=list)
    answers: dict[str, str] | None = None  # tool call id → output: the last message is a tool's
    tools: list[dict[str, Any]] = field(default_factory=list)
    message_id: str = ""  # the user message's id in the front end (its client message id here)


def _texts(parts: list[Any]) -> str:
    """A message's text: its text parts (what else it has, the agent does not read)."""
    texts = [part.get("text") for part in parts if isinstance(part, dict) and part.get("type") == "text"]
    return "\n".join(t for t in texts if isinstance(t, str))


def _upload(part: dict[str, Any], number: int) -> UploadedFile:
    """A file part of the user's message, as the upload the agent gets."""
    matched = DATA_URL.match(part.get("url") or "") if isinstance(part.get("url"), str) else None
    if matched is None or ";base64" not in matched["params"]:
        raise errors.InvalidInput(
            "A file part's 'url' must be a base64 data: URL (other URLs are not fetched)."
        )
    try:
        content = base64.b64decode(matched["data"], validate=True)
    except (binascii.Error, ValueError):
        raise errors.InvalidInput("A file part's data: URL is not valid base64.") from None
    media = part.get("mediaType") if isinstance(part.get("mediaType"), str) else None
    media = media or matched["media"] or "application/octet-stream"
    filename = part.get("filename")
    name = filename if isinstance(filename, str) and filename else f"file-{number}"
    if "." not in name:
        name += mimetypes.guess_extension(media) or ""
    return SimpleUploadedFile(name, content, content_type=media)


def _output_text(part: dict[str, Any]) -> str:
    """A tool part's result as the text the agent is answered with (JSON unless it is text)."""
    if part.get("state") == "output-error":
        return str(part.get("errorText") or "The tool failed.")
    output = part.get("output")
    return output if isinstance(output, str) else json.dumps(output)


def _answers(message: dict[str, Any]) -> dict[str, str]:
    """The results in an assistant message's tool parts the front end gave (by tool call id)."""
    found: dict[str, str] = {}
    for part in message["parts"]:
        kind = part.get("type") if isinstance(part, dict) else None
        if not isinstance(kind, str) or not (kind.startswith("tool-") or kind == "dynamic-tool"):
            continue
        if part.get("providerExecuted") or part.get("state") not in ANSWERED:
            continue  # the agent's own tools, run by UAI; calls not answered
        if isinstance(part.get("toolCallId"), str):
            found[part["toolCallId"]] = _output_text(part)
    return found


def _tools(value: Any) -> list[dict[str, Any]]:
    """The front end's tools: ``[{name, description, parameters}]``, or ``{name: {description,
    inputSchema|parameters}}`` as the AI SDK writes a tool set (``ui_events.offered_tools``)."""
    if isinstance(value, dict):
        value = [
            {"name": name, **spec, "parameters": spec.get("parameters", spec.get("inputSchema"))}
            if isinstance(spec, dict)
            else {"name": name}
            for name, spec in value.items()
        ]
    return ui_events.offered_tools(value)


def _messages(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise errors.InvalidInput("'messages' is a non-empty list of UI messages.")
    for index, message in enumerate(value):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise errors.InvalidInput(
                f"messages[{index}] is not a UI message (role user, assistant or system)."
            )
        if not isinstance(message.get("parts"), list):
            raise errors.InvalidInput(f"messages[{index}] has no 'parts' list.")
    return value


def parse_request(body: Any) -> Asked:
    """A ``POST /ai-sdk/{agent}`` body as ``DefaultChatTransport`` sends it, checked (400)."""
    if not isinstance(body, dict):
        raise errors.InvalidInput("The request body must be a JSON object.")
    chat_id = body.get("id")
    if not isinstance(chat_id, str) or not chat_id:
        raise errors.InvalidInput("'id' (the chat's id) is required.")
    trigger = body.get("trigger") or "submit-message"
    if trigger not in TRIGGERS:
        raise errors.InvalidInput(f"'trigger' is one of {', '.join(TRIGGERS)}.")
    messages = _messages(body.get("messages"))
    # A regenerated answer is a new turn on the same text (UAI keeps every turn).
    asked = Asked(chat_id=chat_id, tools=_tools(body.get("tools")))
    last = messages[-1]
    if last["role"] == "assistant":
        asked.answers = _answers(last)
        if not asked.answers:
            raise errors.InvalidInput(
                "The last message is the user's, or an assistant message with a tool's output"
                " that answers the agent."
            )
        return asked
    if last["role"] != "user":
        raise errors.InvalidInput("The last message must be the user's.")
    asked.text = _texts(last["parts"])
    asked.message_id = str(last.get("id") or "")[:200]
    files = [part for part in last["parts"] if isinstance(part, dict) and part.get("type") == "file"]
    asked.files = [_upload(part, number) for number, part in enumerate(files, 1)]
    if not asked.text and not asked.files:
        raise errors.InvalidInput("The last message has no text and no file.")
    # Earlier messages count by their text: a new chat's past, which the agent is shown.
    asked.before = [(ROLES[m["role"]], _texts(m["parts"])) for m in messages[:-1] if _texts(m["parts"])]
    return asked


# --- the turn --------------------------------------------------------------------------------------


def _agent(name: str) -> Agent:
    try:
        return agent_selectors.agent_get(name=name)  # (enabled ones only)
    except errors.InvalidInput:
        raise errors.NotFound(f"Agent {name!r} not found.") from None


def _request(asked: Asked) -> dict[str, Any] | None:
    """What a new turn stores in ``Run.request``: the front end's tools."""
    return {"tools": asked.tools} if asked.tools else None


def _new_chat(request: Request, agent: Agent, asked: Asked) -> Run:
    """A new chat of the user's, with its first turn (committed together)."""
    if asked.answers is not None:
        raise errors.NotFound("Chat not found (a tool's output answers a chat's question).")
    chat_services.validate_chat_id(asked.chat_id)
    if asked.files and not agent.accepts_files:  # (before a chat is made for nothing)
        raise errors.InvalidInput(f"Agent {agent.name!r} does not take files.")
    try:
        _, run, _ = chat_services.chat_start(
            owner_id=user_id(request),
            agent=agent,
            chat_id=asked.chat_id,
            name=(asked.text or asked.files[0].name or "")[:CHAT_NAME_CHARS],
            text=asked.text,
            files=asked.files,
            before=asked.before,
            request=_request(asked),
            client_message_id=asked.message_id,
        )
    except IntegrityError:  # another request made that chat a moment ago
        raise errors.Conflict(f"Chat {asked.chat_id!r} already exists.") from None
    return run


def pending_question(run: Run) -> ui_events.Interrupt | None:
    """The question a waiting run asked last (None if there is none)."""
    asked = run_selectors.run_last_question(run_id=run.id)
    if asked is None or asked["type"] != EventType.INPUT_REQUIRED:
        return None
    question = len(chat_selectors.run_user_messages(run_id=run.id))  # (asked after its k-th)
    data = asked["data"]
    return ui_events.interrupt_of(
        run.id, question, seq=asked["seq"], prompt=data["prompt"], tool_call=data.get("tool_call")
    )


def _answer(chat: Chat, answers: dict[str, str]) -> Run:
    """A tool's output that answers the question the chat's turn waits on: the run goes on."""
    waiting = chat_selectors.chat_latest_run(chat=chat)
    if waiting is None or waiting.status != Run.Status.INPUT_REQUIRED:
        raise errors.Conflict("No question of the agent waits for an answer in this chat.")
    question = pending_question(waiting)
    call = waiting_call(question)[0] if question is not None else None
    if call is None or call not in answers:
        raise errors.InvalidInput(f"No output for the tool call the agent waits on ({call}).")
    run, _ = chat_services.chat_send(chat=chat, text=answers[call], answering=waiting)
    return run


def send(request: Request, agent_name: str, asked: Asked) -> tuple[Run, int, str]:
    """Start the turn (or give the answer): the run, the segment of it that the stream tells
    (``ui_events``), and the id of the message it writes."""
    agent = _agent(agent_name)
    chat = chat_selectors.chat_find(chat_id=asked.chat_id)
    if chat is None:
        run = _new_chat(request, agent, asked)
        return run, 0, message_id(run.id)
    if chat.owner_id != user_id(request):
        raise errors.NotFound("Chat not found.")
    if chat.agent_id != agent.name:
        raise errors.InvalidInput(f"This chat's agent is {chat.agent_id!r}, not {agent.name!r}.")
    if asked.answers is not None:
        run = _answer(chat, asked.answers)
        segment = len(chat_selectors.run_user_messages(run_id=run.id)) - 1
        # The answer continues the message that asked (the client added the output to it).
        return run, segment, message_id(run.id)
    run, _ = chat_services.chat_send(
        chat=chat,
        text=asked.text,
        files=asked.files,
        request=_request(asked),
        client_message_id=asked.message_id,
    )
    # The answer to the segment-th question is the run's (segment+1)-th user message. A user's
    # message answers a waiting question too (chat_send): the rest of that run is then a
    # message of its own, after the user's.
    segment = len(chat_selectors.run_user_messages(run_id=run.id)) - 1
    return run, segment, message_id(run.id, segment)


# --- the stream ----------------------------------------------------------------------------------


def _part(part: dict[str, Any]) -> bytes:
    return sse.encode(None, part)


async def ui_message_stream(
    run_id: uuid.UUID, *, first: int, last: int, message: str, base: str
) -> AsyncIterator[bytes]:
    """The parts of the run's segments ``first`` to ``last`` (``ai_sdk_parts``), from the run's
    first event (stored, then live) to the last segment's end; ``[DONE]`` last."""
    parts = RunParts(run_id, first=first, last=last, message_id=message, base_url=base)
    async for told in ui_events.follow_told(run_id, parts.feed, lambda: parts.done):
        if told is None:
            yield sse.KEEPALIVE
        elif isinstance(told, ui_events.Broken):
            yield _part({"type": "error", "errorText": told.error.detail})
        else:
            for part in told:
                yield _part(part)
    yield DONE


def stream_response(stream: AsyncIterator[bytes]) -> StreamingHttpResponse:
    """The UI message stream's response (released from this request's database connection)."""
    release_connection()  # the stream must not hold this request's connection
    response = sse.response(stream)
    response[HEADER] = VERSION
    return response


# --- views ---------------------------------------------------------------------------------------


STREAM = OpenApiResponse(
    OpenApiTypes.STR,
    description="The UI message stream: `data: {part}` events, `data: [DONE]` last"
    " (header `x-vercel-ai-ui-message-stream: v1`).",
)


class StopOut(serializers.Serializer[Any]):
    chatId = serializers.CharField()
    runId = serializers.UUIDField(allow_null=True, help_text="The chat's last turn (null before its first).")
    stopped = serializers.BooleanField(help_text="Whether a turn was going and was cancelled.")


class ChatView(APIView):
    @extend_schema(
        request=OpenApiTypes.OBJECT,
        responses={
            (200, "text/event-stream"): STREAM,
            **schema_errors(
                {
                    404: "No such agent, or the chat is another user's.",
                    409: "A tool's output was sent, but no question of the agent waits.",
                }
            ),
        },
    )
    def post(self, request: Request, agent: str) -> StreamingHttpResponse:
        """A turn of the chat ``id`` (made for the user with ``agent`` if new), or the answer to
        its agent's question: the turn's UI message stream."""
        run, segment, message = send(request, agent, parse_request(request.data))
        stream = ui_message_stream(
            run.id, first=segment, last=segment, message=message, base=base_url(request)
        )
        return stream_response(stream)


class ResumeView(APIView):
    @extend_schema(
        responses={
            (200, "text/event-stream"): STREAM,
            204: OpenApiResponse(description="No turn of the chat is active (or there is no such chat yet)."),
            **schema_errors({404: "The chat is another user's."}),
        }
    )
    def get(self, request: Request, agent: str, chat_id: str) -> Response | StreamingHttpResponse:
        """The chat's active turn from its start, then live; 204 when none is active."""
        chat = chat_selectors.chat_find(chat_id=chat_id)
        if chat is None:  # a chat id the front end made that has had no turn yet
            return Response(status=204)
        if chat.owner_id != user_id(request):
            raise errors.NotFound("Chat not found.")
        run = chat_selectors.chat_latest_run(chat=chat)
        if run is None or run.status not in Run.ACTIVE:
            return Response(status=204)
        last = len(chat_selectors.run_user_messages(run_id=run.id)) - 1
        stream = ui_message_stream(
            run.id, first=0, last=last, message=message_id(run.id), base=base_url(request)
        )
        return stream_response(stream)


class StopView(APIView):
    @extend_schema(
        request=None, responses={200: StopOut, **schema_errors({404: "No such chat of the user's."})}
    )
    def post(self, request: Request, agent: str, chat_id: str) -> Response:
        """Cancel the chat's active turn (its streams end with ``abort``)."""
        chat = chat_selectors.chat_get(user=request.user, chat_id=chat_id)
        run = chat_selectors.chat_latest_run(chat=chat)
        stopped = run is not None and run.status in Run.ACTIVE
        chat_services.chat_stop(chat=chat)  # as every surface stops a chat: its active runs cancelled
        return Response({"chatId": chat.id, "runId": str(run.id) if run else None, "stopped": stopped})


AGENT = r"^(?P<agent>[^/]+)"
CHAT = AGENT + r"/(?P<chat_id>[^/]+)"
urlpatterns = [
    re_path(AGENT + r"/?$", ChatView.as_view(), name="ai-sdk-chat"),
    re_path(CHAT + r"/stream/?$", ResumeView.as_view(), name="ai-sdk-stream"),
    re_path(CHAT + r"/stop/?$", StopView.as_view(), name="ai-sdk-stop"),
]
